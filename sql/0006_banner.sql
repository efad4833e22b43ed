-- Cookie/consent banner: sites and the receipts of every choice (refusals too).
SET lock_timeout = '10s';

CREATE TABLE sites (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    site_key        text NOT NULL,
    name            text NOT NULL CHECK (length(name) <= 200),
    origins         text[] NOT NULL,
    categories      jsonb NOT NULL,
    banner_version  integer NOT NULL DEFAULT 1,
    validity_days   integer NOT NULL CHECK (validity_days BETWEEN 1 AND 395),
    gpc_domains     text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_key)
);
CREATE UNIQUE INDEX sites_by_key ON sites (site_key);

CREATE TABLE banner_consents (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL,           -- the consent id a visitor can quote
    site_key        text NOT NULL,
    visitor_id      text CHECK (length(visitor_id) <= 64),
    categories      jsonb NOT NULL,          -- {"necessary": true, "analytics": false, ...}
    action          text NOT NULL CHECK (action IN ('accept_all', 'reject_all', 'save', 'dismiss')),
    banner_version  integer NOT NULL,
    language        text NOT NULL,
    gpc             boolean NOT NULL,
    ip_prefix       text,                    -- IPv4 /24 or IPv6 /48, never the full address
    user_agent      text CHECK (length(user_agent) <= 1000),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    subject_id      uuid,                    -- linked when the visitor is known
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, site_key) REFERENCES sites (tenant_id, site_key)
);
CREATE INDEX banner_consents_by_subject ON banner_consents (tenant_id, subject_id) WHERE subject_id IS NOT NULL;
