"""Banner sites (admin), the public banner endpoints with per-site CORS, banner.js and gpc.json."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, put, route
from litestar.enums import HttpMethod
from litestar.exceptions import PermissionDeniedException
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from consent_svc.domain.records import ReceiptRow, SiteRow
from consent_svc.http.auth import ctx_of, principal_of
from consent_svc.service import banner
from consent_svc.service.inputs import BannerConsentIn, ReceiptLinkIn, SiteIn

AnyRequest = Request[Any, Any, Any]
BANNER_JS = Path(__file__).resolve().parents[1] / "web" / "banner.js"
PUBLIC_BODY_LIMIT = 4 * 1024


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


def _site_out(site: SiteRow) -> SiteOut:
    return SiteOut(**{f: getattr(site, f) for f in SiteOut.__struct_fields__})


class ReceiptOut(msgspec.Struct, frozen=True, kw_only=True):
    consent_id: UUID
    recorded_at: datetime
    expires_at: datetime
    categories: dict[str, bool]
    banner_version: int
    gpc: bool
    action: str
    language: str
    linked_to_subject: bool


def _receipt_out(r: ReceiptRow) -> ReceiptOut:
    return ReceiptOut(
        consent_id=r.id, recorded_at=r.recorded_at, expires_at=r.expires_at, categories=r.categories,
        banner_version=r.banner_version, gpc=r.gpc, action=r.action, language=r.language,
        linked_to_subject=r.subject_id is not None,
    )  # fmt: skip


class SiteController(Controller):
    path = "/v1/sites"
    tags = ["banner"]

    @post("/", opt={"scope": "admin"}, status_code=HTTP_201_CREATED)
    async def create_site(self, request: AnyRequest, data: SiteIn) -> SiteOut:
        """Register a website: its origins, banner categories with sv/en texts, and how long a choice lasts."""
        return _site_out(await banner.create_site(ctx_of(request), principal_of(request).tenant_id, data))

    @get("/", opt={"scope": "admin"})
    async def list_sites(self, request: AnyRequest) -> list[SiteOut]:
        return [_site_out(s) for s in await banner.list_sites(ctx_of(request), principal_of(request).tenant_id)]

    @get("/{site_key:str}", opt={"scope": "admin"})
    async def get_site(self, request: AnyRequest, site_key: str) -> SiteOut:
        return _site_out(await banner.get_site(ctx_of(request), site_key, principal_of(request).tenant_id))

    @put("/{site_key:str}", opt={"scope": "admin"}, status_code=HTTP_200_OK)
    async def replace_site(self, request: AnyRequest, site_key: str, data: SiteIn) -> SiteOut:
        """Replace the configuration; banner_version goes up when categories or texts change."""
        site = await banner.replace_site(ctx_of(request), principal_of(request).tenant_id, site_key, data)
        return _site_out(site)

    @post("/{site_key:str}/consents/{consent_id:uuid}/subject", opt={"scope": "record"}, status_code=HTTP_200_OK)
    async def link_receipt(
        self, request: AnyRequest, site_key: str, consent_id: UUID, data: ReceiptLinkIn
    ) -> ReceiptOut:
        """Link a receipt to a known person (it appears in their export; a marketing refusal becomes an objection)."""
        linked = await banner.link(ctx_of(request), principal_of(request).tenant_id, site_key, consent_id, data.subject)
        return _receipt_out(linked)


def _cors(site: SiteRow, request: AnyRequest, *, required: bool) -> dict[str, str]:
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

    @get("/config")
    async def config(self, request: AnyRequest, site_key: str) -> Response[dict[str, object]]:
        """The banner's categories and texts (sv/en) and its banner_version."""
        site = await banner.get_site(ctx_of(request), site_key)
        headers = _cors(site, request, required=False) | {
            "Cache-Control": "no-cache"
        }  # re-ask at once on a new version
        return Response(banner.site_texts(site), headers=headers)

    @post("/consents", status_code=HTTP_201_CREATED, request_max_body_size=PUBLIC_BODY_LIMIT)
    async def record(self, request: AnyRequest, site_key: str, data: BannerConsentIn) -> Response[ReceiptOut]:
        """Record a choice (consents and refusals alike); answers the receipt with its consent_id."""
        ctx = ctx_of(request)
        site = await banner.get_site(ctx, site_key)
        headers = _cors(site, request, required=True)
        client = banner.Client(
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            gpc_header=request.headers.get("sec-gpc", "").strip() == "1",
        )
        receipt = await banner.record(ctx, site_key, data, client)
        return Response(_receipt_out(receipt), status_code=HTTP_201_CREATED, headers=headers)

    @get("/consents/{consent_id:uuid}")
    async def get_receipt(self, request: AnyRequest, site_key: str, consent_id: UUID) -> Response[ReceiptOut]:
        """A receipt a visitor (or a regulator) can quote: date, categories, banner version, GPC, expiry."""
        ctx = ctx_of(request)
        site = await banner.get_site(ctx, site_key)
        headers = _cors(site, request, required=False) | {"Cache-Control": "no-store"}
        return Response(_receipt_out(await banner.receipt(ctx, site_key, consent_id)), headers=headers)

    @route(["/config", "/consents", "/consents/{consent_id:uuid}"], http_method=[HttpMethod.OPTIONS],
           status_code=HTTP_204_NO_CONTENT, include_in_schema=False)  # fmt: skip
    async def preflight(self, request: AnyRequest, site_key: str) -> Response[None]:
        site = await banner.get_site(ctx_of(request), site_key)
        headers = _cors(site, request, required=True) | {
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=headers)


@get("/banner.js", tags=["banner"], media_type="application/javascript")
async def banner_js() -> Response[bytes]:
    """The embeddable banner: <script src=".../banner.js" data-site-key="site_..." defer></script>."""
    return Response(BANNER_JS.read_bytes(), media_type="application/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300"})  # fmt: skip


@get("/.well-known/gpc.json", tags=["banner"])
async def gpc_json(request: AnyRequest) -> Response[dict[str, object]]:
    """Global Privacy Control support statement, for the tenant domains configured on a site."""
    host = (request.headers.get("host") or "").split(":")[0].lower()
    document = await banner.gpc_document_for_host(ctx_of(request), host)
    return Response(document, headers={"Cache-Control": "public, max-age=3600"})
