-- consent-svc: two database roles, so the service cannot change its own schema.
--
--   consent_owner  owns the schema; `consent-svc migrate` (the helm chart's migration Job) connects as it.
--   consent_app    what `consent-svc serve` and the management commands connect as: it reads and writes
--                  rows, and can create, alter, drop or truncate nothing.
--
-- Run once, as a superuser (or a role with CREATEROLE that owns the database), connected to the
-- (new, empty) database consent-svc will use:
--
--   createdb consent
--   psql -X -d consent -v ON_ERROR_STOP=1 \
--        -v owner_password="$OWNER_PASSWORD" -v app_password="$APP_PASSWORD" \
--        -f docs/examples/roles.sql
--
-- then migrate as the owner and run as the app role (CONSENT_MIGRATE_ON_START=0: the service then only
-- checks that the schema is current; with 1 it also does, and says so clearly if migrations are pending):
--
--   CONSENT_DATABASE_URL=postgresql://consent_owner:...@db/consent consent-svc migrate
--   CONSENT_DATABASE_URL=postgresql://consent_app:...@db/consent CONSENT_MIGRATE_ON_START=0 consent-svc serve
--
-- A database that an earlier, all-powerful role already migrated: run this too, then, as a superuser,
-- `REASSIGN OWNED BY <that role> TO consent_owner;` so later migrations may alter its tables.
-- tests/e2e/test_database_roles.py runs this file on a fresh database, migrates as the owner and
-- records, decides and erases as the app role.

CREATE ROLE consent_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE consent_app LOGIN PASSWORD :'app_password';

-- Only these two may connect; no one may create temporary tables (the service uses none).
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"DBNAME" TO consent_owner, consent_app;

-- The schema the tables go in belongs to the owner, and only it may create there.
ALTER SCHEMA public OWNER TO consent_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO consent_app;

-- Whatever the owner's migrations create, now and in later versions: rows only, for the service. The
-- ledger's own trigger still refuses changes to recorded events outside an erasure or the retention sweep.
ALTER DEFAULT PRIVILEGES FOR ROLE consent_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO consent_app;
ALTER DEFAULT PRIVILEGES FOR ROLE consent_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO consent_app;
-- Tables that exist already (a database migrated before this file was run).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO consent_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO consent_app;
