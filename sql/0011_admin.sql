-- Everyday administration (issue 15): sites can be deleted with their receipts kept for their
-- retention, and platform keys manage tenants and their keys without belonging to a tenant.
SET lock_timeout = '10s';

-- A deleted site answers no banner request and is listed no more; its receipts stay (they are
-- the proof of choices made) until the retention sweep removes them. Its key is never reused.
ALTER TABLE sites ADD COLUMN deleted_at timestamptz;

-- Keys of the platform operator: create tenants and their keys over the API. They read no
-- tenant's data (every tenant route refuses them), and a tenant key cannot reach these routes.
CREATE TABLE platform_keys (
    id          uuid PRIMARY KEY,
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    label       text CHECK (length(label) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
