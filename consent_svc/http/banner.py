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

from consent_svc.domain.errors import DomainError
from consent_svc.domain.network import truncate_ip
from consent_svc.domain.records import ReceiptRow, SiteRow
from consent_svc.http.deps import Ctx
from consent_svc.http.problems import domain_problem
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
    origin: str | None = None  # the page origin the choice came from (null before 0014)
    texts_hash: str | None = None  # SHA-256 (hex) of the version's texts in this language: see /versions/{n}

    @classmethod
    def from_domain(cls, r: ReceiptRow) -> ReceiptOut:
        return cls(
            consent_id=r.id, recorded_at=r.recorded_at, expires_at=r.expires_at, categories=r.categories,
            banner_version=r.banner_version, gpc=r.gpc, action=r.action, language=r.language,
            linked_to_subject=r.subject_id is not None, origin=r.origin,
            texts_hash=r.texts_hash.hex() if r.texts_hash is not None else None,
        )  # fmt: skip


class BannerCategoryOut(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    required: bool
    sale_or_share: bool
    title: dict[str, str]
    description: dict[str, str]
    third_parties: list[str] = []
    lifetime: dict[str, str] | None = None
    cookies: list[str] = []  # deleted by banner.js when the category is refused or withdrawn


class ReopenOut(msgspec.Struct, frozen=True, kw_only=True):
    position: str
    own_link: bool


class GoogleConsentModeOut(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool
    region: list[str]
    wait_for_update: int
    mapping: dict[str, list[str]]


class BannerConfigOut(msgspec.Struct, frozen=True, kw_only=True):
    """What banner.js shows: the first layer's texts per language, the categories, the version a
    choice names, its validity, and the script's options."""

    site_key: str
    categories: list[BannerCategoryOut]
    banner_version: int
    validity_days: int
    languages: list[str]
    default_language: str
    texts: dict[str, dict[str, str]]
    texts_hash: dict[str, str]
    policy_url: str | None
    controller: str
    reopen: ReopenOut
    google_consent_mode: GoogleConsentModeOut | None
    meta_pixel: bool

    @classmethod
    def from_domain(cls, site: SiteRow, hashes: dict[str, str]) -> BannerConfigOut:
        o = banner.options_of(site)
        documents = banner.shown(site)
        gcm = o.google_consent_mode
        return cls(
            site_key=site.site_key,
            categories=[msgspec.convert(c, BannerCategoryOut) for c in site.categories],
            banner_version=site.banner_version,
            validity_days=site.validity_days,
            languages=o.languages,
            default_language=o.default_language,
            texts={lang: d["texts"] for lang, d in documents.items()},
            texts_hash=hashes,
            policy_url=o.policy_url,
            controller=o.controller,
            reopen=msgspec.convert(o.reopen, ReopenOut),
            google_consent_mode=msgspec.convert(gcm, GoogleConsentModeOut) if gcm and gcm["enabled"] else None,
            meta_pixel=o.meta_pixel,
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
        """The banner's first-layer texts per language, categories, banner_version and options."""
        site, hashes = await banner.config(ctx, site_key)
        headers = cors(site, request, required=False) | {"Cache-Control": "no-cache"}  # re-ask at once on a new version
        return Response(BannerConfigOut.from_domain(site, hashes), headers=headers)

    @get("/banner.js", media_type="application/javascript", summary="Load the banner script with its configuration")
    async def site_script(self, ctx: Ctx, site_key: str) -> Response[bytes]:
        """banner.js with this site's configuration in it, for a synchronous <script> before the tag
        manager: Google Consent Mode's default command runs at once, with no request first."""
        site, hashes = await banner.config(ctx, site_key)
        preset = b"window.consentSvcConfig=" + msgspec.json.encode(BannerConfigOut.from_domain(site, hashes))
        # JSON is a JavaScript expression; escaped further so that the script stays inert text even
        # if someone pastes it into a page inline (no "</script>", "<!--", or line separators).
        for raw, safe in ((b"<", b"\\u003c"), (b">", b"\\u003e"), ("\u2028".encode(), b"\\u2028"),
                          ("\u2029".encode(), b"\\u2029")):  # fmt: skip
            preset = preset.replace(raw, safe)
        return Response(preset + b";\n" + BANNER_JS.read_bytes(),
                        media_type="application/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=60"})  # fmt: skip

    @post("/consents", status_code=HTTP_201_CREATED, request_max_body_size=PUBLIC_BODY_LIMIT,
          summary="Record a visitor's choice")  # fmt: skip
    async def record(self, ctx: Ctx, request: AnyRequest, site_key: str, data: BannerConsentIn) -> Response[ReceiptOut]:
        """Consents and refusals alike; answers the receipt with its consent_id."""
        site = await banner.get_site(ctx, site_key)
        headers = cors(site, request, required=True)
        address = request.client.host if request.client else None
        limits: BannerLimits = request.app.state.banner_limits
        client = banner.Client(
            ip=address,
            user_agent=request.headers.get("user-agent"),
            gpc_header=request.headers.get("sec-gpc", "").strip() == "1",
            origin=headers["Access-Control-Allow-Origin"].rstrip("/").lower(),
        )
        try:
            limits.admit(site_key, address)
            receipt = await banner.record(ctx, site_key, data, client)
        except DomainError as exc:  # readable by banner.js: a 409 makes it load the new texts
            return domain_problem(request, exc, headers)
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
