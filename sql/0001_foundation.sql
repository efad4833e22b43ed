-- Foundation: tenants, API keys, purposes (versioned), subjects, identifiers and the ledger.
-- Every tenant-owned table leads its primary key with tenant_id, so the schema
-- distributes by tenant (docs/operations.md) and no query crosses tenants.
SET lock_timeout = '10s';

-- Facts about the installation itself (e.g. the pepper fingerprint).
CREATE TABLE service_meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE tenants (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Per-tenant counters, taken under the row lock so their order is commit order.
CREATE TABLE tenant_counters (
    tenant_id        uuid PRIMARY KEY REFERENCES tenants (id),
    suppression_seq  bigint NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    key_hash    bytea NOT NULL,
    scope       text NOT NULL CHECK (scope IN ('check', 'record', 'admin')),
    label       text CHECK (length(label) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_by_hash ON api_keys (key_hash);
CREATE UNIQUE INDEX api_keys_by_id ON api_keys (id);

CREATE TABLE purposes (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    key         text NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    version     integer NOT NULL CHECK (version > 0),
    config      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

-- Every configuration a purpose ever had: consent proofs name a notice version,
-- and a regulator may ask what the purpose said on a given day.
CREATE TABLE purpose_versions (
    tenant_id   uuid NOT NULL,
    key         text NOT NULL,
    version     integer NOT NULL,
    config      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key, version),
    FOREIGN KEY (tenant_id, key) REFERENCES purposes (tenant_id, key)
);

CREATE TABLE subjects (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    kind        text NOT NULL DEFAULT 'consumer'
                CHECK (kind IN ('consumer', 'sole_trader', 'business_contact')),
    -- msgpack of consent_svc.domain.facts.Facts: the ledger folded, kept current
    -- in the transaction that appends each event; always rebuildable from events.
    facts       bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- Look-up by keyed hash (HMAC-SHA256 with the pepper). The plaintext value is
-- held only while there is a reason to hold it.
CREATE TABLE subject_identifiers (
    tenant_id   uuid NOT NULL,
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    subject_id  uuid NOT NULL,
    type        text NOT NULL CHECK (type IN ('email', 'phone', 'external_id')),
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, hash),
    UNIQUE (tenant_id, subject_id, type),
    FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects (tenant_id, id)
        DEFERRABLE INITIALLY DEFERRED
);

-- The ledger: append-only (see the trigger below).
CREATE TABLE events (
    tenant_id        uuid NOT NULL,
    id               uuid NOT NULL,
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    subject_id       uuid NOT NULL,
    type             text NOT NULL CHECK (type IN (
                        'consent_given', 'consent_withdrawn', 'objection', 'purchase',
                        'customer_started', 'customer_ended', 'event_attended',
                        'lead_activity', 'prospect_declined', 'restriction_started',
                        'restriction_lifted')),
    purpose          text,
    channels         text[] NOT NULL DEFAULT '{}',
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    source           text NOT NULL,
    proof            jsonb NOT NULL DEFAULT '{}',
    idempotency_key  text CHECK (length(idempotency_key) <= 200),
    fingerprint      bytea,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects (tenant_id, id)
);
CREATE UNIQUE INDEX events_by_idempotency_key ON events (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_by_subject ON events (tenant_id, subject_id, seq);
CREATE INDEX events_by_seq ON events (tenant_id, seq);

-- Append-only: no UPDATE, DELETE or TRUNCATE, unless a transaction that
-- carries out an erasure or the retention sweep says so with
-- SET LOCAL consent.ledger_rewrite = 'on'.
CREATE FUNCTION consent_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('consent.ledger_rewrite', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the consent ledger is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_append_only();
