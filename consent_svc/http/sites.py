"""Banner sites (admin): their origins, categories and texts; linking a receipt to a person (record)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from consent_svc.domain.records import BannerVersionRow, SiteRow
from consent_svc.http.banner import ReceiptOut
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import banner
from consent_svc.service.inputs import ReceiptLinkIn, SiteIn


class SiteOut(msgspec.Struct, frozen=True, kw_only=True):
    site_key: str
    name: str
    origins: list[str]
    categories: list[dict[str, Any]]
    banner_version: int
    validity_days: int
    gpc_domains: list[str]
    created_at: datetime
    updated_at: datetime
    policy_url: str | None  # null for a site saved before 0014 until it is replaced
    controller: str
    languages: list[str]
    default_language: str
    texts: dict[str, dict[str, str]]  # every text per language: as given, sv and en defaults for the rest
    reopen: dict[str, Any]
    google_consent_mode: dict[str, Any] | None
    meta_pixel: bool

    @classmethod
    def from_domain(cls, site: SiteRow) -> SiteOut:
        o = banner.options_of(site)
        plain = {f: getattr(site, f) for f in cls.__struct_fields__ if hasattr(site, f) and f != "options"}
        return cls(**plain, **{f: getattr(o, f) for f in cls.__struct_fields__ if f not in plain})


class BannerVersionOut(msgspec.Struct, frozen=True, kw_only=True):
    """What a banner version showed, per language, exactly as kept; a receipt's texts_hash is the
    SHA-256 of its language's document as canonical JSON (keys sorted, UTF-8, no spaces)."""

    site_key: str
    banner_version: int
    created_at: datetime
    shown: dict[str, dict[str, Any]]
    texts_hash: dict[str, str]

    @classmethod
    def from_domain(cls, v: BannerVersionRow) -> BannerVersionOut:
        return cls(site_key=v.site_key, banner_version=v.version, created_at=v.created_at, shown=v.shown,
                   texts_hash=v.hashes)  # fmt: skip


class ChoiceStatsOut(msgspec.Struct, frozen=True, kw_only=True):
    """Choices in one period (a UTC day, or an ISO week from its Monday) on one banner version."""

    period: date
    banner_version: int
    total: int
    accept_all: int
    reject_all: int
    custom: int  # saved from the settings layer
    dismiss: int  # closed (stored as a refusal)
    gpc: int  # with Global Privacy Control on
    by_category: dict[str, int]  # how many granted each category


class ChoiceStatsList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ChoiceStatsOut]
    next_cursor: str | None


class SiteDeletedOut(msgspec.Struct, frozen=True, kw_only=True):
    """What deleting a site did: it answers no banner request any more; its receipts are kept."""

    site_key: str
    deleted: bool
    receipts_kept: int


class SiteList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SiteOut]
    next_cursor: str | None


class SiteController(Controller):
    path = "/v1/sites"
    tags = ["banner"]
    opt = {"scope": "admin"}

    @post("/", status_code=HTTP_201_CREATED, summary="Register a website for the banner")
    async def create_site(self, ctx: Ctx, tenant_id: TenantId, data: SiteIn) -> SiteOut:
        """Its origins, banner categories with sv/en texts, and how long a choice lasts."""
        return SiteOut.from_domain(await banner.create_site(ctx, tenant_id, data))

    @get("/", summary="List the banner sites")
    async def list_sites(
        self, ctx: Ctx, tenant_id: TenantId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> SiteList:
        """In site key order."""
        page = await banner.list_sites(ctx, tenant_id, decode_cursor(cursor, str), limit)
        return SiteList(items=[SiteOut.from_domain(s) for s in page.items], next_cursor=encode_cursor(page.after))

    @get("/{site_key:str}", summary="Read a banner site")
    async def get_site(self, ctx: Ctx, tenant_id: TenantId, site_key: str) -> SiteOut:
        return SiteOut.from_domain(await banner.get_site(ctx, site_key, tenant_id))

    @put("/{site_key:str}", status_code=HTTP_200_OK, summary="Replace a banner site's configuration")
    async def replace_site(self, ctx: Ctx, tenant_id: TenantId, site_key: str, data: SiteIn) -> SiteOut:
        """banner_version goes up when categories or texts change."""
        return SiteOut.from_domain(await banner.replace_site(ctx, tenant_id, site_key, data))

    @delete("/{site_key:str}", status_code=HTTP_200_OK, summary="Delete a banner site")
    async def delete_site(self, ctx: Ctx, tenant_id: TenantId, site_key: str) -> SiteDeletedOut:
        """banner.js on its pages stops getting a configuration (and so shows nothing and stores
        nothing); the receipts of choices made there are kept for their retention, and stay in the
        exports of the people they are linked to. The site key is never reused."""
        site, kept = await banner.delete_site(ctx, tenant_id, site_key)
        return SiteDeletedOut(site_key=site.site_key, deleted=True, receipts_kept=kept)

    @get("/{site_key:str}/versions/{n:int}", summary="Read what a banner version showed")
    async def get_version(self, ctx: Ctx, tenant_id: TenantId, site_key: str, n: int) -> BannerVersionOut:
        """Every language's first layer and categories, kept unchanged from the version's start."""
        return BannerVersionOut.from_domain(await banner.version(ctx, tenant_id, site_key, n))

    @get("/{site_key:str}/stats", summary="Count the choices visitors made")
    async def stats(
        self, ctx: Ctx, tenant_id: TenantId, site_key: str,
        from_: Annotated[date, QueryParameter(name="from", description="first day (UTC), inclusive")],
        to: Annotated[date, Parameter(description="last day (UTC), inclusive; at most 400 days after from")],
        interval: Literal["day", "week"] = "day", cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT,
    ) -> ChoiceStatsList:  # fmt: skip
        """Per day or ISO week and banner version (in that order): accept all, reject all, custom,
        dismissed, GPC, and per category how many granted it; counted as receipts are stored (the
        counts stay when receipts are deleted)."""
        after = decode_cursor(cursor, tuple[date, int])
        items = [
            msgspec.convert(i, ChoiceStatsOut)
            for i in await banner.stats(ctx, tenant_id, site_key, from_, to, interval)
            if after is None or (i["period"], i["banner_version"]) > after
        ]
        page, more = items[:limit], len(items) > limit
        last = (page[-1].period, page[-1].banner_version) if more else None
        return ChoiceStatsList(items=page, next_cursor=encode_cursor(last))

    @post("/{site_key:str}/consents/{consent_id:uuid}/subject", opt={"scope": "record"}, status_code=HTTP_200_OK,
          summary="Link a banner receipt to a person")  # fmt: skip
    async def link_receipt(
        self, ctx: Ctx, tenant_id: TenantId, site_key: str, consent_id: UUID, data: ReceiptLinkIn
    ) -> ReceiptOut:
        """It then appears in their export; a marketing refusal becomes an objection in the ledger."""
        return ReceiptOut.from_domain(await banner.link(ctx, tenant_id, site_key, consent_id, data.subject))
