-- Tamper evidence: each tenant's ledger is a hash chain, sealed shortly after
-- the events are written (docs/adr/0005). Erasure replaces an event's content
-- by its digest, so the chain still verifies and the event rows can outlive
-- the subject row.
SET lock_timeout = '10s';

ALTER TABLE events DROP CONSTRAINT events_tenant_id_subject_id_fkey;
ALTER TABLE events
    ADD COLUMN chain_pos      bigint,
    ADD COLUMN chain_hash     bytea,
    ADD COLUMN erased_digest  bytea;
CREATE UNIQUE INDEX events_by_chain ON events (tenant_id, chain_pos) WHERE chain_pos IS NOT NULL;
CREATE INDEX events_unsealed ON events (tenant_id, seq) WHERE chain_pos IS NULL;

CREATE TABLE ledger_heads (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
    pos        bigint NOT NULL DEFAULT 0,
    hash       bytea NOT NULL,
    sealed_at  timestamptz
);

-- Append-only, except: sealing (setting the chain columns of an unsealed row,
-- nothing else), and rewrites under SET LOCAL consent.ledger_rewrite = 'on'
-- (erasure and the retention sweep).
CREATE OR REPLACE FUNCTION consent_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('consent.ledger_rewrite', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.chain_pos IS NULL AND NEW.chain_pos IS NOT NULL
       AND NEW.id = OLD.id AND NEW.subject_id = OLD.subject_id AND NEW.type = OLD.type
       AND NEW.purpose IS NOT DISTINCT FROM OLD.purpose AND NEW.channels = OLD.channels
       AND NEW.occurred_at = OLD.occurred_at AND NEW.recorded_at = OLD.recorded_at
       AND NEW.source = OLD.source AND NEW.proof = OLD.proof
       AND NEW.idempotency_key IS NOT DISTINCT FROM OLD.idempotency_key
       AND NEW.fingerprint IS NOT DISTINCT FROM OLD.fingerprint
       AND NEW.erased_digest IS NOT DISTINCT FROM OLD.erased_digest THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the consent ledger is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Erased events now keep their place in the chain with their content replaced.
ALTER TABLE erasures RENAME COLUMN events_removed TO events_erased;
