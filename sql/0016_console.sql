-- The console for privacy officers and marketers (issue 21, docs/console.md): its users, their
-- sessions (revocable on the server) and the audit log of every console action.
SET lock_timeout = '10s';

-- A person who signs in to the console of one tenant. The password is an argon2id hash
-- (never the password); until the first one is set, the user holds a one-time set-up token
-- (its SHA-256 only). The TOTP secret, when a second factor is on, is sealed like provider
-- secrets (service/sealing.py), bound to the tenant and user.
CREATE TABLE console_users (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    id                uuid NOT NULL,
    email             text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    role              text NOT NULL CHECK (role IN ('admin', 'officer', 'marketer', 'viewer')),
    password_hash     text CHECK (length(password_hash) <= 500),
    totp_sealed       bytea,
    totp_last_step    bigint,           -- the 30-second step of the last code accepted: a code works once
    setup_token_hash  bytea CHECK (length(setup_token_hash) = 32),
    setup_expires_at  timestamptz,
    created_at        timestamptz NOT NULL,
    disabled_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

-- A signed-in browser. The cookie carries the tenant, the session id and an HMAC over both;
-- the row decides: revoked (signed out, user disabled) or idle too long is signed out.
CREATE TABLE console_sessions (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    user_id       uuid NOT NULL,
    csrf          text NOT NULL CHECK (length(csrf) BETWEEN 32 AND 100),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES console_users (tenant_id, id)
);
CREATE INDEX console_sessions_by_user ON console_sessions (tenant_id, user_id) WHERE revoked_at IS NULL;

-- Who did what, when, in the console: every action (reads of a person's data too). A change of
-- personal data is also in the ledger, written by the same service functions the API uses.
CREATE TABLE console_audit (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,               -- uuid7: time-ordered
    user_id     uuid,                        -- NULL: a failed sign-in (no user proven)
    user_email  text CHECK (length(user_email) <= 320),
    at          timestamptz NOT NULL,
    action      text NOT NULL CHECK (length(action) <= 100),
    target      text CHECK (length(target) <= 200),
    detail      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, id)
);

-- The audit log is append-only: the service's own role cannot rewrite who did what.
CREATE FUNCTION console_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the console audit log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER console_audit_append_only BEFORE UPDATE OR DELETE ON console_audit
    FOR EACH ROW EXECUTE FUNCTION console_audit_append_only();
CREATE TRIGGER console_audit_no_truncate BEFORE TRUNCATE ON console_audit
    FOR EACH STATEMENT EXECUTE FUNCTION console_audit_append_only();
