-- Email and SMS providers (issue 16): integrations, the feedback they send in
-- (idempotent by the provider's event id, kept as provenance), Mailgun replay
-- tokens, and an outbox of suppression changes to push out to them.
SET lock_timeout = '10s';

CREATE TABLE integrations (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    id                 uuid NOT NULL,
    provider           text NOT NULL CHECK (provider IN ('ses', 'sendgrid', 'postmark', 'mailgun', 'twilio')),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The settings as they may be shown (topic ARNs, region, domain, api_base_url ...): a
    -- secret field that is set reads "***" here.
    settings           jsonb NOT NULL,
    -- The secret fields (API keys, signing keys, auth tokens) as JSON, sealed with
    -- AES-256-GCM under CONSENT_ENCRYPTION_KEYS and bound to (tenant_id, id).
    -- NULL once the integration is deleted: nothing keeps a dead API key.
    sealed_secrets     bytea,
    purposes           jsonb NOT NULL DEFAULT '{}',   -- provider group / stream / list id -> purpose key
    sync_suppressions  boolean NOT NULL DEFAULT false,
    -- Suppressions out: when the integration's queue may next be worked on. A worker's
    -- claim pushes it to the end of its lease (and fences its outcome with it); a
    -- retryable failure pushes it to the next retry.
    sync_due_at        timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz,
    PRIMARY KEY (tenant_id, id)
);
-- `POST /in/{id}` and `consent-svc integrations sync --id` name an integration by its id alone
-- (a UUIDv7; not a unique index, which could not be enforced per shard: docs/operations.md).
CREATE INDEX integrations_by_id ON integrations (id);
CREATE INDEX integrations_syncing ON integrations (sync_due_at)
    WHERE sync_suppressions AND deleted_at IS NULL;

-- Every provider event received with a consent effect, once: the primary key is the
-- idempotency of the provider's event id (SNS MessageId, sg_event_id, Mailgun event id,
-- Postmark MessageID + type, Twilio MessageSid). It holds no address: the proof is the
-- provider, its event id and time, and the SHA-256 of the raw payload.
CREATE TABLE integration_feedback (
    tenant_id        uuid NOT NULL,
    integration_id   uuid NOT NULL,
    event_id         text NOT NULL CHECK (length(event_id) <= 500),
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    kind             text NOT NULL CHECK (kind IN ('hard_bounce', 'soft_bounce', 'complaint', 'unsubscribe',
                                                   'resubscribe', 'sms_stop', 'sms_start')),
    provider_event   text NOT NULL CHECK (length(provider_event) <= 200),
    provider_group   text CHECK (length(provider_group) <= 300),
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    payload_sha256   text NOT NULL CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
    outcome          text CHECK (length(outcome) <= 1000),
    suppression_ids  uuid[] NOT NULL DEFAULT '{}',   -- entries added (or found already there)
    lifted_ids       uuid[] NOT NULL DEFAULT '{}',
    event_ids        uuid[] NOT NULL DEFAULT '{}',   -- ledger events recorded
    PRIMARY KEY (tenant_id, integration_id, event_id),
    FOREIGN KEY (tenant_id, integration_id) REFERENCES integrations (tenant_id, id)
);
CREATE INDEX integration_feedback_log ON integration_feedback (tenant_id, integration_id, seq);

-- Mailgun signs only timestamp + token, not the event: each token is good for one
-- payload. Kept for a little longer than the 5 minutes a timestamp is accepted.
CREATE TABLE integration_replay_tokens (
    tenant_id       uuid NOT NULL,
    integration_id  uuid NOT NULL,
    token_sha256    bytea NOT NULL CHECK (length(token_sha256) = 32),
    payload_sha256  text NOT NULL,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, integration_id, token_sha256)
);
CREATE INDEX integration_replay_tokens_age ON integration_replay_tokens (seen_at);

-- Suppressions out: one row per (suppression change, syncing integration), written in the
-- transaction that adds or lifts the entry. Worked on in seq order per integration; the
-- rows are also the integration's delivery log.
CREATE TABLE integration_outbox (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    integration_id  uuid NOT NULL,
    suppression_id  uuid NOT NULL,
    action          text NOT NULL CHECK (action IN ('add', 'lift')),
    origin          text NOT NULL DEFAULT 'change' CHECK (origin IN ('change', 'sync')),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'skipped', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    request         text CHECK (length(request) <= 300),   -- what was sent, never an address
    status_code     integer,
    last_error      text CHECK (length(last_error) <= 1000),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, integration_id) REFERENCES integrations (tenant_id, id)
);
CREATE INDEX integration_outbox_pending ON integration_outbox (tenant_id, integration_id, seq)
    WHERE status = 'pending';
CREATE INDEX integration_outbox_log ON integration_outbox (tenant_id, integration_id, seq);
