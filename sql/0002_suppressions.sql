-- The suppression list (spärrlista): keyed by the identifier's keyed hash, so an
-- entry made for an address nobody has recorded yet still blocks it later, and
-- kept as a keyed hash after erasure. Entries are never deleted: a lift is
-- recorded on the row, and adding the same identifier again makes a new row.
SET lock_timeout = '10s';

CREATE TABLE suppressions (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    ident_hash   bytea NOT NULL CHECK (length(ident_hash) = 32),
    ident_type   text NOT NULL CHECK (ident_type IN ('email', 'phone')),
    -- Plaintext and unkeyed SHA-256 (the exchange format): held while the
    -- person is not erased, for syncing into email providers.
    value        text,
    sha256       bytea,
    scope        text NOT NULL,          -- 'all' or a purpose key
    channel      text CHECK (channel IN ('email', 'sms', 'phone', 'post')),
    reason       text NOT NULL CHECK (reason IN (
                    'unsubscribe', 'objection', 'complaint', 'hard_bounce',
                    'erasure', 'register', 'manual')),
    source       text CHECK (length(source) <= 100),
    note         text CHECK (length(note) <= 1000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    lifted_at    timestamptz,
    lift_reason  text CHECK (length(lift_reason) <= 1000),
    -- Export cursor: a per-tenant counter taken under a row lock, so its order
    -- is commit order and a reader never skips a change still in flight.
    change_seq   bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX suppressions_one_active
    ON suppressions (tenant_id, ident_hash, scope, coalesce(channel, '*'))
    WHERE lifted_at IS NULL;
CREATE INDEX suppressions_active_by_hash ON suppressions (tenant_id, ident_hash)
    WHERE lifted_at IS NULL;
CREATE UNIQUE INDEX suppressions_by_change ON suppressions (tenant_id, change_seq);
