"""Unsubscribe links, the public one-click and preference pages, tenant branding."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.enums import MediaType
from litestar.exceptions import ClientException
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from consent_svc.domain.errors import InvalidInput
from consent_svc.http.auth import ctx_of, principal_of
from consent_svc.service import tenants, unsubscribe
from consent_svc.service.inputs import BrandingIn, Proof, UnsubscribeIn, UnsubscribeLinkIn
from consent_svc.web import pages

AnyRequest = Request[Any, Any, Any]
PUBLIC_BODY_LIMIT = 16 * 1024
# The pages hold a capability (the token): keep them out of caches and referrers.
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


class LinkOut(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    headers: dict[str, str]


class UnsubscribeOut(msgspec.Struct, frozen=True, kw_only=True):
    unsubscribed: bool
    already: bool


class BrandingOut(msgspec.Struct, frozen=True, kw_only=True):
    display_name: str | None
    logo_url: str | None
    primary_color: str | None
    privacy_policy_url: str | None
    unsubscribe_mailto: str | None


def _branding_out(row: Any) -> BrandingOut:
    return BrandingOut(
        display_name=row.display_name, logo_url=row.logo_url, primary_color=row.primary_color,
        privacy_policy_url=row.privacy_policy_url, unsubscribe_mailto=row.unsubscribe_mailto,
    )  # fmt: skip


class UnsubscribeApiController(Controller):
    tags = ["unsubscribe"]

    @post("/v1/unsubscribe-links", opt={"scope": "record"}, status_code=HTTP_201_CREATED)
    async def create_link(self, request: AnyRequest, data: UnsubscribeLinkIn) -> LinkOut:
        """A signed unsubscribe link for a recipient, with the List-Unsubscribe headers to put in the email."""
        link = await unsubscribe.create_link(
            ctx_of(request), principal_of(request).tenant_id, email=data.email, subject_id=data.subject_id,
            purpose=data.purpose,
        )  # fmt: skip
        return LinkOut(url=link.url, headers=link.headers)

    @post("/v1/unsubscribes", opt={"scope": "record"}, status_code=HTTP_200_OK)
    async def unsubscribe_address(self, request: AnyRequest, data: UnsubscribeIn) -> UnsubscribeOut:
        """Record an unsubscribe received for an address (the mailto: half of List-Unsubscribe)."""
        changed = await unsubscribe.unsubscribe_address(
            ctx_of(request), principal_of(request).tenant_id, data.email, data.purpose, data.note or "mailto"
        )
        return UnsubscribeOut(unsubscribed=True, already=not changed)

    @get("/v1/branding", opt={"scope": "admin"})
    async def get_branding(self, request: AnyRequest) -> BrandingOut:
        return _branding_out(await tenants.get_branding(ctx_of(request), principal_of(request).tenant_id))

    @put("/v1/branding", opt={"scope": "admin"}, status_code=HTTP_200_OK)
    async def put_branding(self, request: AnyRequest, data: BrandingIn) -> BrandingOut:
        """Name, logo, primary colour, privacy-policy link and unsubscribe mailbox shown on the preference page."""
        return _branding_out(await tenants.set_branding(ctx_of(request), principal_of(request).tenant_id, data))


def _html(body: str) -> Response[str]:
    return Response(body, media_type=MediaType.HTML, headers=PAGE_HEADERS)


def _lang(request: AnyRequest, form_lang: str | None = None) -> pages.Lang:
    return pages.pick_language(form_lang or request.query_params.get("lang"), request.headers.get("accept-language"))


class PublicPagesController(Controller):
    """No key: the signed token in the path is the capability. Any bad token is a plain 404."""

    path = "/u"
    tags = ["unsubscribe"]
    include_in_schema = True

    @get("/{token:str}", media_type=MediaType.HTML)
    async def page(self, request: AnyRequest, token: str) -> Response[str]:
        """The preference center (Swedish or English by Accept-Language; ?lang= overrides)."""
        _admit(request, token, one_click=False)
        view = await unsubscribe.preferences(ctx_of(request), token)
        return _html(pages.preference_page(_lang(request), view, token))

    @post("/{token:str}", media_type=MediaType.HTML, status_code=HTTP_200_OK, request_max_body_size=PUBLIC_BODY_LIMIT)
    async def one_click(self, request: AnyRequest, token: str) -> Response[str]:
        """RFC 8058 one-click unsubscribe: body ``List-Unsubscribe=One-Click``, form-encoded or multipart."""
        ctx = ctx_of(request)
        _admit(request, token, one_click=True)  # a bad token is 404 before the body is looked at
        form = await _form(request)
        if form.get("List-Unsubscribe") != "One-Click":
            raise InvalidInput.field("List-Unsubscribe", "must be One-Click (RFC 8058)")
        await unsubscribe.one_click(ctx, token)
        view = await unsubscribe.preferences(ctx, token)
        return _html(pages.one_click_page(_lang(request), view))

    @post("/{token:str}/preferences", media_type=MediaType.HTML, status_code=HTTP_200_OK,
          request_max_body_size=PUBLIC_BODY_LIMIT)  # fmt: skip
    async def save(self, request: AnyRequest, token: str) -> Response[str]:
        """The preference form: ``purpose`` (one per purpose to keep), ``action`` save or unsubscribe_all."""
        ctx = ctx_of(request)
        _admit(request, token, one_click=False)
        form = await _form(request)
        action = form.get("action", "save")
        if action not in ("save", "unsubscribe_all"):
            raise InvalidInput.field("action", "must be save or unsubscribe_all")
        lang = _lang(request, form.get("lang"))
        proof = Proof(
            user_agent=(request.headers.get("user-agent") or "")[:1000] or None,
            form_url=f"{ctx.settings.public_url}/u/{{token}}",
            note="preference center",
        )
        view = await unsubscribe.save_preferences(
            ctx, token, subscribed=set(form.getall("purpose", [])), everything=action == "unsubscribe_all", proof=proof
        )
        org = view.branding.display_name or view.branding.name
        notice = pages.TEXT["done_all" if action == "unsubscribe_all" else "saved"][lang].format(org=org)
        return _html(pages.preference_page(lang, view, token, notice=notice))


def _admit(request: AnyRequest, token: str, *, one_click: bool) -> None:
    limits: unsubscribe.PublicLimits = request.app.state.public_limits
    address = request.client.host if request.client else None
    limits.admit(ctx_of(request), token, address, one_click=one_click)


async def _form(request: AnyRequest) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise ClientException(status_code=415, detail="send application/x-www-form-urlencoded or multipart/form-data")
    return await request.form()
