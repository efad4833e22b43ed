-- Data subject rights: rectification in the ledger, and erasure receipts.
SET lock_timeout = '10s';

-- Rectification (GDPR 16) is recorded in the ledger like any other event; the
-- decision rules ignore it.
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'consent_given', 'consent_withdrawn', 'objection', 'purchase',
    'customer_started', 'customer_ended', 'event_attended',
    'lead_activity', 'prospect_declined', 'restriction_started',
    'restriction_lifted', 'subject_rectified'));

-- What an erasure did, kept without personal data: the proof that a request
-- under GDPR 17 was carried out.
CREATE TABLE erasures (
    tenant_id             uuid NOT NULL REFERENCES tenants (id),
    id                    uuid NOT NULL,
    subject_id            uuid NOT NULL,
    erased_at             timestamptz NOT NULL DEFAULT now(),
    reason                text CHECK (length(reason) <= 1000),
    identifiers_removed   jsonb NOT NULL,   -- counts per type
    events_removed        integer NOT NULL,
    receipts_removed      integer NOT NULL,
    messages_removed      integer NOT NULL,
    suppressions_kept     integer NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
