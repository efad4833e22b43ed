"""Re-permission after a material change: who needs it, links to ask for it, and the public ``/r/{token}`` page."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import MediaType
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_404_NOT_FOUND

from consent_svc.domain.errors import NotFound
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.http.purposes import KeyInPath
from consent_svc.http.signups import client_of, html, link_limits, page_language
from consent_svc.http.unsubscribe import PUBLIC_BODY_LIMIT, _form, _same_origin
from consent_svc.service import reconsent
from consent_svc.service.inputs import ReconsentLinkIn
from consent_svc.web import signup_pages

AnyRequest = Request[Any, Any, Any]


class ReconsentNeedOut(msgspec.Struct, frozen=True, kw_only=True):
    """A subject whose consent counts only until ``deadline`` (it names a superseded notice)."""

    subject_id: UUID
    deadline: datetime
    notice_version: str | None

    @classmethod
    def from_domain(cls, need: reconsent.Need) -> ReconsentNeedOut:
        return cls(subject_id=need.subject_id, deadline=need.deadline, notice_version=need.notice_version)


class ReconsentNeedList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ReconsentNeedOut]
    next_cursor: str | None


class ReconsentLinkOut(msgspec.Struct, frozen=True, kw_only=True):
    link_id: UUID
    url: str
    expires_at: datetime

    @classmethod
    def from_domain(cls, link: reconsent.Link) -> ReconsentLinkOut:
        return cls(link_id=link.id, url=link.url, expires_at=link.expires_at)


class ReconsentController(Controller):
    tags = ["reconsent"]
    opt = {"scope": "record"}

    @get("/v1/purposes/{key:str}/reconsent", summary="List the subjects who need to consent again")
    async def needing(
        self, ctx: Ctx, tenant_id: TenantId, key: KeyInPath, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> ReconsentNeedList:
        """Subjects whose consent counts only until a pending re-consent deadline, in subject id order.
        A request judges a bounded number of subjects: a page may be short (even empty) while
        next_cursor is not null; follow it to the end."""
        page = await reconsent.needing(ctx, tenant_id, key, decode_cursor(cursor, UUID), limit)
        return ReconsentNeedList(
            items=[ReconsentNeedOut.from_domain(n) for n in page.items], next_cursor=encode_cursor(page.after)
        )

    @post("/v1/reconsent-links", status_code=HTTP_201_CREATED, summary="Make a re-permission link")
    async def create_link(self, ctx: Ctx, tenant_id: TenantId, data: ReconsentLinkIn) -> ReconsentLinkOut:
        """A signed, single-use link (30 days) for a known subject: its page shows the purpose's current
        notice and records a consent on it with one POST."""
        link = await reconsent.create_link(
            ctx, tenant_id, email=data.email, subject_id=data.subject_id, purpose=data.purpose
        )
        return ReconsentLinkOut.from_domain(link)


class ReconsentPagesController(Controller):
    """No key: the signed token is the capability. GET shows and changes nothing; POST records."""

    path = "/r"
    tags = ["reconsent"]

    @get("/{token:str}", media_type=MediaType.HTML, summary="Show a re-permission page")
    async def page(self, ctx: Ctx, request: AnyRequest, token: str) -> Response[str]:
        """The purpose's current notice text with an "I agree" button (sv/en, ?lang=)."""
        link_limits(request).admit(request, token)
        lang = page_language(request, "sv")
        try:
            view = await reconsent.view(ctx, token)
        except NotFound:
            return html(signup_pages.invalid_link_page(lang), HTTP_404_NOT_FOUND)
        if view.state == "pending":
            return html(signup_pages.reconsent_page(lang, view.branding, view.purpose, token))
        key = "reconsent_used" if view.state == "used" else "reconsent_expired"
        return html(signup_pages.reconsent_result_page(lang, view.branding, key))

    @post("/{token:str}", media_type=MediaType.HTML, status_code=HTTP_200_OK, request_max_body_size=PUBLIC_BODY_LIMIT,
          summary="Consent on a purpose's current notice")  # fmt: skip
    async def accept(self, ctx: Ctx, request: AnyRequest, token: str) -> Response[str]:
        """Records a consent on the notice the page showed; only from the page's own origin."""
        link_limits(request).admit(request, token)
        _same_origin(request, ctx.settings.public_url)
        form = await _form(request)
        lang = page_language(request, "sv", form.get("lang"))
        try:
            found, done = await reconsent.accept(ctx, token, client_of(request), form.get("notice_version"))
        except NotFound:
            return html(signup_pages.invalid_link_page(lang), HTTP_404_NOT_FOUND)
        if done:
            return html(signup_pages.reconsent_result_page(lang, found.branding, "reconsent_done"))
        if found.state == "pending":  # the notice changed since the page was shown: show the new one
            return html(signup_pages.reconsent_page(lang, found.branding, found.purpose, token))
        key = "reconsent_used" if found.state == "used" else "reconsent_expired"
        return html(signup_pages.reconsent_result_page(lang, found.branding, key))
