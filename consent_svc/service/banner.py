"""Cookie and consent banner: sites, recording choices with proof, receipts, Global Privacy Control.

Every choice is stored, refusals as well as consents, with a consent id the
visitor can quote. A request carrying ``Sec-GPC: 1`` (or a script that saw
``navigator.globalPrivacyControl``) records the ``marketing`` category and
every category flagged ``sale_or_share`` as refused, whatever the body says.
IP addresses are kept truncated (IPv4 /24, IPv6 /48).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import msgspec

from consent_svc.domain import banner as banner_texts
from consent_svc.domain.errors import Conflict, InvalidInput, NotFound
from consent_svc.domain.ids import uuid7
from consent_svc.domain.network import truncate_ip
from consent_svc.domain.records import BannerVersionRow, Page, ReceiptRow, SiteRow
from consent_svc.service import subjects
from consent_svc.service.context import Context
from consent_svc.service.events import record_in, subject_identifiers
from consent_svc.service.inputs import BannerConsentIn, EventIn, Proof, SiteIn, SubjectRef
from consent_svc.store import banner as store

NECESSARY = {
    "key": "necessary",
    "required": True,
    "sale_or_share": False,
    "title": {"sv": "Nödvändiga", "en": "Necessary"},
    "description": {
        "sv": "Krävs för att webbplatsen ska fungera, till exempel för att komma ihåg ditt val. Kan inte stängas av.",
        "en": "Needed for the site to work, for example to remember your choice. Cannot be switched off.",
    },
}


def _categories(body: SiteIn, languages: list[str]) -> list[dict[str, Any]]:
    given = [msgspec.to_builtins(c) for c in body.categories]
    keys = [c["key"] for c in given]
    if len(set(keys)) != len(keys):
        raise InvalidInput.field("categories", "lists a category twice")
    for i, c in enumerate(given):
        for name in ("title", "description", "lifetime"):
            if c.get(name) is None:
                continue
            missing = [lang for lang in languages if lang not in c[name]]
            if missing:
                raise InvalidInput.field(f"categories[{i}].{name}", f"needs a text in {' and '.join(missing)}")
        if c["key"] == "necessary":
            c["required"] = True
            c["sale_or_share"] = False
        elif c["required"]:
            raise InvalidInput.field(f"categories[{i}].required", "only 'necessary' is always on")
    if "necessary" not in keys:
        given.insert(0, dict(NECESSARY))
    for c in given:
        c.setdefault("third_parties", [])
        c.setdefault("lifetime", None)
        c.setdefault("cookies", [])
        missing = [lang for lang in languages if lang not in c["title"] or lang not in c["description"]]
        if c["key"] == "necessary" and missing:
            raise InvalidInput.field("categories", f"add 'necessary' with its texts in {' and '.join(missing)}")
    return given


def _options(body: SiteIn, categories: list[dict[str, Any]]) -> dict[str, Any]:
    """The site's first layer and script options, checked (each error names its field)."""
    languages = body.languages
    if len(set(languages)) != len(languages):
        raise InvalidInput.field("languages", "lists a language twice")
    default = body.default_language or languages[0]
    if default not in languages:
        raise InvalidInput.field("default_language", f"not one of languages: {', '.join(languages)}")
    texts: dict[str, dict[str, str]] = {}
    for lang, given in body.texts.items():
        if lang not in languages:
            raise InvalidInput.field(f"texts.{lang}", f"not one of languages: {', '.join(languages)}")
        texts[lang] = msgspec.to_builtins(given)
    for lang in languages:
        missing = banner_texts.missing_texts(lang, texts.get(lang, {}))
        if missing:
            raise InvalidInput.field(f"texts.{lang}", f"needs {', '.join(missing)} (only sv and en have defaults)")
        # Defaults are copied in when the site is saved: a release that rewords a default changes
        # no saved site's texts (and so no version's) until the site is saved again.
        texts[lang] = {**banner_texts.DEFAULT_TEXTS.get(lang, {}), **texts.get(lang, {})}
    gcm: dict[str, Any] | None = None
    if body.google_consent_mode is not None:
        gcm = msgspec.to_builtins(body.google_consent_mode)
        keys = {c["key"] for c in categories}
        if gcm["mapping"] is None:
            gcm["mapping"] = {k: v for k, v in banner_texts.GCM_DEFAULT_MAPPING.items() if k in keys}
        unknown = sorted(set(gcm["mapping"]) - keys)
        if unknown:
            raise InvalidInput.field(
                "google_consent_mode.mapping", f"not a category of this site: {', '.join(unknown)}"
            )
        # 'necessary' is always on: any signal it names would be granted before and without a choice.
        beyond = sorted(set(gcm["mapping"].get("necessary", [])) - {"security_storage"})
        if beyond:
            raise InvalidInput.field(
                "google_consent_mode.mapping.necessary",
                f"may name only security_storage (necessary is always granted, so {', '.join(beyond)} would be "
                "granted without consent)",
            )
    return {
        "policy_url": body.policy_url,
        "controller": body.controller,
        "languages": list(languages),
        "default_language": default,
        "texts": texts,
        "reopen": msgspec.to_builtins(body.reopen),
        "google_consent_mode": gcm,
        "meta_pixel": body.meta_pixel,
    }


@dataclass(frozen=True, slots=True)
class Options:
    """A site's options with their defaults (sites saved before 0014 have none)."""

    policy_url: str | None
    controller: str
    languages: list[str]
    default_language: str
    texts: dict[str, dict[str, str]]
    reopen: dict[str, Any]
    google_consent_mode: dict[str, Any] | None
    meta_pixel: bool


def options_of(site: SiteRow) -> Options:
    o = site.options
    return Options(
        policy_url=o.get("policy_url"), controller=o.get("controller") or site.name,
        languages=o.get("languages") or ["sv", "en"], default_language=o.get("default_language") or "sv",
        texts=o.get("texts") or {}, reopen={"position": "bottom-left", "own_link": False, **(o.get("reopen") or {})},
        google_consent_mode=o.get("google_consent_mode"), meta_pixel=bool(o.get("meta_pixel")),
    )  # fmt: skip


def shown(site: SiteRow) -> dict[str, dict[str, Any]]:
    """Per language, everything a visitor of this site reads (the banner version's document)."""
    o = options_of(site)
    documents = {}
    for lang in o.languages:
        titles = [c["title"][lang] for c in site.categories if not c.get("required")]
        texts = banner_texts.resolve_texts(lang, o.texts.get(lang, {}), o.controller, titles)
        documents[lang] = banner_texts.shown_document(
            lang, texts=texts, categories=site.categories, controller=o.controller, policy_url=o.policy_url
        )
    return documents


def hashes(documents: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {lang: banner_texts.texts_hash(d).hex() for lang, d in documents.items()}


async def _keep_version(conn: Any, site: SiteRow) -> dict[str, str]:
    """Keep the site's current version's texts (a no-op when kept); returns the hashes kept for
    the version, which differ from today's only for a site saved before 0014 whose default
    texts a release has reworded since its version was kept (see :func:`record`)."""
    documents = shown(site)
    return await store.insert_version(
        conn, site.tenant_id, site.site_key, site.banner_version, documents, hashes(documents)
    )


def _check_origins(origins: list[str]) -> list[str]:
    cleaned = [o.rstrip("/").lower() for o in origins]
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInput.field("origins", "lists an origin twice")
    return cleaned


def _check_gpc_domains(gpc_domains: list[str], origins: list[str]) -> list[str]:
    """Only the hosts of the site's own origins: a tenant states GPC for its sites, not for any domain."""
    hosts = sorted({urlsplit(o).hostname or "" for o in origins} - {""})
    wanted = sorted({d.rstrip(".").lower() for d in gpc_domains})
    foreign = [d for d in wanted if d not in hosts]
    if foreign:
        raise InvalidInput.field(
            "gpc_domains",
            f"not a host of this site's origins: {', '.join(foreign)} (allowed: {', '.join(hosts) or 'none'})",
        )
    return wanted


async def create_site(ctx: Context, tenant_id: UUID, body: SiteIn) -> SiteRow:
    now = ctx.clock()
    origins = _check_origins(body.origins)
    categories = _categories(body, body.languages)
    site = SiteRow(
        tenant_id=tenant_id, site_key="site_" + secrets.token_urlsafe(12), name=body.name,
        origins=origins, categories=categories, banner_version=1, validity_days=body.validity_days,
        gpc_domains=_check_gpc_domains(body.gpc_domains, origins), created_at=now, updated_at=now,
        options=_options(body, categories),
    )  # fmt: skip
    async with ctx.pool.acquire() as conn, conn.transaction():
        saved = await store.insert_site(conn, site)
        await _keep_version(conn, saved)
        return saved


async def replace_site(ctx: Context, tenant_id: UUID, site_key: str, body: SiteIn) -> SiteRow:
    """Replace the configuration; ``banner_version`` goes up when anything a visitor reads changes
    (texts, categories, their third parties and lifetimes, controller, policy link, languages)."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await store.site_by_key(conn, site_key, lock=True)
        if current is None or current.tenant_id != tenant_id:
            raise NotFound(f"no site {site_key}")
        categories = _categories(body, body.languages)
        origins = _check_origins(body.origins)
        site = msgspec.structs.replace(
            current, name=body.name, origins=origins, categories=categories,
            validity_days=body.validity_days, gpc_domains=_check_gpc_domains(body.gpc_domains, origins),
            options=_options(body, categories),
        )  # fmt: skip
        if shown(site) != shown(current) or categories != current.categories:
            await _keep_version(conn, current)  # a site from before 0014: keep what it showed last
            site = msgspec.structs.replace(site, banner_version=current.banner_version + 1)
        saved = await store.update_site(conn, site)
        await _keep_version(conn, saved)
        return saved


async def get_site(ctx: Context, site_key: str, tenant_id: UUID | None = None) -> SiteRow:
    async with ctx.pool.acquire() as conn:
        site = await store.site_by_key(conn, site_key)
    if site is None or (tenant_id is not None and site.tenant_id != tenant_id):
        raise NotFound(f"no site {site_key}")
    return site


async def delete_site(ctx: Context, tenant_id: UUID, site_key: str) -> tuple[SiteRow, int]:
    """The site stops answering the banner and leaves the list; its receipts (the proof of the
    choices made there) stay until the retention sweep. Returns the site and its receipts kept."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        site = await store.delete_site(conn, tenant_id, site_key)
        if site is None:
            raise NotFound(f"no site {site_key}")
        return site, await store.receipt_count(conn, tenant_id, site_key)


async def list_sites(ctx: Context, tenant_id: UUID, after: str | None, limit: int) -> Page[SiteRow]:
    async with ctx.pool.acquire() as conn:
        rows = await store.list_sites(conn, tenant_id, after, limit + 1)
    return Page.of(rows, limit, lambda s: s.site_key)


@dataclass(frozen=True, slots=True)
class Client:
    ip: str | None
    user_agent: str | None
    gpc_header: bool
    origin: str | None = None


def forced_off(category: dict[str, Any]) -> bool:
    """What Global Privacy Control switches off: ``marketing`` and the sale/share categories."""
    return bool(category.get("sale_or_share")) or category["key"] == "marketing"


def _choices(site: SiteRow, body: BannerConsentIn, gpc: bool) -> dict[str, bool]:
    keys = [c["key"] for c in site.categories]
    unknown = sorted(set(body.categories) - set(keys))
    if unknown:
        raise InvalidInput.field("categories", f"unknown categories: {', '.join(unknown)}")
    if body.action == "accept_all":
        chosen = dict.fromkeys(keys, True)
    elif body.action in ("reject_all", "dismiss"):
        chosen = dict.fromkeys(keys, False)  # closing the banner is never consent
    else:
        chosen = {k: bool(body.categories.get(k, False)) for k in keys}
    chosen["necessary"] = True
    if gpc:
        for c in site.categories:
            if forced_off(c):
                chosen[c["key"]] = False
    return chosen


async def record(ctx: Context, site_key: str, body: BannerConsentIn, client: Client) -> ReceiptRow:
    """Store a choice. It must name the version shown now: a choice made on texts that have
    changed since proves nothing about the new ones (409: banner.js reloads and asks again)."""
    site = await get_site(ctx, site_key)
    ip_prefix = truncate_ip(client.ip)
    if body.banner_version > site.banner_version:
        raise InvalidInput.field("banner_version", f"this site's banner is at version {site.banner_version}")
    if body.banner_version < site.banner_version:
        raise Conflict(
            f"banner_version {body.banner_version} is not the version shown now ({site.banner_version}): "
            "load the configuration again and ask the visitor again"
        )
    languages = options_of(site).languages
    if body.language not in languages:
        raise InvalidInput.field("language", f"not one of this site's languages: {', '.join(languages)}")
    gpc = client.gpc_header or body.gpc_signal
    now = ctx.clock()
    async with ctx.pool.acquire() as conn, conn.transaction():
        found = await _keep_version(conn, site)
        if found == hashes(shown(site)):
            receipt = ReceiptRow(
                id=uuid7(), site_key=site_key, visitor_id=body.visitor_id, categories=_choices(site, body, gpc),
                action=body.action, banner_version=body.banner_version, language=body.language, gpc=gpc,
                recorded_at=now, expires_at=now + timedelta(days=site.validity_days), subject_id=None,
                origin=client.origin, texts_hash=bytes.fromhex(found[body.language]),
            )  # fmt: skip
            return await store.insert_receipt(
                conn, site.tenant_id, receipt, ip_prefix, (client.user_agent or "")[:1000] or None
            )
        # What the site shows changed under a kept version (a site saved before 0014 shows the
        # release's default texts, and a release reworded them): the change makes a new version
        # (committed here), and the visitor is asked again, so every receipt proves its texts.
        await store.next_version(conn, site.tenant_id, site.site_key, site.banner_version)
    raise Conflict(
        f"the texts of banner_version {body.banner_version} have changed since it was kept: the site is at "
        f"version {body.banner_version + 1} now; load the configuration again and ask the visitor again"
    )


async def config(ctx: Context, site_key: str) -> tuple[SiteRow, dict[str, str]]:
    """The site for banner.js, with the hash of each language's texts (read only: a page view
    writes nothing; the version's row is written when the site is saved or a choice is stored)."""
    site = await get_site(ctx, site_key)
    return site, hashes(shown(site))


async def version(ctx: Context, tenant_id: UUID, site_key: str, n: int) -> BannerVersionRow:
    site = await get_site(ctx, site_key, tenant_id)
    if not 1 <= n <= site.banner_version:
        raise NotFound(f"no version {n} of {site_key} (it is at {site.banner_version})")
    async with ctx.pool.acquire() as conn:
        if n == site.banner_version:
            await _keep_version(conn, site)
        row = await store.version(conn, tenant_id, site_key, n)
    if row is None:
        raise NotFound(
            f"no version {n} of {site_key} kept (the site is at {site.banner_version}; "
            "versions are kept from migration 0014 on)"
        )
    return row


async def receipt(ctx: Context, site_key: str, consent_id: UUID) -> ReceiptRow:
    site = await get_site(ctx, site_key)
    async with ctx.pool.acquire() as conn:
        found = await store.receipt(conn, site, consent_id)
    if found is None:
        raise NotFound("no such consent")
    return found


async def link(ctx: Context, tenant_id: UUID, site_key: str, consent_id: UUID, subject: SubjectRef) -> ReceiptRow:
    """Link a receipt to a known person (a logged-in visitor). A refusal of ``marketing``
    then becomes an objection to direct marketing in the ledger."""
    site = await get_site(ctx, site_key, tenant_id)
    identifiers = subject_identifiers(subject, ctx.settings.default_phone_region, "subject")
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await store.receipt(conn, site, consent_id)
        if current is None:
            raise NotFound("no such consent")
        refused_marketing = current.categories.get("marketing") is False
        # Recording an event resolves (or creates) the subject; without a refusal, resolve it directly.
        if refused_marketing and current.subject_id is None:
            [result] = await record_in(conn, ctx, tenant_id, [
                EventIn(subject=subject, type="objection", source="banner", occurred_at=current.recorded_at,
                        proof=Proof(consent_id=str(consent_id), note="marketing refused in the cookie banner")),
            ])  # fmt: skip
            subject_id = result.subject_id
        else:
            subject_id = await subjects.find_or_create(conn, ctx, tenant_id, identifiers, subject.kind)
        linked = await store.link_subject(conn, tenant_id, consent_id, subject_id)
        assert linked is not None
        return linked


async def gpc_site_for_host(ctx: Context, host: str) -> SiteRow:
    """The site whose ``gpc_domains`` name this host (its /.well-known/gpc.json)."""
    async with ctx.pool.acquire() as conn:
        site = await store.site_for_gpc_domain(conn, host)
    if site is None:
        raise NotFound("no GPC statement for this host")
    return site


STATS_MAX_DAYS = 400


async def stats(
    ctx: Context, tenant_id: UUID, site_key: str, first: date, last: date, interval: str
) -> list[dict[str, Any]]:
    """Choice statistics per day or week and banner version, from the receipts' rollup."""
    if last < first:
        raise InvalidInput.field("to", "is before from")
    if (last - first).days >= STATS_MAX_DAYS:
        raise InvalidInput.field("to", f"at most {STATS_MAX_DAYS} days after from")
    site = await get_site(ctx, site_key, tenant_id)
    async with ctx.pool.acquire() as conn:
        rows = await store.choice_counts(conn, tenant_id, site.site_key, first, last)
    return banner_texts.fold_counts(rows, interval)
