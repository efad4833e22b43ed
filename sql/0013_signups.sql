-- Double opt-in sign-ups, sign-up forms for websites, and re-permission links (issue 17).
SET lock_timeout = '10s';

-- A sign-up waits for the person to confirm it by the link sent to their address. The
-- plaintext address is held only while it waits (to send the message); the confirmation
-- records one consent_given per purpose in the ledger, and the row stays as its record.
-- Unconfirmed sign-ups are purged by the retention sweep once expired.
CREATE TABLE signups (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    ident_hash    bytea NOT NULL CHECK (length(ident_hash) = 32),   -- keyed hash of the email
    email         text CHECK (length(email) <= 320),                -- cleared at confirmation
    phone         text CHECK (length(phone) <= 64),                 -- attached at confirmation, if free
    purposes      text[] NOT NULL CHECK (cardinality(purposes) BETWEEN 1 AND 20),
    language      text NOT NULL CHECK (language IN ('sv', 'en')),
    -- What the sign-up showed: notice versions per purpose, form_url, ip_prefix (never the
    -- full address), user_agent.
    proof         jsonb NOT NULL,
    form_key      text,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed')),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    confirmed_at  timestamptz,
    subject_id    uuid,
    -- How the confirmation message goes: smtp (queued for the mailer), webhook (signup.pending),
    -- none (no webhook wants it), quiet (another message went to the address within the quiet
    -- period), suppressed (an entry the confirmation could not lift blocks every purpose).
    delivery      text NOT NULL CHECK (delivery IN ('smtp', 'webhook', 'none', 'quiet', 'suppressed')),
    message_at    timestamptz,     -- when a message was queued or announced (the quiet period counts from it)
    message_id    text,            -- the email's Message-ID
    mail_status   text CHECK (mail_status IN ('queued', 'sent', 'failed')),
    mail_attempts integer NOT NULL DEFAULT 0,
    mail_next_at  timestamptz,     -- due (or the lease of the mailer holding it)
    mail_error    text CHECK (length(mail_error) <= 1000),
    mail_sent_at  timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX signups_by_address ON signups (tenant_id, ident_hash, created_at);
CREATE INDEX signups_pending ON signups (tenant_id, ident_hash) WHERE status = 'pending';
CREATE INDEX signups_mail_due ON signups (mail_next_at) WHERE mail_status = 'queued';
CREATE INDEX signups_expiring ON signups (tenant_id, expires_at) WHERE status = 'pending';

-- A sign-up form on a tenant's website: public POST /f/{form_key}, guarded by its origins.
CREATE TABLE forms (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    form_key     text NOT NULL,
    name         text NOT NULL CHECK (length(name) <= 200),
    origins      text[] NOT NULL,
    purposes     text[] NOT NULL,
    fields       text[] NOT NULL,
    success_url  text CHECK (length(success_url) <= 2000),
    language     text NOT NULL CHECK (language IN ('sv', 'en')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, form_key)
);
CREATE UNIQUE INDEX forms_by_key ON forms (form_key);

-- A re-permission link: a page that shows a purpose's current notice and records a consent
-- on it with one POST. Single use, expiring.
CREATE TABLE reconsent_links (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    subject_id  uuid NOT NULL,
    purpose     text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    event_id    uuid,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX reconsent_links_by_subject ON reconsent_links (tenant_id, subject_id);
