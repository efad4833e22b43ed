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
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import msgspec

from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.ids import uuid7
from consent_svc.domain.network import truncate_ip
from consent_svc.domain.records import Page, ReceiptRow, SiteRow
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


def _categories(body: SiteIn) -> list[dict[str, Any]]:
    given = [msgspec.to_builtins(c) for c in body.categories]
    keys = [c["key"] for c in given]
    if len(set(keys)) != len(keys):
        raise InvalidInput.field("categories", "lists a category twice")
    for i, c in enumerate(given):
        for name in ("title", "description"):
            missing = [lang for lang in ("sv", "en") if lang not in c[name]]
            if missing:
                raise InvalidInput.field(f"categories[{i}].{name}", f"needs a text in {' and '.join(missing)}")
        if c["key"] == "necessary":
            c["required"] = True
            c["sale_or_share"] = False
        elif c["required"]:
            raise InvalidInput.field(f"categories[{i}].required", "only 'necessary' is always on")
    if "necessary" not in keys:
        given.insert(0, dict(NECESSARY))
    return given


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
    site = SiteRow(
        tenant_id=tenant_id, site_key="site_" + secrets.token_urlsafe(12), name=body.name,
        origins=origins, categories=_categories(body), banner_version=1, validity_days=body.validity_days,
        gpc_domains=_check_gpc_domains(body.gpc_domains, origins), created_at=now, updated_at=now,
    )  # fmt: skip
    async with ctx.pool.acquire() as conn:
        return await store.insert_site(conn, site)


async def replace_site(ctx: Context, tenant_id: UUID, site_key: str, body: SiteIn) -> SiteRow:
    """Replace the configuration; ``banner_version`` goes up when categories or texts change."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await store.site_by_key(conn, site_key, lock=True)
        if current is None or current.tenant_id != tenant_id:
            raise NotFound(f"no site {site_key}")
        categories = _categories(body)
        version = current.banner_version + (1 if categories != current.categories else 0)
        origins = _check_origins(body.origins)
        site = msgspec.structs.replace(
            current, name=body.name, origins=origins, categories=categories, banner_version=version,
            validity_days=body.validity_days, gpc_domains=_check_gpc_domains(body.gpc_domains, origins),
        )  # fmt: skip
        return await store.update_site(conn, site)


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


def _choices(site: SiteRow, body: BannerConsentIn, gpc: bool) -> dict[str, bool]:
    keys = [c["key"] for c in site.categories]
    unknown = sorted(set(body.categories) - set(keys))
    if unknown:
        raise InvalidInput.field("categories", f"unknown categories: {', '.join(unknown)}")
    if body.action == "accept_all":
        chosen = dict.fromkeys(keys, True)
    elif body.action == "reject_all":
        chosen = dict.fromkeys(keys, False)
    else:
        chosen = {k: bool(body.categories.get(k, False)) for k in keys}
    chosen["necessary"] = True
    if gpc:
        for c in site.categories:
            if c["sale_or_share"] or c["key"] == "marketing":
                chosen[c["key"]] = False
    return chosen


async def record(ctx: Context, site_key: str, body: BannerConsentIn, client: Client) -> ReceiptRow:
    site = await get_site(ctx, site_key)
    ip_prefix = truncate_ip(client.ip)
    if body.banner_version > site.banner_version:
        raise InvalidInput.field("banner_version", f"this site's banner is at version {site.banner_version}")
    gpc = client.gpc_header or body.gpc_signal
    now = ctx.clock()
    receipt = ReceiptRow(
        id=uuid7(), site_key=site_key, visitor_id=body.visitor_id, categories=_choices(site, body, gpc),
        action=body.action, banner_version=body.banner_version, language=body.language, gpc=gpc,
        recorded_at=now, expires_at=now + timedelta(days=site.validity_days), subject_id=None,
    )  # fmt: skip
    async with ctx.pool.acquire() as conn:
        return await store.insert_receipt(
            conn, site.tenant_id, receipt, ip_prefix, (client.user_agent or "")[:1000] or None
        )


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
