"""Sign-up forms: configured by an admin (``/v1/forms``), sent by anyone to the public
``POST /f/{form_key}`` (a plain HTML form, or JSON with CORS for the form's origins). docs/forms.md."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, cast
from urllib.parse import quote

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post, route
from litestar.enums import HttpMethod, MediaType
from litestar.exceptions import ClientException, PermissionDeniedException
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
    HTTP_303_SEE_OTHER,
    HTTP_400_BAD_REQUEST,
)

from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.network import truncate_ip
from consent_svc.domain.records import FormRow
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.http.ratelimit import Clock, RateLimited, TokenBuckets
from consent_svc.http.signups import client_of, html, page_language
from consent_svc.service import forms, signups
from consent_svc.service.inputs import FormIn, FormSubmissionIn, Language, SignupIn, SignupProofIn
from consent_svc.web import signup_pages

AnyRequest = Request[Any, Any, Any]
_log = structlog.get_logger("consent_svc.forms")
FORM_BODY_LIMIT = 8 * 1024
HONEYPOT = "website"


class FormOut(msgspec.Struct, frozen=True, kw_only=True):
    """A sign-up form; ``action_url`` is where its page posts (docs/forms.md has the embed snippet)."""

    form_key: str
    name: str
    origins: list[str]
    purposes: list[str]
    fields: list[str]
    success_url: str | None
    language: str
    created_at: datetime
    action_url: str

    @classmethod
    def from_domain(cls, form: FormRow, public_url: str) -> FormOut:
        return cls(
            form_key=form.form_key, name=form.name, origins=form.origins, purposes=form.purposes,
            fields=form.fields, success_url=form.success_url, language=form.language, created_at=form.created_at,
            action_url=f"{public_url}/f/{form.form_key}",
        )  # fmt: skip


class FormList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[FormOut]
    next_cursor: str | None


class SubmissionOut(msgspec.Struct, frozen=True, kw_only=True):
    """The same answer whatever the address (known, new, suppressed, signed up a minute ago)."""

    status: str = "pending"
    message: str


# A plain HTML form is answered with a page or a redirect; the JSON route with this Struct.
Answer = Response[SubmissionOut]


class FormController(Controller):
    path = "/v1/forms"
    tags = ["forms"]
    opt = {"scope": "admin"}

    @post("/", status_code=HTTP_201_CREATED, summary="Create a sign-up form")
    async def create(self, ctx: Ctx, tenant_id: TenantId, data: FormIn) -> FormOut:
        """Its purposes must use email (sign-ups are confirmed by email); origins guard the JSON route."""
        return FormOut.from_domain(await forms.create(ctx, tenant_id, data), ctx.settings.public_url)

    @get("/", summary="List the sign-up forms")
    async def list_forms(
        self, ctx: Ctx, tenant_id: TenantId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> FormList:
        """In form key order."""
        page = await forms.list_page(ctx, tenant_id, decode_cursor(cursor, str), limit)
        return FormList(
            items=[FormOut.from_domain(f, ctx.settings.public_url) for f in page.items],
            next_cursor=encode_cursor(page.after),
        )

    @get("/{form_key:str}", summary="Read a sign-up form")
    async def read(self, ctx: Ctx, tenant_id: TenantId, form_key: str) -> FormOut:
        return FormOut.from_domain(await forms.get(ctx, form_key, tenant_id), ctx.settings.public_url)


class FormLimits:
    """Per process (docs/forms.md): per form a burst of 100, then 5 a second; per client address (cut
    to its /24 or /48) and form a burst of 10, then one a minute; per email address a burst of 2, then
    one every 10 minutes. The first two answer 429; the per-address one answers as if accepted and does
    nothing (a 429 there would tell a stranger that the address was just signed up)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.per_form = TokenBuckets(capacity=100, per_second=5.0, clock=clock)
        self.per_client = TokenBuckets(capacity=10, per_second=1 / 60, clock=clock)
        self.per_address = TokenBuckets(capacity=2, per_second=1 / 600, clock=clock)

    def admit(self, form_key: str, client: str | None) -> None:
        self.per_client.take(f"{form_key}|{truncate_ip(client)}", "sign-ups from this address")
        self.per_form.take(form_key, "sign-ups for this form")

    def address_allowed(self, form_key: str, address_key: bytes) -> bool:
        try:
            self.per_address.take(f"{form_key}|{address_key.hex()}", "sign-ups for this address")
        except RateLimited:  # silently dropped, see the class docstring
            return False
        return True


def _cors(form: FormRow, request: AnyRequest, *, required: bool) -> dict[str, str]:
    """CORS for the form's origins only; ``Origin: null`` (a no-referrer page) is refused too."""
    origin = request.headers.get("origin")
    if origin is None:
        if required:
            raise PermissionDeniedException(detail="send this from a page on one of the form's origins")
        return {}
    if origin.rstrip("/").lower() not in form.origins:
        raise PermissionDeniedException(detail="this origin is not allowed for this form")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _kind(request: AnyRequest) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return "json"
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return "form"
    raise ClientException(
        status_code=415, detail="send application/x-www-form-urlencoded, multipart/form-data or application/json"
    )


async def _submission(request: AnyRequest, kind: str, form: FormRow) -> FormSubmissionIn:
    if kind == "json":
        try:
            return msgspec.json.decode(await request.body(), type=FormSubmissionIn)
        except msgspec.ValidationError as exc:
            raise InvalidInput(str(exc)) from None
        except msgspec.DecodeError:
            raise InvalidInput("the body is not JSON") from None
    data = await request.form()
    email = (data.get("email") or "").strip()
    if not email:
        raise InvalidInput.field("email", "is required")
    phone = (data.get("phone") or "").strip() or None
    return FormSubmissionIn(email=email[:320], phone=phone[:64] if phone else None, website=data.get(HONEYPOT) or None)


class PublicFormController(Controller):
    """No key: the form key names the form; its origins guard the browser calls."""

    path = "/f/{form_key:str}"
    tags = ["forms"]

    @post("/", request_max_body_size=FORM_BODY_LIMIT, status_code=HTTP_202_ACCEPTED,
          summary="Sign up with a form")  # fmt: skip
    async def submit(self, ctx: Ctx, request: AnyRequest, form_key: str) -> Response[SubmissionOut]:
        """A plain HTML form (urlencoded or multipart: a 303 to the success page) or JSON (202, CORS for
        the form's origins). Always the same answer whether the address is known or not."""
        form = await forms.get(ctx, form_key)
        kind = _kind(request)
        headers = _cors(form, request, required=kind == "json")
        lang = page_language(request, form.language)
        limits: FormLimits = request.app.state.form_limits
        client = client_of(request)
        limits.admit(form_key, client.ip)
        try:
            sent = await _submission(request, kind, form)
            if sent.phone is not None and "phone" not in form.fields:
                raise InvalidInput.field("phone", "this form does not take a phone number")
            if sent.website:
                _log.info("form honeypot filled", form_key=form_key)  # answered as accepted, nothing kept
            elif limits.address_allowed(form_key, ctx.hasher.key(signups.email_identifier(sent.email))):
                proof = SignupProofIn(form_url=(request.headers.get("referer") or "")[:2000] or None)
                language: Language = "en" if form.language == "en" else "sv"
                body = SignupIn(
                    email=sent.email, phone=sent.phone, purposes=form.purposes, language=language, proof=proof
                )
                await signups.start(ctx, form.tenant_id, body, client=client, form_key=form_key)
        except InvalidInput as exc:
            if kind == "json":
                raise
            branding = await forms.branding(ctx, form)
            page = signup_pages.form_error_page(lang, branding, exc.errors[0].message if exc.errors else exc.detail)
            return cast(Answer, Response(page, media_type=MediaType.HTML, status_code=HTTP_400_BAD_REQUEST))
        if kind == "json":
            message = signup_pages.TEXT["thanks"][lang]
            return Response(SubmissionOut(message=message), status_code=HTTP_202_ACCEPTED, headers=headers)
        target = form.success_url or f"/f/{quote(form_key)}/thanks?lang={lang}"
        see_other = {**headers, "Location": target, "Cache-Control": "no-store"}
        return cast(Answer, Response(None, status_code=HTTP_303_SEE_OTHER, headers=see_other))

    @get("/thanks", media_type=MediaType.HTML, summary="Show a sign-up form's thank-you page")
    async def thanks(self, ctx: Ctx, request: AnyRequest, form_key: str) -> Response[str]:
        """Tells the person to look for the confirmation email."""
        form = await forms.get(ctx, form_key)
        return html(signup_pages.thanks_page(page_language(request, form.language), await forms.branding(ctx, form)))

    @route("/", http_method=[HttpMethod.OPTIONS], status_code=HTTP_204_NO_CONTENT, include_in_schema=False)
    async def preflight(self, ctx: Ctx, request: AnyRequest, form_key: str) -> Response[None]:
        form = await forms.get(ctx, form_key)
        headers = _cors(form, request, required=True) | {
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=headers)
