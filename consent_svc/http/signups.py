"""Double opt-in: ``POST /v1/signups`` (record scope) and the public confirmation page ``/c/{token}``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import MediaType
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_404_NOT_FOUND

from consent_svc.domain.errors import NotFound
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.ratelimit import Clock, TokenBuckets
from consent_svc.http.unsubscribe import PAGE_HEADERS, PUBLIC_BODY_LIMIT, _form, _same_origin
from consent_svc.service import signups
from consent_svc.service.inputs import SignupIn
from consent_svc.web import signup_pages
from consent_svc.web.pages import Lang, pick_language

AnyRequest = Request[Any, Any, Any]


class SignupOut(msgspec.Struct, frozen=True, kw_only=True):
    """A sign-up waiting for its confirmation. ``confirm_url`` is the link sent to the person: never
    show it to whoever filled in the form (that would let anyone confirm any address)."""

    signup_id: UUID
    status: Literal["pending"] = "pending"
    confirm_url: str
    expires_at: datetime
    # How the confirmation goes out: smtp (consent-svc emails it), webhook (a signup.pending message
    # for your provider), none (no webhook wants signup.pending: send confirm_url yourself), quiet
    # (a message went to this address within the quiet period) or suppressed (the address is blocked
    # for every purpose by an entry a confirmation cannot lift: nothing is sent).
    delivery: str

    @classmethod
    def from_domain(cls, started: signups.Started) -> SignupOut:
        return cls(
            signup_id=started.signup_id,
            confirm_url=started.confirm_url,
            expires_at=started.expires_at,
            delivery=started.delivery,
        )


class SignupController(Controller):
    tags = ["signups"]
    opt = {"scope": "record"}

    @post("/v1/signups", status_code=HTTP_202_ACCEPTED, summary="Start a double opt-in sign-up")
    async def start(self, ctx: Ctx, tenant_id: TenantId, data: SignupIn) -> SignupOut:
        """The consents are recorded only when the person confirms by the link sent to their address;
        until then decisions answer confirmation_pending."""
        return SignupOut.from_domain(await signups.start(ctx, tenant_id, data))


def html(body: str, status_code: int = HTTP_200_OK) -> Response[str]:
    return Response(body, media_type=MediaType.HTML, headers=PAGE_HEADERS, status_code=status_code)


def client_of(request: AnyRequest) -> signups.Client:
    return signups.Client(request.client.host if request.client else None, request.headers.get("user-agent"))


def page_language(request: AnyRequest, default: str, form_lang: str | None = None) -> Lang:
    chosen = form_lang or request.query_params.get("lang")
    return pick_language(chosen if chosen in ("sv", "en") else default, None)


class LinkLimits:
    """Per process, for the public ``/c/`` and ``/r/`` pages (docs/forms.md): requests per client
    address (a burst of 60, then one a second; links that do not verify count too) and per link
    (a burst of 30, then one every 5 s)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.per_address = TokenBuckets(capacity=60, per_second=1.0, clock=clock)
        self.per_link = TokenBuckets(capacity=30, per_second=0.2, clock=clock)

    def admit(self, request: AnyRequest, token: str) -> None:
        address = request.client.host if request.client else "-"
        self.per_address.take(address, "requests from this address")
        self.per_link.take(token, "requests for this link")


def link_limits(request: AnyRequest) -> LinkLimits:
    limits: LinkLimits = request.app.state.link_limits
    return limits


class ConfirmPagesController(Controller):
    """No key: the signed token is the capability. GET shows and changes nothing (mail scanners
    fetch links); POST confirms, once."""

    path = "/c"
    tags = ["signups"]

    @get("/{token:str}", media_type=MediaType.HTML, summary="Show a sign-up's confirmation page")
    async def page(self, ctx: Ctx, request: AnyRequest, token: str) -> Response[str]:
        """The purposes signed up for and a Confirm button; used and expired links get a page that says so."""
        link_limits(request).admit(request, token)
        try:
            view = await signups.confirmation(ctx, token)
        except NotFound:
            return html(signup_pages.invalid_link_page(page_language(request, "sv")), HTTP_404_NOT_FOUND)
        lang = page_language(request, view.language)
        if view.state == "pending":
            return html(signup_pages.confirm_page(lang, view.branding, view.purposes, token))
        key = "already" if view.state == "confirmed" else "expired"
        return html(signup_pages.confirm_result_page(lang, view.branding, view.purposes, key))

    @post("/{token:str}", media_type=MediaType.HTML, status_code=HTTP_200_OK, request_max_body_size=PUBLIC_BODY_LIMIT,
          summary="Confirm a sign-up")  # fmt: skip
    async def confirm(self, ctx: Ctx, request: AnyRequest, token: str) -> Response[str]:
        """Records one consent per purpose (double opt-in proof of both steps). Only from the page's
        own origin (403 otherwise)."""
        link_limits(request).admit(request, token)
        _same_origin(request, ctx.settings.public_url)
        form = await _form(request)
        try:
            view, done = await signups.confirm(ctx, token, client_of(request))
        except NotFound:
            return html(signup_pages.invalid_link_page(page_language(request, "sv")), HTTP_404_NOT_FOUND)
        lang = page_language(request, view.language, form.get("lang"))
        key = "confirmed" if done else "already" if view.state == "confirmed" else "expired"
        return html(signup_pages.confirm_result_page(lang, view.branding, view.purposes, key))
