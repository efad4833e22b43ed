-- Audit records of retention sweeps (no personal data).
SET lock_timeout = '10s';

CREATE TABLE sweep_runs (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    as_of        timestamptz NOT NULL,
    dry_run      boolean NOT NULL,
    scanned      integer NOT NULL,
    swept        integer NOT NULL,
    counts       jsonb NOT NULL,      -- {"purpose/reason": subjects}
    PRIMARY KEY (tenant_id, id)
);
