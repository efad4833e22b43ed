-- One active entry per (identifier, scope, channel, reason) instead of per
-- (identifier, scope, channel): a complaint or a bounce for an address that is
-- already unsubscribed must stand on its own, so that re-subscribing (which
-- lifts only `unsubscribe` entries) can never lift it. docs/adr/0004.
SET lock_timeout = '10s';

DROP INDEX suppressions_one_active;
CREATE UNIQUE INDEX suppressions_one_active
    ON suppressions (tenant_id, ident_hash, scope, coalesce(channel, '*'), reason)
    WHERE lifted_at IS NULL;
