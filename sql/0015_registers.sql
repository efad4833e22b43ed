-- Opt-out registers (issue 19): Swedish personal identity numbers as identifiers, held only
-- as keyed hashes, and snapshots of NIX-Telefon, NIX-Adresserat, SPAR's reklamspärr or a
-- tenant's own register, replaced atomically per register.
SET lock_timeout = '10s';

-- A personal number (personnummer, samordningsnummer) is an identifier like an email or a
-- phone, but its plaintext is never stored: only its keyed hash (DSL 3 kap. 10 §).
ALTER TABLE subject_identifiers DROP CONSTRAINT subject_identifiers_type_check;
ALTER TABLE subject_identifiers ADD CONSTRAINT subject_identifiers_type_check
    CHECK (type IN ('email', 'phone', 'external_id', 'personal_number')) NOT VALID;
ALTER TABLE subject_identifiers VALIDATE CONSTRAINT subject_identifiers_type_check;
ALTER TABLE subject_identifiers ALTER COLUMN value DROP NOT NULL;
ALTER TABLE subject_identifiers ADD CONSTRAINT subject_identifiers_value_check
    CHECK ((type = 'personal_number') = (value IS NULL)) NOT VALID;
ALTER TABLE subject_identifiers VALIDATE CONSTRAINT subject_identifiers_value_check;

ALTER TABLE subject_identifier_history DROP CONSTRAINT subject_identifier_history_type_check;
ALTER TABLE subject_identifier_history ADD CONSTRAINT subject_identifier_history_type_check
    CHECK (type IN ('email', 'phone', 'external_id', 'personal_number')) NOT VALID;
ALTER TABLE subject_identifier_history VALIDATE CONSTRAINT subject_identifier_history_type_check;

ALTER TABLE suppressions DROP CONSTRAINT suppressions_ident_type_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_ident_type_check
    CHECK (ident_type IN ('email', 'phone', 'external_id', 'personal_number')) NOT VALID;
ALTER TABLE suppressions VALIDATE CONSTRAINT suppressions_ident_type_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_personal_number_hash_only
    CHECK (ident_type <> 'personal_number' OR (value IS NULL AND sha256 IS NULL)) NOT VALID;
ALTER TABLE suppressions VALIDATE CONSTRAINT suppressions_personal_number_hash_only;

-- A register of a tenant: a built-in one (its channel fixed) or the tenant's own. The channel
-- says what is looked up: phone and sms numbers, post personal numbers, email addresses.
CREATE TABLE registers (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    name         text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    channel      text NOT NULL CHECK (channel IN ('email', 'sms', 'phone', 'post')),
    ident_type   text NOT NULL CHECK (ident_type IN ('email', 'phone', 'personal_number')),
    -- The snapshot in force: decisions read only its entries.
    snapshot_id  uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE register_snapshots (
    tenant_id           uuid NOT NULL,
    id                  uuid NOT NULL,
    register_id         uuid NOT NULL,
    version_date        date NOT NULL,
    entries             bigint NOT NULL CHECK (entries >= 0),  -- distinct identifiers
    lines               bigint NOT NULL CHECK (lines >= 0),    -- identifier lines read
    imported_at         timestamptz NOT NULL,
    -- The register.stale webhook was queued for this snapshot (once).
    stale_announced_at  timestamptz,
    -- Its entries were dropped: a newer snapshot replaced it.
    replaced_at         timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, register_id) REFERENCES registers (tenant_id, id)
);
CREATE INDEX register_snapshots_by_register ON register_snapshots (tenant_id, register_id, imported_at);

-- The keyed hashes of each register's snapshot in force (tenant_id for distribution by tenant).
-- An import COPYs the file's hashes into register_staging, then moves them here in hash order
-- (one sorted pass instead of 3 million random index insertions), puts the snapshot in force and
-- deletes the replaced one's entries, all in one transaction. Rows and nothing else: the service
-- needs no right to create or drop tables (docs/examples/roles.sql).
CREATE TABLE register_entries (
    tenant_id    uuid NOT NULL,
    snapshot_id  uuid NOT NULL,
    hash         bytea NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX register_entries_by_snapshot ON register_entries (snapshot_id, hash);

-- Where an import's hashes land first (rows of an uncommitted import, never seen by anyone else).
-- Unlogged: nothing in it outlives the transaction that wrote it.
CREATE UNLOGGED TABLE register_staging (
    tenant_id  uuid NOT NULL,
    import_id  uuid NOT NULL,
    hash       bytea NOT NULL
);
