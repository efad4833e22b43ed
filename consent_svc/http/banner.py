"""The public banner endpoints (no key; each site's origin list guards them), banner.js and gpc.json,
and their abuse limits."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, route
from litestar.enums import HttpMethod
from litestar.exceptions import PermissionDeniedException
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from consent_svc.domain.network import truncate_ip
from consent_svc.domain.records import ReceiptRow, SiteRow
from consent_svc.http.deps import Ctx
from consent_svc.http.ratelimit import Clock, TokenBuckets
from consent_svc.service import banner
from consent_svc.service.inputs import BannerConsentIn

AnyRequest = Request[Any, Any, Any]
BANNER_JS = Path(__file__).resolve().parents[1] / "web" / "banner.js"
PUBLIC_BODY_LIMIT = 4 * 1024


class ReceiptOut(msgspec.Struct, frozen=True, kw_only=True):
    """A banner choice's receipt, which the visitor can quote by its consent id."""

    consent_id: UUID
    recorded_at: datetime
    expires_at: datetime
    categories: dict[str, bool]
    banner_version: int
    gpc: bool
    action: str
    language: str
    linked_to_subject: bool

    @classmethod
    def from_domain(cls, r: ReceiptRow) -> ReceiptOut:
        return cls(
            consent_id=r.id, recorded_at=r.recorded_at, expires_at=r.expires_at, categories=r.categories,
            banner_version=r.banner_version, gpc=r.gpc, action=r.action, language=r.language,
            linked_to_subject=r.subject_id is not None,
        )  # fmt: skip


class BannerCategoryOut(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    required: bool
    sale_or_share: bool
    title: dict[str, str]
    description: dict[str, str]


class BannerConfigOut(msgspec.Struct, frozen=True, kw_only=True):
    """What banner.js shows: the categories with their texts, the version a choice names, its validity."""

    categories: list[BannerCategoryOut]
    banner_version: int
    validity_days: int

    @classmethod
    def from_domain(cls, site: SiteRow) -> BannerConfigOut:
        return cls(
            categories=[msgspec.convert(c, BannerCategoryOut) for c in site.categories],
            banner_version=site.banner_version,
            validity_days=site.validity_days,
        )


class GpcOut(msgspec.Struct, frozen=True):
    """/.well-known/gpc.json (the GPC specification's field names)."""

    gpc: bool
    lastUpdate: str  # the name the GPC specification gives


class BannerLimits:
    """Per process: choices per truncated client address (a burst of 20, then one every 2 s) and per
    site (a burst of 500, then 100 a second: a real traffic peak, not a script). docs/banner.md."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.per_client = TokenBuckets(capacity=20, per_second=0.5, clock=clock)
        self.per_site = TokenBuckets(capacity=500, per_second=100, clock=clock)

    def admit(self, site_key: str, address: str | None) -> None:
        self.per_client.take(f"{site_key}|{truncate_ip(address)}", "choices from this address")
        self.per_site.take(site_key, "choices for this site")


def cors(site: SiteRow, request: AnyRequest, *, required: bool) -> dict[str, str]:
    """CORS for the site's own origins only. A request from another origin is refused;
    one without an Origin (not a browser) is refused only where ``required``."""
    origin = request.headers.get("origin")
    if origin is None:
        if required:
            raise PermissionDeniedException(detail="send this from a page on one of the site's origins")
        return {}
    if origin.rstrip("/").lower() not in site.origins:
        raise PermissionDeniedException(detail="this origin is not allowed for this site")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


class BannerController(Controller):
    """Public: no key. The site key names the site; its origin list guards the browser calls."""

    path = "/v1/banner/{site_key:str}"
    tags = ["banner"]

    @get("/config", summary="Read a banner's configuration")
    async def config(self, ctx: Ctx, request: AnyRequest, site_key: str) -> Response[BannerConfigOut]:
        """The banner's categories and texts (sv/en) and its banner_version."""
        site = await banner.get_site(ctx, site_key)
        headers = cors(site, request, required=False) | {"Cache-Control": "no-cache"}  # re-ask at once on a new version
        return Response(BannerConfigOut.from_domain(site), headers=headers)

    @post("/consents", status_code=HTTP_201_CREATED, request_max_body_size=PUBLIC_BODY_LIMIT,
          summary="Record a visitor's choice")  # fmt: skip
    async def record(self, ctx: Ctx, request: AnyRequest, site_key: str, data: BannerConsentIn) -> Response[ReceiptOut]:
        """Consents and refusals alike; answers the receipt with its consent_id."""
        site = await banner.get_site(ctx, site_key)
        headers = cors(site, request, required=True)
        address = request.client.host if request.client else None
        limits: BannerLimits = request.app.state.banner_limits
        limits.admit(site_key, address)
        client = banner.Client(
            ip=address,
            user_agent=request.headers.get("user-agent"),
            gpc_header=request.headers.get("sec-gpc", "").strip() == "1",
        )
        receipt = await banner.record(ctx, site_key, data, client)
        return Response(ReceiptOut.from_domain(receipt), status_code=HTTP_201_CREATED, headers=headers)

    @get("/consents/{consent_id:uuid}", summary="Read a consent receipt")
    async def get_receipt(self, ctx: Ctx, request: AnyRequest, site_key: str, consent_id: UUID) -> Response[ReceiptOut]:
        """What a visitor (or a regulator) can quote: date, categories, banner version, GPC, expiry."""
        site = await banner.get_site(ctx, site_key)
        headers = cors(site, request, required=False) | {"Cache-Control": "no-store"}
        return Response(ReceiptOut.from_domain(await banner.receipt(ctx, site_key, consent_id)), headers=headers)

    @route(["/config", "/consents", "/consents/{consent_id:uuid}"], http_method=[HttpMethod.OPTIONS],
           status_code=HTTP_204_NO_CONTENT, include_in_schema=False)  # fmt: skip
    async def preflight(self, ctx: Ctx, request: AnyRequest, site_key: str) -> Response[None]:
        site = await banner.get_site(ctx, site_key)
        headers = cors(site, request, required=True) | {
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=headers)


@get("/banner.js", tags=["banner"], media_type="application/javascript", summary="Load the banner script")
async def banner_js() -> Response[bytes]:
    """The embeddable banner: <script src=".../banner.js" data-site-key="site_..." defer></script>."""
    return Response(BANNER_JS.read_bytes(), media_type="application/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300"})  # fmt: skip


@get("/.well-known/gpc.json", tags=["banner"], summary="Read the Global Privacy Control statement")
async def gpc_json(ctx: Ctx, request: AnyRequest) -> Response[GpcOut]:
    """For the tenant domains configured on a site."""
    host = (request.headers.get("host") or "").split(":")[0].lower()
    site = await banner.gpc_site_for_host(ctx, host)
    document = GpcOut(gpc=True, lastUpdate=site.updated_at.date().isoformat())
    return Response(document, headers={"Cache-Control": "public, max-age=3600"})
