"""A lean path for the hottest request: ``GET /v1/decisions``.

Marketing tools ask before every send, so this one request is worth serving
without the framework's per-request machinery (routing, guards, signature
models, response objects): about half of the server's CPU per request in the
profile (docs/performance.md). It serves only the well-formed case: a known
key with the scope, exactly the expected parameters, a valid identifier, a
known purpose. Anything else is handed, untouched, to the litestar route,
which produces the answer or the problem+json error, so every error and every
documented behaviour stays in one place. The answer itself is built by the
same service function and the same response Struct as the litestar handler
(``tests/http/test_fastpath.py`` checks that both give the same body).
The key is authenticated as the guard does it (``authenticate_once`` in
http/auth.py): the same per-address budget of failures, spent once per
request whichever path answers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import msgspec

from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.models import CHANNELS
from consent_svc.http.auth import Authenticator, authenticate_once
from consent_svc.http.decisions import DecisionOut
from consent_svc.http.problems import DATABASE_UNAVAILABLE
from consent_svc.http.ratelimit import RateLimited
from consent_svc.service import decisions
from consent_svc.service.context import Context
from consent_svc.service.inputs import Recipient

PATH = "/v1/decisions"
_ALLOWED = {"purpose", "channel", "email", "phone", "external_id", "personal_number"}
_LIMITS = {"purpose": 64, "channel": 8, "email": 320, "phone": 64, "external_id": 200, "personal_number": 32}
_encode = msgspec.json.Encoder().encode
_HEADERS = [(b"content-type", b"application/json")]
_DATABASE_FAILED = (*DATABASE_UNAVAILABLE, asyncpg.PostgresError)


class DecisionFastPath:
    """ASGI wrapper: answers the plain case of ``GET /v1/decisions``, passes the rest on."""

    def __init__(self, app: Any, ctx: Context, authenticator: Authenticator) -> None:
        self.app = app
        self.ctx = ctx
        self.authenticator = authenticator

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        body = await self._answer(scope)
        if body is None:
            await self.app(scope, receive, send)
            return
        scope["path_template"] = PATH  # for the request log line
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: dict[str, Any]) -> bytes | None:
        """The response body, or None to let the framework handle the request."""
        params: dict[str, str] = {}
        for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
            if name not in _ALLOWED or name in params or len(value) > _LIMITS[name]:
                return None
            params[name] = value
        purpose, channel = params.get("purpose"), params.get("channel")
        if purpose is None or channel not in CHANNELS:
            return None
        token = _bearer(scope)
        if token is None:
            return None
        try:
            principal = await authenticate_once(scope, self.authenticator, token)
        except RateLimited:
            return None  # the route answers the 429 (from the same outcome: no second look-up)
        except _DATABASE_FAILED:
            return None  # the route tries once more and answers (503, 500) through the problem table
        if principal is None or principal.tenant_id is None or not principal.allows("check"):
            return None
        try:
            self.authenticator.limit(principal)
        except RateLimited:
            return None  # the route answers the 429, from a budget that is already spent
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


def _bearer(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None
