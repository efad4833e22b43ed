"""Banner sites (admin): their origins, categories and texts; linking a receipt to a person (record)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from consent_svc.domain.records import SiteRow
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

    @classmethod
    def from_domain(cls, site: SiteRow) -> SiteOut:
        return cls(**{f: getattr(site, f) for f in cls.__struct_fields__})


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

    @post("/{site_key:str}/consents/{consent_id:uuid}/subject", opt={"scope": "record"}, status_code=HTTP_200_OK,
          summary="Link a banner receipt to a person")  # fmt: skip
    async def link_receipt(
        self, ctx: Ctx, tenant_id: TenantId, site_key: str, consent_id: UUID, data: ReceiptLinkIn
    ) -> ReceiptOut:
        """It then appears in their export; a marketing refusal becomes an objection in the ledger."""
        return ReceiptOut.from_domain(await banner.link(ctx, tenant_id, site_key, consent_id, data.subject))
