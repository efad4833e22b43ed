-- Banner v2 (issue 18): the site's first-layer texts and options, every banner version's texts kept
-- as shown, receipts that say where and what was shown, and a rollup of choices for the statistics.
SET lock_timeout = '10s';

-- policy_url, controller, languages, default_language, texts per language, reopen,
-- google_consent_mode, meta_pixel (consent_svc.service.banner reads them with their defaults).
ALTER TABLE sites ADD COLUMN options jsonb NOT NULL DEFAULT '{}';

-- What a banner version showed, per language (first layer and categories), kept as it was: a
-- receipt names a version and a language, and this row proves the texts behind it.
CREATE TABLE banner_versions (
    tenant_id   uuid NOT NULL,
    site_key    text NOT NULL,
    version     integer NOT NULL,
    shown       jsonb NOT NULL,          -- {"sv": {"texts": ..., "categories": [...], ...}, "en": ...}
    hashes      jsonb NOT NULL,          -- {"sv": "<sha256 hex of the canonical sv document>", ...}
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_key, version),
    FOREIGN KEY (tenant_id, site_key) REFERENCES sites (tenant_id, site_key)
);

CREATE FUNCTION banner_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'banner versions are immutable: a change makes a new version';
END $$;
CREATE TRIGGER banner_versions_no_update BEFORE UPDATE OR DELETE ON banner_versions
    FOR EACH ROW EXECUTE FUNCTION banner_versions_immutable();
CREATE TRIGGER banner_versions_no_truncate BEFORE TRUNCATE ON banner_versions
    FOR EACH STATEMENT EXECUTE FUNCTION banner_versions_immutable();

-- The page origin the choice came from (the browser's Origin header) and the hash of the texts
-- shown (the version's document in the receipt's language). NULL on receipts from before 0014.
ALTER TABLE banner_consents
    ADD COLUMN origin text CHECK (length(origin) <= 300),
    ADD COLUMN texts_hash bytea CHECK (length(texts_hash) = 32);

-- The retention sweep deletes receipts never linked to a person some time after they expired.
CREATE INDEX banner_consents_unlinked_expiry ON banner_consents (tenant_id, expires_at) WHERE subject_id IS NULL;

-- Choice statistics: counts per UTC day, version, action, GPC and the categories chosen, kept
-- by a statement trigger on every insert (a bulk load too). No personal data; erasure and the
-- retention sweep leave the counts as they were.
CREATE TABLE banner_choice_counts (
    tenant_id       uuid NOT NULL,
    site_key        text NOT NULL,
    day             date NOT NULL,
    banner_version  integer NOT NULL,
    action          text NOT NULL,
    gpc             boolean NOT NULL,
    categories      jsonb NOT NULL,
    n               bigint NOT NULL,
    PRIMARY KEY (tenant_id, site_key, day, banner_version, action, gpc, categories)
);

CREATE FUNCTION banner_count_choices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO banner_choice_counts AS c (tenant_id, site_key, day, banner_version, action, gpc, categories, n)
    SELECT tenant_id, site_key, (recorded_at AT TIME ZONE 'UTC')::date, banner_version, action, gpc, categories,
           count(*)
    FROM new_rows
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (tenant_id, site_key, day, banner_version, action, gpc, categories)
        DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER banner_consents_count AFTER INSERT ON banner_consents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION banner_count_choices();

INSERT INTO banner_choice_counts (tenant_id, site_key, day, banner_version, action, gpc, categories, n)
SELECT tenant_id, site_key, (recorded_at AT TIME ZONE 'UTC')::date, banner_version, action, gpc, categories, count(*)
FROM banner_consents
GROUP BY 1, 2, 3, 4, 5, 6, 7;
