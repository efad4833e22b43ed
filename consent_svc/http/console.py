"""The console under ``/console/`` (docs/console.md): server-rendered pages for privacy officers and
marketers, Jinja2 templates through litestar's template support (autoescaping on).

Access: a signed session cookie (HttpOnly, SameSite=Strict, Secure over https) naming a session
row the server can revoke; every page names the least role that may see it (``opt["console"]``,
domain/console.py), checked by :func:`console_guard`, which also checks the CSRF token of every
POST (the form's ``csrf`` field or an ``X-CSRF-Token`` header). Sign-in and set-up, before a
session exists, carry a double-submit token (a cookie and the same value in the form). Sign-in is
throttled per account and per client address. Every action is written to the audit log; changes to
personal data go through the same service functions as the API, so the ledger records them.

Not in the OpenAPI document: these are pages, not API.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import time
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, UploadFile
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_303_SEE_OTHER

from consent_svc.domain import imports as domain_imports
from consent_svc.domain.console import ROLES, Permission, diff, may, same_token
from consent_svc.domain.errors import Conflict, DomainError, InvalidInput, NotFound, Refused
from consent_svc.domain.identifiers import normalize
from consent_svc.http.deps import Ctx
from consent_svc.http.ratelimit import Clock, RateLimited, TokenBuckets
from consent_svc.http.sites import SiteOut
from consent_svc.http.subjects import SubjectExportOut
from consent_svc.service import (
    banner,
    console,
    dashboard,
    decisions,
    imports,
    integrations,
    ledger,
    purposes,
    subjects,
    suppressions,
    webhooks,
)
from consent_svc.service.context import Context
from consent_svc.service.inputs import PurposeIn, Recipient, SiteIn, SubjectPatchIn, SuppressionIn
from consent_svc.web import console_charts, templates
from consent_svc.web.console_text import SWEDISH, Lang, translate

AnyRequest = Request[Any, Any, Any]
COOKIE = "consent_console"
LOGIN_CSRF_COOKIE = "consent_console_form"
LANG_COOKIE = "consent_console_lang"
FORM_LIMIT = 64 * 1024
STATIC = Path(__file__).resolve().parents[1] / "web" / "console_static"

CONSOLE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

# A chart is a picture: pygal's inline style, no script (docs/adr/0013-console-charts.md).
SVG_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}

DASHBOARD_WORDS: dict[str, Any] = {
    "kinds": dashboard.KINDS, "kind_labels": console_charts.KIND_LABELS,
    "actions": dashboard.ACTIONS, "action_labels": console_charts.ACTION_LABELS,
}  # fmt: skip

SUPPRESSION_REASONS = ("unsubscribe", "objection", "complaint", "hard_bounce", "register", "manual")
# The banner preview: the real banner.js in a page the sites page frames (same origin only).
PREVIEW_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{text}</title></head>
<body><p>{text}</p><script src="/banner.js" data-site-key="{key}" defer></script></body></html>"""
PREVIEW_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'",
    "X-Frame-Options": "SAMEORIGIN",
}

# The pages a role sees in the navigation, in order: (path, label, permission).
NAV: list[tuple[str, str, Permission]] = [
    ("/console/", "Dashboard", "dashboard"),
    ("/console/wash", "List washing", "wash"),
    ("/console/import", "Import", "import"),
    ("/console/purposes", "Purposes", "purposes.read"),
    ("/console/sites", "Sites", "sites.read"),
    ("/console/subjects", "People", "subjects"),
    ("/console/suppressions", "Suppressions", "suppressions"),
    ("/console/webhooks", "Webhooks", "webhooks"),
    ("/console/users", "Users", "users"),
    ("/console/audit", "Audit log", "audit"),
]


def template_engine() -> JinjaTemplateEngine:
    """litestar's Jinja engine over the one environment of every page (web/templates.py)."""
    return JinjaTemplateEngine.from_environment(templates.environment())


WASH_BATCH = 5000
IMPORT_LIMIT = 32 * 1_048_576
CHANNELS = ("email", "sms", "phone", "post")
# What wash.js says, in the page's language.
WASH_TEXTS = {
    "columns": "{n} columns found. Pick the one with the identifier.",
    "choose": "Choose a CSV file first.",
    "progress": "{rows} rows washed ({percent} %)",
    "failed": "Washing stopped:",
    "done": "Done: {rows} rows, {allowed} allowed, in {seconds} s.",
}


class WashBatchIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    channel: Literal["email", "sms", "phone", "post"]
    by: Literal["email", "phone", "external_id"]
    values: Annotated[list[Annotated[str, msgspec.Meta(max_length=320)]], msgspec.Meta(max_length=10_000)]


class WashBatchOut(msgspec.Struct, frozen=True, kw_only=True):
    """Per value, in order: allowed, reason, rule, expires_at (rule and expires_at null when none)."""

    results: list[tuple[bool, str, str | None, datetime | None]]


class NotSignedIn(Exception):
    """No live session: the browser goes to the sign-in page."""


class Forbidden(Exception):
    """Signed in, but the role may not use this page, or a form came without its CSRF token."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class DashboardCache:
    """The dashboard's figures per tenant for a few seconds, so a page and its three charts (four
    requests) count once; per process, at most 1,000 tenants (the least recently used go)."""

    def __init__(self, clock: Clock = time.monotonic, seconds: float = 15.0) -> None:
        self.clock = clock
        self.seconds = seconds
        self._kept: OrderedDict[UUID, tuple[float, dashboard.Dashboard]] = OrderedDict()

    async def get(self, ctx: Context, tenant_id: UUID, *, fresh: bool = False) -> dashboard.Dashboard:
        now = self.clock()
        kept = self._kept.get(tenant_id)
        if kept is not None and not fresh and now - kept[0] < self.seconds:
            return kept[1]
        board = await dashboard.dashboard(ctx, tenant_id)
        self._kept.pop(tenant_id, None)
        self._kept[tenant_id] = (now, board)
        if len(self._kept) > 1000:
            self._kept.popitem(last=False)
        return board


def _board(request: AnyRequest, *, fresh: bool = False) -> Any:
    cache: DashboardCache = request.app.state.console_dashboards
    return cache.get(request.app.state.ctx, _session(request).tenant_id, fresh=fresh)


class ConsoleLimits:
    """Sign-in throttling: after 5 failed sign-ins of an account (tenant and address), or 20 from one
    client address, sign-in is refused (429, the right password too) until the bucket refills, one
    try every 3 minutes (45 s per address). A successful sign-in costs nothing and refills nothing."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.account = TokenBuckets(5, 5 / 900, clock=clock)
        self.address = TokenBuckets(20, 20 / 900, clock=clock)

    def admit(self, account: str, address: str | None) -> None:
        self.address.check(address or "unknown", "failed sign-ins from this address")
        self.account.check(account, "failed sign-ins for this account")

    def failed(self, account: str, address: str | None) -> None:
        self.address.spend(address or "unknown")
        self.account.spend(account)


def _lang(request: AnyRequest) -> Lang:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if wanted in ("sv", "en"):
        return wanted  # type: ignore[return-value]
    for part in (request.headers.get("accept-language") or "").split(","):
        base = part.strip().split(";")[0].split("-")[0].lower()
        if base in ("sv", "en"):
            return base  # type: ignore[return-value]
    return "sv"


T = TypeVar("T")


def _convert(value: Any, type_: type[T]) -> T:
    """A form's fields as the API's input type; what it refuses is a 400 naming the field."""
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None


def _secure(ctx: Context, request: AnyRequest) -> bool:
    return request.url.scheme == "https" or console.console_url(ctx).startswith("https://")


def _session(request: AnyRequest) -> console.Session:
    current: console.Session = request.state.console
    return current


def _page(
    request: AnyRequest, name: str, status_code: int = HTTP_200_OK, cookies: list[Cookie] | None = None, **values: Any
) -> Template:
    lang = _lang(request)
    current: console.Session | None = getattr(request.state, "console", None)
    nav = [(p, label) for p, label, perm in NAV if current and may(current.user.role, perm)]
    cookies = list(cookies or [])
    if request.query_params.get("lang") in ("sv", "en"):
        cookies.append(Cookie(key=LANG_COOKIE, value=lang, path="/console", httponly=True, samesite="strict",
                              secure=_secure(request.app.state.ctx, request), max_age=365 * 86400))  # fmt: skip
    context = {
        "lang": lang, "other_lang": "en" if lang == "sv" else "sv", "path": request.url.path,
        "session": current, "nav": nav, "csrf": current.csrf if current else None, **values,
    }  # fmt: skip
    return Template(name, context=context, status_code=status_code, headers=CONSOLE_HEADERS, cookies=cookies,
                    media_type=MediaType.HTML)  # fmt: skip


async def console_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """A live session whose role may use the page; for a POST, its CSRF token too."""
    needed: Permission | None = handler.opt.get("console")
    if needed is None:
        return
    ctx: Context = connection.app.state.ctx
    current = await console.session(ctx, connection.cookies.get(COOKIE))
    if current is None:
        raise NotSignedIn()
    connection.state.console = current
    if connection.scope.get("method") == "POST":
        token = connection.headers.get("x-csrf-token")
        if token is None:
            form = await Request(connection.scope, connection.receive).form()
            token = form.get("csrf")
        if not same_token(token, current.csrf):
            await console.audit(ctx, current, "csrf.refused", connection.url.path)
            raise Forbidden("csrf")
    if not may(current.user.role, needed):
        await console.audit(ctx, current, "denied", connection.url.path, {"needs": needed})
        raise Forbidden("role")


def _to_login(request: AnyRequest, exc: Exception) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/console/login?next={quote(target, safe='')}", status_code=HTTP_303_SEE_OTHER)


def _forbidden(request: AnyRequest, exc: Exception) -> Response[Any]:
    why = exc.why if isinstance(exc, Forbidden) else "role"
    return _page(request, "console/error.html", 403, title="Not allowed", message=(
        "The form had expired or did not come from this console. Go back, reload the page and try again."
        if why == "csrf" else "Your role does not give access to this page. Ask an administrator if you need it."
    ))  # fmt: skip


def _domain_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    status = {InvalidInput: 400, NotFound: 404, Conflict: 409, Refused: 422, RateLimited: 429}
    code = next((c for t, c in status.items() if isinstance(exc, t)), 400)
    if isinstance(exc, HTTPException):
        code = exc.status_code
        if code >= 500:
            raise exc
    detail = exc.detail if isinstance(exc, DomainError | HTTPException) else str(exc)
    page = _page(request, "console/error.html", code, title="That did not work", message=detail)
    if isinstance(exc, RateLimited):
        page.headers["Retry-After"] = str(exc.retry_after)
    return page


def _form_token() -> str:
    return secrets.token_urlsafe(32)


def _form_cookie(ctx: Context, request: AnyRequest, value: str) -> Cookie:
    return Cookie(key=LOGIN_CSRF_COOKIE, value=value, path="/console", httponly=True, samesite="strict",
                  secure=_secure(ctx, request), max_age=3600)  # fmt: skip


def _check_form_token(request: AnyRequest, given: str | None) -> None:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not same_token(given, expected):
        raise Forbidden("csrf")


def _next(raw: str | None) -> str:
    """Only a path inside the console (never another site)."""
    if raw and raw.startswith("/console/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/console/"


def _address(request: AnyRequest) -> str | None:
    return request.client.host if request.client else None


class ConsolePublicController(Controller):
    """Sign-in, set-up and the stylesheet: no session yet."""

    path = "/console"
    include_in_schema = False
    exception_handlers = {Forbidden: _forbidden, DomainError: _domain_error, HTTPException: _domain_error}

    @get("/login", media_type=MediaType.HTML)
    async def login_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        token = _form_token()
        return _page(request, "console/login.html", form_token=token, next=_next(request.query_params.get("next")),
                     set_done=request.query_params.get("set") == "1",
                     cookies=[_form_cookie(ctx, request, token)])  # fmt: skip

    @post("/login", media_type=MediaType.HTML, status_code=HTTP_200_OK, request_max_body_size=FORM_LIMIT)
    async def login(self, ctx: Ctx, request: AnyRequest) -> Response[Any]:
        form = await request.form()
        _check_form_token(request, form.get("form_token"))
        tenant, email = str(form.get("tenant") or "").strip().lower(), str(form.get("email") or "").strip().lower()
        limits: ConsoleLimits = request.app.state.console_limits
        # The account as sign-in will find it: every spelling of an address (full-width letters,
        # an ideographic full stop ...) counts against one budget; one no address at all shares one.
        try:
            canonical = normalize("email", email).value
        except InvalidInput:
            canonical = ""
        account = f"{tenant}\x00{canonical}"
        limits.admit(account, _address(request))
        try:
            signed = await console.login(
                ctx, tenant, email, str(form.get("password") or ""), str(form.get("code") or "") or None
            )
        except console.LoginFailed:
            limits.failed(account, _address(request))
            token = _form_token()
            return _page(request, "console/login.html", 401, form_token=token, next=_next(form.get("next")),
                         failed=True,
                         tenant=tenant, email=email, cookies=[_form_cookie(ctx, request, token)])  # fmt: skip
        response = Redirect(_next(form.get("next")), status_code=HTTP_303_SEE_OTHER)
        response.set_cookie(COOKIE, signed.cookie, path="/console", httponly=True, samesite="strict",
                            secure=_secure(ctx, request))  # fmt: skip
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
        return response

    @get("/setup/{token:str}", media_type=MediaType.HTML)
    async def setup_page(self, ctx: Ctx, request: AnyRequest, token: str) -> Template:
        user = await console.setup_user(ctx, token)
        secret = console.new_totp_secret()
        form_token = _form_token()
        cookies = [_form_cookie(ctx, request, form_token)]
        return _page(request, "console/setup.html", user=user, token=token, totp_secret=secret, form_token=form_token,
                     totp_uri=console.totp_uri(secret, user), cookies=cookies)  # fmt: skip

    @post("/setup/{token:str}", media_type=MediaType.HTML, status_code=HTTP_200_OK, request_max_body_size=FORM_LIMIT)
    async def setup(self, ctx: Ctx, request: AnyRequest, token: str) -> Response[Any]:
        form = await request.form()
        _check_form_token(request, form.get("form_token"))
        password = str(form.get("password") or "")
        if password != str(form.get("password_again") or ""):
            raise InvalidInput.field("password_again", "the two passwords differ")
        totp = str(form.get("totp_secret") or "") if form.get("use_totp") == "on" else None
        await console.complete_setup(ctx, token, password, totp, str(form.get("code") or "") or None)
        return Redirect("/console/login?set=1", status_code=HTTP_303_SEE_OTHER)

    @get("/static/{name:str}", cache_control=None)
    async def static(self, name: str) -> Response[bytes]:
        types = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
        path = STATIC / name
        if "/" in name or name.startswith(".") or path.suffix not in types or not path.is_file():
            raise NotFound(f"no file {name}")
        headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return Response(path.read_bytes(), media_type=types[path.suffix], headers=headers)


def _site_json(site: Any) -> str:
    """A site's configuration as ``PUT /v1/sites/{site_key}`` takes it (what GET answers, less what
    the service sets itself), for the admin to edit."""
    shown = msgspec.to_builtins(SiteOut.from_domain(site))
    body = {f: shown[f] for f in SiteIn.__struct_fields__ if shown.get(f) is not None}
    return json.dumps(body, ensure_ascii=False, indent=2)


def _int(raw: str | None, field: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput.field(field, "is not a whole number") from None


def _uuid(raw: str | None, field: str) -> UUID:
    try:
        return UUID(str(raw))
    except ValueError:
        raise InvalidInput.field(field, "is not an id") from None


class ConsoleController(Controller):
    """The pages behind a session; ``opt["console"]`` names what each needs."""

    path = "/console"
    include_in_schema = False
    guards = [console_guard]
    exception_handlers = {
        NotSignedIn: _to_login, Forbidden: _forbidden, DomainError: _domain_error, HTTPException: _domain_error,
    }  # fmt: skip

    @post("/logout", opt={"console": "dashboard"}, status_code=HTTP_303_SEE_OTHER, request_max_body_size=FORM_LIMIT)
    async def logout(self, ctx: Ctx, request: AnyRequest) -> Response[Any]:
        await console.logout(ctx, _session(request))
        response = Redirect("/console/login", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(COOKIE, path="/console")
        return response

    @get("/", opt={"console": "dashboard"}, media_type=MediaType.HTML)
    async def home(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        await console.audit(ctx, current, "view.dashboard")
        board = await _board(request, fresh=True)
        return _page(request, "console/dashboard.html", title="Dashboard", board=board, verified=None,
                     **DASHBOARD_WORDS)  # fmt: skip

    @get("/charts/{chart:str}", opt={"console": "dashboard"})
    async def chart(self, ctx: Ctx, request: AnyRequest, chart: str) -> Response[bytes]:
        """A dashboard chart as SVG (docs/adr/0013-console-charts.md); ``purpose.KEY`` for a purpose's."""
        board = await _board(request)
        lang = _lang(request)
        if chart == "suppressions":
            svg = console_charts.suppressions_chart(board.suppressions, lang)
        elif chart == "banner":
            svg = console_charts.banner_chart(board.sites, lang)
        elif chart.startswith("purpose.") and (found := [p for p in board.purposes if p.purpose == chart[8:]]):
            svg = console_charts.purpose_chart(found[0], lang)
        else:
            raise NotFound(f"no chart {chart}")
        return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)

    @post("/ledger/verify", opt={"console": "dashboard"}, media_type=MediaType.HTML, status_code=HTTP_200_OK,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def verify_ledger(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        checked = await ledger.verify(ctx, current.tenant_id)
        await console.audit(ctx, current, "ledger.verify", None, {"ok": checked.ok, "events": checked.events})
        return _page(request, "console/dashboard.html", title="Dashboard",
                     board=await _board(request, fresh=True), verified=checked,
                     **DASHBOARD_WORDS)  # fmt: skip

    # List washing (marketer and up).

    @get("/wash", opt={"console": "wash"}, media_type=MediaType.HTML)
    async def wash_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        listed = await purposes.list_page(ctx, current.tenant_id, None, 200)
        lang = _lang(request)
        texts = {key: translate(lang, text) for key, text in WASH_TEXTS.items()}
        return _page(request, "console/wash.html", title="List washing", purposes=listed.items, texts=texts,
                     channels=CHANNELS, batch=WASH_BATCH)  # fmt: skip

    @post("/wash/batch", opt={"console": "wash"}, status_code=HTTP_200_OK, request_max_body_size=4 * 1_048_576)
    async def wash_batch(self, ctx: Ctx, request: AnyRequest, data: WashBatchIn) -> WashBatchOut:
        """One batch of the page's list (wash.js): the same decisions as ``POST /v1/decisions/batch``."""
        current = _session(request)
        recipients = [Recipient(**{data.by: value}) for value in data.values]
        items, _ = await decisions.decide_batch(ctx, current.tenant_id, data.purpose, data.channel, recipients)
        await console.audit(ctx, current, "wash.batch", data.purpose,
                            {"channel": data.channel, "rows": len(recipients)})  # fmt: skip
        return WashBatchOut(results=[
            (item.allowed, item.reason, None, None) if isinstance(item, decisions.InvalidRecipient)
            else (item.allowed, item.reason, item.rule, item.expires_at)
            for item in items
        ])  # fmt: skip

    # Import (marketer and up).

    @get("/import", opt={"console": "import"}, media_type=MediaType.HTML)
    async def import_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        listed = await purposes.list_page(ctx, _session(request).tenant_id, None, 200)
        return _page(request, "console/import.html", title="Import", purposes=listed.items,
                     formats=domain_imports.FORMATS,
                     report=None, chosen={})  # fmt: skip

    @post("/import", opt={"console": "import"}, media_type=MediaType.HTML, status_code=HTTP_200_OK,
          request_max_body_size=IMPORT_LIMIT)  # fmt: skip
    async def run_import(self, ctx: Ctx, request: AnyRequest) -> Template:
        """``action`` dry_run (everything, rolled back) or record; the same file again writes nothing twice."""
        current = _session(request)
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput.field("file", "choose a CSV file")
        data = await upload.read()
        fmt = str(form.get("format") or "")
        if fmt not in domain_imports.FORMATS:
            raise InvalidInput.field("format", "must be mailchimp, brevo or csv")
        action = form.get("action")
        if action not in ("dry_run", "record"):
            raise InvalidInput.field("action", "must be dry_run or record")
        purpose, notice = str(form.get("purpose") or ""), str(form.get("notice_version") or "").strip()
        try:
            report = await imports.run(ctx, current.tenant_id, fmt, data, purpose, notice,
                                       dry_run=action == "dry_run")  # fmt: skip
        except Exception as exc:
            # Chunks already written stay (a re-run of the same file writes them no second time):
            # the attempt is in the audit log either way.
            await console.audit(ctx, current, f"import.{action}.failed", purpose, {
                "format": fmt, "file_sha256": hashlib.sha256(data).hexdigest(), "error": type(exc).__name__,
            })  # fmt: skip
            raise
        await console.audit(ctx, current, f"import.{action}", purpose, {
            "format": fmt, "file_sha256": report.file_sha256, "rows": report.rows, "events_new": report.events_new,
            "suppressions_new": report.suppressions_new, "skipped": report.skipped,
        })  # fmt: skip
        listed = await purposes.list_page(ctx, current.tenant_id, None, 200)
        chosen = {"format": fmt, "purpose": purpose, "notice_version": notice}
        return _page(request, "console/import.html", title="Import", purposes=listed.items,
                     formats=domain_imports.FORMATS,
                     report=report, chosen=chosen)  # fmt: skip

    # Purposes (read: marketer and up; a new version: admin).

    @get("/purposes", opt={"console": "purposes.read"}, media_type=MediaType.HTML)
    async def purposes_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        listed = await purposes.list_page(ctx, _session(request).tenant_id, None, 200)
        return _page(request, "console/purposes.html", title="Purposes", purposes=listed.items)

    @get("/purposes/{key:str}", opt={"console": "purposes.read"}, media_type=MediaType.HTML)
    async def purpose_page(self, ctx: Ctx, request: AnyRequest, key: str) -> Template:
        current = _session(request)
        config = await purposes.get(ctx, current.tenant_id, key)
        versions = (await purposes.versions(ctx, current.tenant_id, key, 0, 200)).items
        numbers = [v.config.version for v in versions]
        a = _int(request.query_params.get("from"), "from", numbers[-2] if len(numbers) > 1 else numbers[-1])
        b = _int(request.query_params.get("to"), "to", numbers[-1])
        by_number = {v.config.version: msgspec.to_builtins(v.config) for v in versions}
        if a not in by_number or b not in by_number:
            raise InvalidInput.field("from", f"versions are {numbers[0]} to {numbers[-1]}")
        changes = diff(by_number[a], by_number[b])
        return _page(request, "console/purpose.html", title="Purpose", purpose=config, versions=versions, a=a, b=b,
                     changes=changes, may_edit=may(current.user.role, "purposes.write"))  # fmt: skip

    @post("/purposes/{key:str}", opt={"console": "purposes.write"}, status_code=HTTP_303_SEE_OTHER,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def new_purpose_version(self, ctx: Ctx, request: AnyRequest, key: str) -> Response[Any]:
        """A new version: texts, notice version, consent lifetime, and a material change's deadline."""
        current = _session(request)
        form = await request.form()
        config = msgspec.to_builtins(await purposes.get(ctx, current.tenant_id, key))
        body = {f: config[f] for f in PurposeIn.__struct_fields__ if f in config}
        body["notice_version"] = str(form.get("notice_version") or "").strip()
        for name in ("title", "description"):
            body[name] = {lang: str(form.get(f"{name}_{lang}") or "").strip() for lang in ("sv", "en")}
        ttl = str(form.get("consent_ttl_days") or "").strip()
        body["consent_ttl_days"] = _int(ttl, "consent_ttl_days", 0) if ttl else None
        if form.get("material") == "on":
            deadline = str(form.get("deadline") or "").strip()
            if not deadline:
                raise InvalidInput.field(
                    "deadline", "a material change needs the date by which people must agree again"
                )
            body["reconsent_required_before"] = f"{deadline}T00:00:00Z"
        stored, _ = await purposes.put(ctx, current.tenant_id, key, _convert(body, PurposeIn))
        await console.audit(ctx, current, "purpose.version", key, {
            "version": stored.version, "material": form.get("material") == "on"})  # fmt: skip
        return Redirect(f"/console/purposes/{key}", status_code=HTTP_303_SEE_OTHER)

    # Suppressions (officer and admin).

    @get("/suppressions", opt={"console": "suppressions"}, media_type=MediaType.HTML)
    async def suppressions_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        return await self._suppressions(ctx, request, request.query_params.get("by") or "email", "")

    @post("/suppressions/search", opt={"console": "suppressions"}, media_type=MediaType.HTML,
          status_code=HTTP_200_OK, request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def search_suppressions(self, ctx: Ctx, request: AnyRequest) -> Template:
        """A search is a POST: the address searched for stays out of URLs (history, proxy logs)."""
        form = await request.form()
        return await self._suppressions(ctx, request, str(form.get("by") or "email"), str(form.get("q") or ""))

    async def _suppressions(self, ctx: Context, request: AnyRequest, by: str, query: str) -> Template:
        current = _session(request)
        query = query.strip()
        found = None
        if query:
            if by not in ("email", "phone"):
                raise InvalidInput.field("by", "must be email or phone")
            page = await suppressions.find(ctx, current.tenant_id, query if by == "email" else None,
                                           query if by == "phone" else None, None, 100)  # fmt: skip
            found = page.items
            await console.audit(ctx, current, "suppression.search", by, {"found": len(found)})
        listed = await purposes.list_page(ctx, current.tenant_id, None, 200)
        return _page(request, "console/suppressions.html", title="Suppressions", by=by, q=query, found=found,
                     purposes=listed.items, channels=CHANNELS, reasons=SUPPRESSION_REASONS,
                     done=request.query_params.get("done"))  # fmt: skip

    @post("/suppressions", opt={"console": "suppressions"}, status_code=HTTP_303_SEE_OTHER,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def add_suppression(self, ctx: Ctx, request: AnyRequest) -> Response[Any]:
        current = _session(request)
        form = await request.form()
        by, value = str(form.get("by") or "email"), str(form.get("value") or "").strip()
        fields: dict[str, Any] = {
            "scope": str(form.get("scope") or "all"), "reason": str(form.get("reason") or ""),
            "channel": str(form.get("channel") or "") or None, "source": f"console:{current.user.id}",
            "note": str(form.get("note") or "").strip()[:1000] or None,
        }  # fmt: skip
        fields["phone" if by == "phone" else "email"] = value
        row, created = await suppressions.add(ctx, current.tenant_id, _convert(fields, SuppressionIn))
        await console.audit(ctx, current, "suppression.add", str(row.id), {"reason": row.reason, "created": created})
        # No address in the URL we send the browser to (it would reach history and proxy logs).
        return Redirect(f"/console/suppressions?by={quote(by)}&done=added", status_code=HTTP_303_SEE_OTHER)

    @post("/suppressions/{entry_id:uuid}/lift", opt={"console": "suppressions"}, status_code=HTTP_303_SEE_OTHER,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def lift_suppression(self, ctx: Ctx, request: AnyRequest, entry_id: UUID) -> Response[Any]:
        current = _session(request)
        form = await request.form()
        reason = str(form.get("reason") or "").strip()
        if not reason:
            raise InvalidInput.field("reason", "say why the entry is lifted (it is kept with the entry)")
        row = await suppressions.lift(
            ctx, current.tenant_id, entry_id, f"{reason[:900]} (console user {current.user.id})"
        )
        await console.audit(ctx, current, "suppression.lift", str(entry_id), {"reason": reason[:200]})
        target = f"by={'phone' if row.ident_type == 'phone' else 'email'}"
        return Redirect(f"/console/suppressions?{target}&done=lifted", status_code=HTTP_303_SEE_OTHER)

    # Sites (read: marketer and up).

    @get("/sites", opt={"console": "sites.read"}, media_type=MediaType.HTML)
    async def sites_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        listed = await banner.list_sites(ctx, current.tenant_id, None, 100)
        editable = {s.site_key: _site_json(s) for s in listed.items}
        return _page(request, "console/sites.html", title="Sites", sites=listed.items, editable=editable,
                     may_edit=may(current.user.role, "sites.write"), done=request.query_params.get("done"))  # fmt: skip

    @post("/sites/{site_key:str}", opt={"console": "sites.write"}, status_code=HTTP_303_SEE_OTHER,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def replace_site(self, ctx: Ctx, request: AnyRequest, site_key: str) -> Response[Any]:
        """The site's configuration as JSON, as ``PUT /v1/sites/{site_key}`` takes it."""
        current = _session(request)
        form = await request.form()
        try:
            body = msgspec.json.decode(str(form.get("config") or ""), type=SiteIn)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise InvalidInput.field("config", str(exc)) from None
        site = await banner.replace_site(ctx, current.tenant_id, site_key, body)
        await console.audit(ctx, current, "site.replace", site_key, {"banner_version": site.banner_version})
        return Redirect("/console/sites?done=saved", status_code=HTTP_303_SEE_OTHER)

    @get("/sites/{site_key:str}/preview", opt={"console": "sites.read"}, media_type=MediaType.HTML)
    async def site_preview(self, ctx: Ctx, request: AnyRequest, site_key: str) -> Response[str]:
        """The real banner.js with the site's real configuration, framed by the sites page. Its choices
        are not recorded: the console is not one of the site's origins, so the banner API refuses them."""
        site = await banner.get_site(ctx, site_key, _session(request).tenant_id)
        lang = _lang(request)
        text = html.escape(translate(lang, "Preview of the banner of {name}", name=site.name))
        page = PREVIEW_PAGE.format(lang=lang, key=html.escape(site.site_key, quote=True), text=text)
        return Response(page, media_type=MediaType.HTML, headers=PREVIEW_HEADERS)

    # Webhooks and integrations (admin).

    @get("/webhooks", opt={"console": "webhooks"}, media_type=MediaType.HTML)
    async def webhooks_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        hooks = (await webhooks.list_page(ctx, current.tenant_id, None, 100)).items
        status = request.query_params.get("status") or None
        if status not in (None, "pending", "delivered", "dead"):
            raise InvalidInput.field("status", "must be pending, delivered or dead")
        deliveries = {h.id: (await webhooks.deliveries(ctx, current.tenant_id, h.id, status, None, 20)).items
                      for h in hooks}  # fmt: skip
        integration_list = (await integrations.list_page(ctx, current.tenant_id, None, 100)).items
        pushes = {i.row.id: (await integrations.deliveries(ctx, current.tenant_id, i.row.id, None, None, 10)).items
                  for i in integration_list}  # fmt: skip
        feedback = {i.row.id: (await integrations.feedback(ctx, current.tenant_id, i.row.id, None, 10)).items
                    for i in integration_list}  # fmt: skip
        return _page(request, "console/webhooks.html", title="Webhooks and integrations", hooks=hooks,
                     deliveries=deliveries,
                     status=status, integrations=integration_list, pushes=pushes, feedback=feedback,
                     done=request.query_params.get("done"))  # fmt: skip

    @post("/webhooks/{webhook_id:uuid}/messages/{message_id:uuid}/redeliver", opt={"console": "webhooks"},
          status_code=HTTP_303_SEE_OTHER, request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def redeliver(self, ctx: Ctx, request: AnyRequest, webhook_id: UUID, message_id: UUID) -> Response[Any]:
        current = _session(request)
        await webhooks.redeliver(ctx, current.tenant_id, webhook_id, message_id)
        await console.audit(ctx, current, "webhook.redeliver", str(message_id), {"webhook_id": str(webhook_id)})
        return Redirect("/console/webhooks?done=redeliver", status_code=HTTP_303_SEE_OTHER)

    @post("/integrations/{integration_id:uuid}/sync", opt={"console": "integrations"},
          status_code=HTTP_303_SEE_OTHER, request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def resync(self, ctx: Ctx, request: AnyRequest, integration_id: UUID) -> Response[Any]:
        """Push every active suppression entry to the provider again (``consent-svc integrations sync``)."""
        current = _session(request)
        await integrations.get(ctx, current.tenant_id, integration_id)  # another tenant's: 404
        queued = await integrations.queue_reconciliation(ctx, integration_id)
        await console.audit(ctx, current, "integration.sync", str(integration_id), {"queued": queued.queued})
        return Redirect("/console/webhooks?done=sync", status_code=HTTP_303_SEE_OTHER)

    # People (officer and admin).

    @get("/subjects", opt={"console": "subjects"}, media_type=MediaType.HTML)
    async def subjects_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        return await self._subjects(ctx, request, request.query_params.get("by") or "email", "")

    @post("/subjects", opt={"console": "subjects"}, media_type=MediaType.HTML, status_code=HTTP_200_OK,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def subjects_search(self, ctx: Ctx, request: AnyRequest) -> Template:
        """A search is a POST: the identifier searched for stays out of URLs (history, proxy logs)."""
        form = await request.form()
        return await self._subjects(ctx, request, str(form.get("by") or "email"), str(form.get("q") or ""))

    async def _subjects(self, ctx: Context, request: AnyRequest, kind: str, query: str) -> Template:
        query = query.strip()
        found = None
        if query:
            if kind not in ("email", "phone", "external_id", "personal_number"):
                raise InvalidInput.field("by", "must be email, phone, external_id or personal_number")
            email, phone, external_id, number = (
                query if k == kind else None for k in ("email", "phone", "external_id", "personal_number")
            )
            ident = subjects.lookup_identifier(email, phone, external_id, ctx.settings.default_phone_region, number)
            page = await subjects.summaries(ctx, _session(request).tenant_id, ident, None, 1)
            found = page.items
            await console.audit(ctx, _session(request), "subject.search", kind, {"found": len(found)})
        return _page(request, "console/subjects.html", title="People", by=kind, q=query, found=found)

    @get("/subjects/{subject_id:uuid}", opt={"console": "subjects"}, media_type=MediaType.HTML)
    async def subject_page(self, ctx: Ctx, request: AnyRequest, subject_id: UUID) -> Template:
        current = _session(request)
        export = await subjects.export(ctx, current.tenant_id, subject_id)
        states = await subjects.decisions_now(ctx, current.tenant_id, subject_id)
        await console.audit(ctx, current, "subject.view", str(subject_id))
        timeline = sorted(
            [("event", e.recorded_at, e) for e in export.events]
            + [("suppression", s.created_at, s) for s in export.suppressions]
            + [("receipt", r.recorded_at, r) for r in export.banner_receipts]
            + [("message", m.created_at, m) for m in export.webhook_messages]
            + [("signup", s.created_at, s) for s in export.signups],
            key=lambda item: item[1],
            reverse=True,
        )
        # Restricted while the latest restriction event of the ledger is a start (Art 18).
        marks = [e.type for e in export.events if e.type in ("restriction_started", "restriction_lifted")]
        restricted = bool(marks) and marks[-1] == "restriction_started"
        done = request.query_params.get("done")
        return _page(request, "console/subject.html", title="Person", export=export, states=states, timeline=timeline,
                     restricted=restricted, done=done)  # fmt: skip

    @get("/subjects/{subject_id:uuid}/export", opt={"console": "subjects"})
    async def subject_export(self, ctx: Ctx, request: AnyRequest, subject_id: UUID) -> Response[bytes]:
        current = _session(request)
        document = SubjectExportOut.from_domain(await subjects.export(ctx, current.tenant_id, subject_id))
        await console.audit(ctx, current, "subject.export", str(subject_id))
        return Response(
            msgspec.json.encode(document), media_type=MediaType.JSON,
            headers={**CONSOLE_HEADERS, "Content-Disposition": f'attachment; filename="subject-{subject_id}.json"'},
        )  # fmt: skip

    @post("/subjects/{subject_id:uuid}/rectify", opt={"console": "subjects.change"},
          status_code=HTTP_303_SEE_OTHER, request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def rectify(self, ctx: Ctx, request: AnyRequest, subject_id: UUID) -> Response[Any]:
        current = _session(request)
        form = await request.form()
        changes = {
            k: str(form.get(k)).strip() for k in ("email", "phone", "external_id") if str(form.get(k) or "").strip()
        }
        body = _convert(changes, SubjectPatchIn)
        await subjects.rectify(ctx, current.tenant_id, subject_id, body, by=f"console user {current.user.id}")
        await console.audit(ctx, current, "subject.rectify", str(subject_id), {"changed": sorted(changes)})
        return Redirect(f"/console/subjects/{subject_id}?done=rectified", status_code=HTTP_303_SEE_OTHER)

    @post("/subjects/{subject_id:uuid}/restriction", opt={"console": "subjects.change"},
          status_code=HTTP_303_SEE_OTHER, request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def restriction(self, ctx: Ctx, request: AnyRequest, subject_id: UUID) -> Response[Any]:
        current = _session(request)
        form = await request.form()
        action = form.get("action")
        if action not in ("start", "lift"):
            raise InvalidInput.field("action", "must be start or lift")
        note = str(form.get("note") or "").strip()[:1000]
        result = await subjects.restrict(ctx, current.tenant_id, subject_id, lift=action == "lift",
                                         note=f"console user {current.user.id}: {note}".strip(": "))  # fmt: skip
        await console.audit(ctx, current, f"subject.restriction.{action}", str(subject_id),
                            {"event_id": str(result.event_id)})  # fmt: skip
        return Redirect(f"/console/subjects/{subject_id}?done=restriction_{action}", status_code=HTTP_303_SEE_OTHER)

    @post("/subjects/{subject_id:uuid}/erase", opt={"console": "subjects.change"}, media_type=MediaType.HTML,
          status_code=HTTP_200_OK, request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def erase(self, ctx: Ctx, request: AnyRequest, subject_id: UUID) -> Template:
        current = _session(request)
        form = await request.form()
        view = await subjects.view(ctx, current.tenant_id, subject_id)
        typed = str(form.get("confirm") or "").strip().lower()
        # What the officer may type: an identifier the page shows, or the id (a personal number is not shown).
        accepted = {v.lower() for _, v in view.identifiers if v} | {str(subject_id)}
        if not typed or typed not in accepted:
            raise InvalidInput.field("confirm", "type the person's email, phone, external id or id exactly to confirm")
        given = str(form.get("reason") or "").strip()[:400]
        reason = f"console user {current.user.id}" + (f": {given}" if given else "")
        receipt = await subjects.erase(ctx, current.tenant_id, subject_id, reason)
        await console.audit(ctx, current, "subject.erase", str(subject_id), {"erasure_id": str(receipt.id)})
        return _page(request, "console/erased.html", title="Erased", receipt=receipt)

    # The signed-in user's own account (every role).

    @get("/account", opt={"console": "dashboard"}, media_type=MediaType.HTML)
    async def account_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        secret = console.new_totp_secret()
        uri = console.totp_uri(secret, current.user)
        return _page(request, "console/account.html", title="Your account", totp_secret=secret, totp_uri=uri,
                     done=request.query_params.get("done"))  # fmt: skip

    @post("/account/password", opt={"console": "dashboard"}, status_code=HTTP_303_SEE_OTHER,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def change_password(self, ctx: Ctx, request: AnyRequest) -> Response[Any]:
        form = await request.form()
        new = str(form.get("password") or "")
        if new != str(form.get("password_again") or ""):
            raise InvalidInput.field("password_again", "the two passwords differ")
        await console.change_password(ctx, _session(request), str(form.get("current_password") or ""), new)
        return Redirect("/console/account?done=password", status_code=HTTP_303_SEE_OTHER)

    @post("/account/totp", opt={"console": "dashboard"}, status_code=HTTP_303_SEE_OTHER,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def second_factor(self, ctx: Ctx, request: AnyRequest) -> Response[Any]:
        form = await request.form()
        secret = str(form.get("totp_secret") or "") if form.get("action") == "on" else None
        await console.set_second_factor(ctx, _session(request), str(form.get("current_password") or ""), secret,
                                        str(form.get("code") or "") or None)  # fmt: skip
        return Redirect(f"/console/account?done=totp_{form.get('action')}", status_code=HTTP_303_SEE_OTHER)

    # Users and the audit log (admin).

    @get("/users", opt={"console": "users"}, media_type=MediaType.HTML)
    async def users_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        await console.audit(ctx, current, "view.users")
        return _page(request, "console/users.html", title="Users", users=await console.users(ctx, current.tenant_id),
                     roles=ROLES, created=None)  # fmt: skip

    @post("/users", opt={"console": "users"}, media_type=MediaType.HTML, status_code=HTTP_200_OK,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def create_user(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        form = await request.form()
        created = await console.create_user(ctx, current.tenant_id, str(form.get("email") or ""),
                                            str(form.get("role") or ""))  # fmt: skip
        await console.audit(ctx, current, "user.create", str(created.user.id), {"role": created.user.role})
        return _page(request, "console/users.html", title="Users", users=await console.users(ctx, current.tenant_id),
                     roles=ROLES, created=created)  # fmt: skip

    @post("/users/{user_id:uuid}", opt={"console": "users"}, status_code=HTTP_303_SEE_OTHER,
          request_max_body_size=FORM_LIMIT)  # fmt: skip
    async def change_user(self, ctx: Ctx, request: AnyRequest, user_id: UUID) -> Response[Any] | Template:
        current = _session(request)
        form = await request.form()
        if form.get("action") == "reset":
            link = await console.reset_user(ctx, current, user_id)
            listed = await console.users(ctx, current.tenant_id)
            return _page(request, "console/users.html", title="Users", users=listed, roles=ROLES, created=None,
                         reset=link)  # fmt: skip
        if form.get("action") == "disable":
            await console.disable_user(ctx, current, user_id)
        elif form.get("action") == "role":
            await console.set_role(ctx, current, user_id, str(form.get("role") or ""))
        else:
            raise InvalidInput.field("action", "must be role, reset or disable")
        return Redirect("/console/users", status_code=HTTP_303_SEE_OTHER)

    @get("/audit", opt={"console": "audit"}, media_type=MediaType.HTML)
    async def audit_page(self, ctx: Ctx, request: AnyRequest) -> Template:
        current = _session(request)
        before_raw = request.query_params.get("before")
        before = _uuid(before_raw, "before") if before_raw else None
        rows = await console.audit_log(ctx, current.tenant_id, before, 101)
        more = rows[99].id if len(rows) > 100 else None
        return _page(request, "console/audit.html", title="Audit log", rows=rows[:100], more=more)


__all__ = ["SWEDISH", "ConsoleController", "ConsoleLimits", "ConsolePublicController", "template_engine"]
