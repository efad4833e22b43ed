-- Tenant branding for the preference page, and the mailbox of the mailto: half
-- of List-Unsubscribe.
SET lock_timeout = '10s';

ALTER TABLE tenants
    ADD COLUMN display_name        text CHECK (length(display_name) <= 200),
    ADD COLUMN logo_url            text CHECK (length(logo_url) <= 2000),
    ADD COLUMN primary_color       text CHECK (primary_color ~ '^#[0-9a-f]{6}$'),
    ADD COLUMN privacy_policy_url  text CHECK (length(privacy_policy_url) <= 2000),
    ADD COLUMN unsubscribe_mailto  text CHECK (length(unsubscribe_mailto) <= 320);
