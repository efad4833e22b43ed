"""Unsubscribe links (record scope), the public one-click and preference pages, and their abuse limits."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import MediaType
from litestar.exceptions import ClientException, HTTPException, PermissionDeniedException
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_400_BAD_REQUEST

from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.network import truncate_ip
from consent_svc.domain.tokens import TokenClaims
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.ratelimit import Clock, RateLimited, TokenBuckets
from consent_svc.service import unsubscribe
from consent_svc.service.inputs import Proof, UnsubscribeIn, UnsubscribeLinkIn
from consent_svc.web import pages

AnyRequest = Request[Any, Any, Any]
PUBLIC_BODY_LIMIT = 16 * 1024
# The pages hold a capability (the token): keep them out of caches and out of
# other sites' referrers. "same-origin", not "no-referrer": with no-referrer,
# browsers send "Origin: null" with the page's own form, and the form's Origin is checked.
# The pages need no script, no frame and no resource but the tenant's https logo.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src https:; "
    "form-action 'self'; frame-ancestors 'none'",
}


class LinkOut(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    headers: dict[str, str]
    # Problems with the link, e.g. that it is not https (RFC 8058 needs https); empty when none.
    warnings: list[str] = []

    @classmethod
    def from_domain(cls, link: unsubscribe.Link) -> LinkOut:
        return cls(url=link.url, headers=link.headers, warnings=link.warnings)


class UnsubscribeOut(msgspec.Struct, frozen=True, kw_only=True):
    unsubscribed: bool
    already: bool


class UnsubscribeApiController(Controller):
    tags = ["unsubscribe"]
    opt = {"scope": "record"}

    @post("/v1/unsubscribe-links", status_code=HTTP_201_CREATED, summary="Make an unsubscribe link for a recipient")
    async def create_link(self, ctx: Ctx, tenant_id: TenantId, data: UnsubscribeLinkIn) -> LinkOut:
        """A signed link, with the List-Unsubscribe headers to put in the email (RFC 8058 one-click)."""
        link = await unsubscribe.create_link(
            ctx, tenant_id, email=data.email, subject_id=data.subject_id, purpose=data.purpose
        )
        return LinkOut.from_domain(link)

    @post("/v1/unsubscribes", status_code=HTTP_200_OK, summary="Record an unsubscribe received by mail")
    async def unsubscribe_address(self, ctx: Ctx, tenant_id: TenantId, data: UnsubscribeIn) -> UnsubscribeOut:
        """For an address (the mailto: half of List-Unsubscribe): withdrawal, objection and suppression."""
        changed = await unsubscribe.unsubscribe_address(ctx, tenant_id, data.email, data.purpose, data.note or "mailto")
        return UnsubscribeOut(unsubscribed=True, already=not changed)


def _html(body: str, status_code: int = HTTP_200_OK) -> Response[str]:
    return Response(body, media_type=MediaType.HTML, headers=PAGE_HEADERS, status_code=status_code)


def _lang(request: AnyRequest, form_lang: str | None = None) -> pages.Lang:
    return pages.pick_language(form_lang or request.query_params.get("lang"), request.headers.get("accept-language"))


def _problem_page(request: AnyRequest, exc: Exception) -> Response[str]:
    """People open these links: a link that does not work, a form that was refused or too many tries
    answer an HTML page in their language (with the same status), not problem+json."""
    lang = _lang(request)
    if isinstance(exc, RateLimited):
        page = _html(pages.problem_page(lang, "busy"), status_code=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if isinstance(exc, NotFound):
        return _html(pages.problem_page(lang, "broken"), status_code=404)
    status = exc.status_code if isinstance(exc, HTTPException) else HTTP_400_BAD_REQUEST
    if status >= 500:
        raise exc  # the application's own handler logs it and answers
    return _html(pages.problem_page(lang, "refused"), status_code=status)


class PublicPagesController(Controller):
    """No key: the signed token in the path is the capability. Any bad token is a plain 404
    (an HTML page that says the link does not work)."""

    path = "/u"
    tags = ["unsubscribe"]
    include_in_schema = True
    exception_handlers = {
        NotFound: _problem_page, InvalidInput: _problem_page, RateLimited: _problem_page,
        ClientException: _problem_page, PermissionDeniedException: _problem_page,
    }  # fmt: skip

    @get("/{token:str}", media_type=MediaType.HTML, summary="Show the preference center")
    async def page(self, ctx: Ctx, request: AnyRequest, token: str) -> Response[str]:
        """Swedish or English by Accept-Language (?lang= overrides); plain HTML, no script."""
        _limits(request).admit_page(ctx, token, _address(request))
        view = await unsubscribe.preferences(ctx, token)
        return _html(pages.preference_page(_lang(request), view, token, unsubscribe.form_nonce(ctx, token)))

    @post("/{token:str}", media_type=MediaType.HTML, status_code=HTTP_200_OK, request_max_body_size=PUBLIC_BODY_LIMIT,
          summary="Unsubscribe with one click (RFC 8058)")  # fmt: skip
    async def one_click(self, ctx: Ctx, request: AnyRequest, token: str) -> Response[str]:
        """Body ``List-Unsubscribe=One-Click``, form-encoded or multipart. A well-formed one is never
        refused by a limiter; malformed ones count against the client address."""
        limits, address = _limits(request), _address(request)
        limits.admit_one_click(ctx, token, address)  # a bad token is 404 before the body is looked at
        try:
            form = await _form(request)
            if form.get("List-Unsubscribe") != "One-Click":
                raise InvalidInput.field("List-Unsubscribe", "must be One-Click (RFC 8058)")
        except (HTTPException, InvalidInput):
            limits.malformed(address)  # 429 once the address has sent too many
            raise
        await unsubscribe.one_click(ctx, token)
        return _html(pages.one_click_page(_lang(request), await unsubscribe.confirmation(ctx, token)))

    @post("/{token:str}/preferences", media_type=MediaType.HTML, status_code=HTTP_200_OK,
          request_max_body_size=PUBLIC_BODY_LIMIT, summary="Save the preference center's choices")  # fmt: skip
    async def save(self, ctx: Ctx, request: AnyRequest, token: str) -> Response[str]:
        """The preference form: ``purpose`` (one per purpose to keep), ``action`` save, unsubscribe_all or
        unsubscribe_purpose (the link's own purpose, in one step),
        and the page's ``nonce``. Only from the page's own origin (403 otherwise). Without a genuine
        nonce nothing changes (400, the page again); with an expired one, opt-outs are saved and
        re-subscribes wait for the form to be sent again."""
        _limits(request).admit_page(ctx, token, _address(request))
        _same_origin(request, ctx.settings.public_url)
        form = await _form(request)
        action = form.get("action", "save")
        if action not in ("save", "unsubscribe_all", "unsubscribe_purpose"):
            raise InvalidInput.field("action", "must be save, unsubscribe_all or unsubscribe_purpose")
        lang = _lang(request, form.get("lang"))
        if action == "unsubscribe_purpose":  # one step out of the link's purpose: taking out needs no nonce
            view = await unsubscribe.unsubscribe_link_purpose(ctx, token, _proof(ctx, request))
            assert view.link_purpose is not None
            done = pages.TEXT["one_click_purpose"][lang].format(purpose=pages.purpose_title(view.link_purpose, lang))
            return _html(pages.preference_page(lang, view, token, unsubscribe.form_nonce(ctx, token), notice=done))
        ticked = set(form.getall("purpose", []))
        state = unsubscribe.nonce_state(ctx, token, form.get("nonce"))
        if state == "invalid":
            view = await unsubscribe.preferences(ctx, token)
            page = pages.preference_page(lang, view, token, unsubscribe.form_nonce(ctx, token),
                                         notice=pages.TEXT["unchecked"][lang], ticked=ticked, again=True)  # fmt: skip
            return _html(page, HTTP_400_BAD_REQUEST)
        proof = _proof(ctx, request)
        saved = await unsubscribe.save_preferences(
            ctx, token, subscribed=ticked, everything=action == "unsubscribe_all", proof=proof,
            resubscribe=state == "valid",
        )  # fmt: skip
        nonce = unsubscribe.form_nonce(ctx, token)
        if saved.withheld:
            page = pages.preference_page(lang, saved.view, token, nonce, notice=pages.TEXT["stale"][lang],
                                         ticked=ticked, again=True)  # fmt: skip
            return _html(page)
        org = saved.view.branding.display_name or saved.view.branding.name
        notice = pages.TEXT["done_all" if action == "unsubscribe_all" else "saved"][lang].format(org=org)
        return _html(pages.preference_page(lang, saved.view, token, nonce, notice=notice))


def _proof(ctx: Ctx, request: AnyRequest) -> Proof:
    return Proof(
        ip=truncate_ip(_address(request)),
        user_agent=(request.headers.get("user-agent") or "")[:1000] or None,
        form_url=f"{ctx.settings.public_url}/u/{{token}}",
        note="preference center",
    )


def _limits(request: AnyRequest) -> PublicLimits:
    limits: PublicLimits = request.app.state.public_limits
    return limits


def _address(request: AnyRequest) -> str | None:
    return request.client.host if request.client else None


def _origin_of(url: str) -> str:
    """The serialized origin of a URL, as a browser sends it in ``Origin``."""
    parts = urlsplit(url)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def _same_origin(request: AnyRequest, public_url: str) -> None:
    """Refuse (403) a form sent from anywhere but the page itself. Browsers say where a request
    comes from: ``Sec-Fetch-Site`` (must be ``same-origin``) and ``Origin`` (must be the origin
    of CONSENT_PUBLIC_URL; ``null``, which privacy settings may send, only passes beside
    ``Sec-Fetch-Site: same-origin``). A client that sends neither (curl) gets by on the nonce alone."""
    fetch_site = (request.headers.get("sec-fetch-site") or "").strip().lower() or None
    origin = (request.headers.get("origin") or "").strip().lower() or None
    if fetch_site not in (None, "same-origin") or (
        origin not in (None, _origin_of(public_url)) and not (origin == "null" and fetch_site == "same-origin")
    ):
        raise PermissionDeniedException(detail="the preference form can only be sent from its own page")


async def _form(request: AnyRequest) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise ClientException(status_code=415, detail="send application/x-www-form-urlencoded or multipart/form-data")
    return await request.form()


class PublicLimits:
    """Abuse limits for the public ``/u/`` pages, per process (docs/unsubscribe.md).

    A well-formed one-click unsubscribe is never limited: mailbox providers
    send RFC 8058 requests from shared servers, and a refused one could be an
    unsubscribe lost. It is idempotent, so a repeat only finds the work done
    and writes nothing. Requests with links that do not verify, and malformed
    one-clicks (checked before anything is charged), count against the
    client address, as do page views and preference saves, which people make;
    those are also limited per link.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.per_address = TokenBuckets(capacity=60, per_second=1.0, clock=clock)
        self.per_link_page = TokenBuckets(capacity=30, per_second=0.2, clock=clock)

    def _verify(self, ctx: Ctx, token: str, address: str | None) -> TokenClaims:
        try:
            return unsubscribe.claims_of(ctx, token)
        except NotFound:
            self.per_address.take(address or "-", "requests from this address")
            raise

    def admit_page(self, ctx: Ctx, token: str, address: str | None) -> TokenClaims:
        """A page view or a preference save: the token's claims, or NotFound, or RateLimited."""
        claims = self._verify(ctx, token, address)
        self.per_address.take(address or "-", "requests from this address")
        self.per_link_page.take(f"{claims.tenant_id}|{claims.subject_id}|{claims.purpose or '*'}",
                                "requests for this link")  # fmt: skip
        return claims

    def admit_one_click(self, ctx: Ctx, token: str, address: str | None) -> TokenClaims:
        """A one-click: the token's claims or NotFound. A good link is never limited."""
        return self._verify(ctx, token, address)

    def malformed(self, address: str | None) -> None:
        """A one-click request that is not one (wrong type or body): counts against the address."""
        self.per_address.take(address or "-", "requests from this address")
