"""Lean paths for the two hottest requests: ``GET /v1/decisions`` and ``POST /v1/events``.

Marketing tools ask before every send, and every consent a form or a banner
takes is recorded, so these two requests are worth serving without the
framework's per-request machinery (routing, guards, signature models,
dependency injection, response objects): about half of the server's CPU per
decision, and ~74 us of CPU per recorded event (docs/performance.md). Each
serves only the well-formed case: a known key with the scope, the expected
parameters or a JSON body that decodes as the route's type, a known purpose.
Anything else is handed, untouched, to the litestar route, which produces the
answer or the problem+json error, so every error and every documented
behaviour stays in one place. The answers are built by the same service
functions and the same response Structs as the litestar handlers
(``tests/http/test_fastpath.py`` checks that both give the same answers).

The key is authenticated as the guard does it (``authenticate_once`` and
``limit_once`` in http/auth.py): the same per-address budget of failures and
the same per-key rate limit, each spent once per request whichever path answers.

A recorded event is handed on only when nothing was written: the service
refused it (a domain error) or a statement failed (the transaction rolled
back), and the route then runs it again to give its answer. When the database
went away, the commit may have landed, and a fault may come after it: those
are answered here, as the route's handlers answer them (``problems.unanswerable``),
so an event is never written twice by the server itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import msgspec

from consent_svc.domain.errors import DomainError, InvalidInput
from consent_svc.domain.models import CHANNELS
from consent_svc.http.auth import Authenticator, authenticate_once, limit_once
from consent_svc.http.decisions import DecisionOut
from consent_svc.http.events import EventOut
from consent_svc.http.jsonbody import too_deep
from consent_svc.http.problems import DATABASE_UNAVAILABLE, unanswerable
from consent_svc.http.ratelimit import RateLimited
from consent_svc.service import decisions, events
from consent_svc.service.context import Context
from consent_svc.service.inputs import EventIn, Recipient
from consent_svc.service.tenants import Principal

DECISIONS = "/v1/decisions"
EVENTS = "/v1/events"
_ALLOWED = {"purpose", "channel", "email", "phone", "external_id", "personal_number"}
_LIMITS = {"purpose": 64, "channel": 8, "email": 320, "phone": 64, "external_id": 200, "personal_number": 32}
_encode = msgspec.json.Encoder().encode
_decode_event = msgspec.json.Decoder(EventIn).decode
_JSON = (b"content-type", b"application/json")
_DATABASE_FAILED = (*DATABASE_UNAVAILABLE, asyncpg.PostgresError)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class FastPath:
    """ASGI wrapper: answers the plain cases of ``GET /v1/decisions`` and ``POST /v1/events``,
    passes the rest on."""

    def __init__(self, app: Any, ctx: Context, authenticator: Authenticator) -> None:
        self.app = app
        self.ctx = ctx
        self.authenticator = authenticator

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if path == DECISIONS and method == "GET":
                await self._decision(scope, receive, send)
                return
            if path == EVENTS and method == "POST":
                await self._record(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _principal(self, scope: dict[str, Any], token: str | None, needed: str) -> Principal | None:
        """The tenant key's principal with scope ``needed``, its request taken from its budget;
        None to let the route answer (no key, a bad key, another scope, a refusal, a failure)."""
        if token is None:
            return None
        try:
            principal = await authenticate_once(scope, self.authenticator, token)
        except RateLimited:
            return None  # the route answers the 429 (from the same outcome: no second look-up)
        except _DATABASE_FAILED:
            return None  # the route tries once more and answers (503, 500) through the problem table
        if principal is None or principal.tenant_id is None or not principal.allows(needed):
            return None
        try:
            limit_once(scope, self.authenticator, principal)
        except RateLimited:
            return None  # the route answers the 429, from the same outcome
        return principal

    async def _decision(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        body = await self._decision_answer(scope)
        if body is None:
            await self.app(scope, receive, send)
            return
        await _respond(scope, send, DECISIONS, (200, [_JSON], body))

    async def _decision_answer(self, scope: dict[str, Any]) -> bytes | None:
        """The response body, or None to let the framework handle the request."""
        params: dict[str, str] = {}
        for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
            if name not in _ALLOWED or name in params or len(value) > _LIMITS[name]:
                return None
            params[name] = value
        purpose, channel = params.get("purpose"), params.get("channel")
        if purpose is None or channel not in CHANNELS:
            return None
        principal = await self._principal(scope, _bearer(scope), "check")
        if principal is None:
            return None
        assert principal.tenant_id is not None
        try:
            identifier = decisions.recipient_identifier(
                Recipient(
                    email=params.get("email"),
                    phone=params.get("phone"),
                    external_id=params.get("external_id"),
                    personal_number=params.get("personal_number"),
                ),
                self.ctx.settings.default_phone_region,
                "query",
            )
            answer, decided_at = await decisions.decide_one(self.ctx, principal.tenant_id, purpose, channel, identifier)
        except InvalidInput:
            return None  # the route gives the 400
        except _DATABASE_FAILED:
            # The route gives the 503 (or the 4xx, or the 500 logged without row data). Escaping
            # here, it would reach the server as a bare 500 with the error's message in a traceback.
            return None
        scope.setdefault("state", {})["principal"] = principal
        return _encode(DecisionOut.from_domain(answer, purpose, channel, decided_at))

    async def _record(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        length = _json_body_length(scope)
        if length is None or length > self.ctx.settings.max_body_bytes:
            await self.app(scope, receive, send)  # the route answers (a 413, a 415, a 400 ...)
            return
        # The key first, from the headers: a request without a good one is handed on unread, so it
        # holds no connection and no memory for a body (the route answers 401, 403 or 429 at once).
        principal = await self._principal(scope, _bearer(scope), "record")
        if principal is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal  # the log line names the tenant, whatever the answer
        messages, body = await _read_body(receive, length)
        answer = None if body is None else await self._record_answer(scope, principal, body)
        if answer is None:
            await self.app(scope, _replaying(messages, receive), send)
            return
        await _respond(scope, send, EVENTS, answer)

    async def _record_answer(self, scope: dict[str, Any], principal: Principal, body: bytes) -> Answer | None:
        """The answer, or None to let the route answer (nothing was written)."""
        if too_deep(body):
            return None
        assert principal.tenant_id is not None
        try:
            event = _decode_event(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # the route's 400 names the field
        try:
            [result] = await events.record(self.ctx, principal.tenant_id, [event])
        except DATABASE_UNAVAILABLE as exc:
            return unanswerable(EVENTS, exc)  # the commit may have landed: never run it again
        except (DomainError, asyncpg.PostgresError):
            return None  # refused, or a statement failed: rolled back, the route gives the answer
        except Exception as exc:  # a fault, maybe after the commit: answered as the route's 500 would be
            return unanswerable(EVENTS, exc)
        return (201 if result.created else 200), [_JSON], _encode(EventOut.from_domain(result))


async def _respond(scope: dict[str, Any], send: Any, route: str, answer: Answer) -> None:
    status, headers, body = answer
    scope["path_template"] = route  # for the request log line
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _bearer(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _json_body_length(scope: dict[str, Any]) -> int | None:
    """The announced length of a JSON body (``Content-Type: application/json``, a
    ``Content-Length``, no transfer coding); None when the request is not that plain."""
    json, length = False, None
    for name, value in scope["headers"]:
        if name == b"content-type":
            json = value.partition(b";")[0].strip().lower() == b"application/json"
        elif name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif name in (b"transfer-encoding", b"content-encoding"):
            return None
    return length if json else None


async def _read_body(receive: Receive, length: int) -> tuple[list[dict[str, Any]], bytes | None]:
    """The messages received and the body; the body is None when the request did not send
    exactly ``length`` bytes (or the client went away): the route deals with that."""
    messages: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        received += len(chunk)
        if received > length:
            return messages, None
        if not message.get("more_body", False):
            break
    return messages, (b"".join(chunks) if received == length else None)


def _replaying(messages: list[dict[str, Any]], receive: Receive) -> Receive:
    """A ``receive`` that gives the route the messages the fast path read, then the rest."""
    pending = deque(messages)

    async def replay() -> dict[str, Any]:
        if pending:
            return pending.popleft()
        return await receive()

    return replay
