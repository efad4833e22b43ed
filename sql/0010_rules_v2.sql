-- Decision rules v2 (docs/decision-rules.md): the kind an event named, erasure of
-- every identifier (external ids and past identifiers too), and notice versions.
SET lock_timeout = '10s';

-- The subject kind an event named, so the stored kind can be rebuilt from the
-- ledger (an event moves it only towards more protection; a rectification sets it).
ALTER TABLE events
    ADD COLUMN subject_kind text CHECK (subject_kind IN ('consumer', 'sole_trader', 'business_contact'));

-- Sealing may set only the chain columns: the kind an event named is content too.
CREATE OR REPLACE FUNCTION consent_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('consent.ledger_rewrite', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.chain_pos IS NULL AND NEW.chain_pos IS NOT NULL
       AND NEW.id = OLD.id AND NEW.subject_id = OLD.subject_id AND NEW.type = OLD.type
       AND NEW.purpose IS NOT DISTINCT FROM OLD.purpose AND NEW.channels = OLD.channels
       AND NEW.occurred_at = OLD.occurred_at AND NEW.recorded_at = OLD.recorded_at
       AND NEW.source = OLD.source AND NEW.proof = OLD.proof
       AND NEW.idempotency_key IS NOT DISTINCT FROM OLD.idempotency_key
       AND NEW.fingerprint IS NOT DISTINCT FROM OLD.fingerprint
       AND NEW.subject_kind IS NOT DISTINCT FROM OLD.subject_kind
       AND NEW.erased_digest IS NOT DISTINCT FROM OLD.erased_digest THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the consent ledger is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Erasure keeps a keyed hash of every identifier, the CRM id included.
ALTER TABLE suppressions DROP CONSTRAINT suppressions_ident_type_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_ident_type_check
    CHECK (ident_type IN ('email', 'phone', 'external_id'));

-- Identifiers a subject had before a rectification: keyed hashes only (and, for
-- an email, the exchange SHA-256), so that an erasure reaches every trace of the
-- old address and a person-level suppression of it still applies.
CREATE TABLE subject_identifier_history (
    tenant_id    uuid NOT NULL,
    subject_id   uuid NOT NULL,
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    type         text NOT NULL CHECK (type IN ('email', 'phone', 'external_id')),
    sha256       bytea,
    replaced_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject_id, hash)
);

-- Notice versions (consent_svc/domain/purposes.py, replayed here over each
-- purpose's stored versions, oldest first): every purpose's configuration lists
-- the notice versions it has published and, for each notice a material change
-- superseded, the re-consent deadline after which consents naming it no longer
-- count. Under rules v1 a deadline could be set without a new notice version;
-- such a change supersedes the notices published before it, the current one
-- included (the conservative reading: those consents cannot show which text
-- the person saw).
DO $$
DECLARE
    p record;
    v record;
    published jsonb;
    deadlines jsonb;
    previous timestamptz;
    notice text;
    deadline timestamptz;
    earlier text;
BEGIN
    FOR p IN SELECT tenant_id, key FROM purposes LOOP
        published := '[]'::jsonb;
        deadlines := '{}'::jsonb;
        previous := NULL;
        FOR v IN SELECT config FROM purpose_versions
                 WHERE tenant_id = p.tenant_id AND key = p.key ORDER BY version LOOP
            notice := v.config ->> 'notice_version';
            deadline := (v.config ->> 'reconsent_required_before')::timestamptz;
            IF deadline IS NOT NULL AND deadline IS DISTINCT FROM previous
               AND (NOT published ? notice OR previous IS NULL) THEN
                -- A material change: every notice published so far (v1: the current one too).
                FOR earlier IN SELECT jsonb_array_elements_text(published || to_jsonb(notice)) LOOP
                    IF earlier <> notice OR published ? notice THEN
                        IF NOT deadlines ? earlier OR (deadlines ->> earlier)::timestamptz > deadline THEN
                            deadlines := deadlines || jsonb_build_object(earlier, to_jsonb(deadline));
                        END IF;
                    END IF;
                END LOOP;
            ELSIF deadline IS DISTINCT FROM previous THEN
                -- The change in force moved, or was withdrawn: its notices follow.
                FOR earlier IN SELECT k FROM jsonb_each_text(deadlines) AS e(k, at)
                               WHERE e.at::timestamptz = previous LOOP
                    IF deadline IS NULL THEN
                        deadlines := deadlines - earlier;
                    ELSE
                        deadlines := deadlines || jsonb_build_object(earlier, to_jsonb(deadline));
                    END IF;
                END LOOP;
            END IF;
            IF NOT published ? notice THEN
                published := published || to_jsonb(notice);
            END IF;
            previous := deadline;
        END LOOP;
        UPDATE purposes
        SET config = config || jsonb_build_object('notice_versions', published, 'notice_deadlines', deadlines)
        WHERE tenant_id = p.tenant_id AND key = p.key;
    END LOOP;
END
$$;
