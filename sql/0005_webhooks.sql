-- Webhooks: subscriptions, a transactional outbox, and a log of delivery attempts.
SET lock_timeout = '10s';

CREATE TABLE webhooks (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    url         text NOT NULL CHECK (length(url) <= 2000),
    events      text[] NOT NULL,
    -- The signing secret has to be usable to sign, so it is kept as given.
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- Written in the same transaction as the change it announces: nothing is sent
-- that did not happen, and nothing that happened is lost.
CREATE TABLE outbox (
    tenant_id        uuid NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    webhook_id       uuid NOT NULL,
    subject_key      text NOT NULL,       -- deliveries for one subject go out in seq order
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    delivered_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX outbox_order ON outbox (webhook_id, subject_key, seq) WHERE status = 'pending';
CREATE INDEX outbox_by_webhook ON outbox (tenant_id, webhook_id, seq);
CREATE INDEX outbox_dead ON outbox (tenant_id) WHERE status = 'dead';

CREATE TABLE webhook_attempts (
    tenant_id    uuid NOT NULL,
    outbox_id    uuid NOT NULL,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text CHECK (length(error) <= 1000),
    duration_ms  double precision,
    PRIMARY KEY (tenant_id, outbox_id, attempt)
);
