"""Request ids, the canonical log line, request metrics and the security
headers, as one plain ASGI wrapper.

It wraps the whole app, so 404s and 405s are logged too. One line per
request: request id, tenant, route template, method, status, duration. No
query string (it may hold an email), no raw path (a ``/u/`` path holds a
capability token) and no body is ever logged.

Every response gets ``X-Content-Type-Options: nosniff`` here, in one place
(the fast path's, the framework's, errors and the ``/u/`` pages alike),
unless the response set it itself.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

from consent_svc.domain.ids import uuid7

Scope = dict[str, Any]
ASGIApp = Any

_log = structlog.get_logger("consent_svc.request")

REQUESTS = Counter("consent_http_requests_total", "HTTP requests", ["route", "method", "status"])
DURATION = Histogram(
    "consent_http_request_duration_seconds",
    "HTTP request duration",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


SECURITY_HEADERS: list[tuple[bytes, bytes]] = [(b"x-content-type-options", b"nosniff")]

# The metrics' labelled children, looked up once per (route, method, status): ``labels()``
# validates its arguments and takes a lock on every call. Routes are templates and statuses
# HTTP codes, so these stay small.
_counted: dict[tuple[str, str, int], Any] = {}
_timed: dict[str, Any] = {}


def _observe(route: str, method: str, status: int, elapsed: float) -> None:
    counter = _counted.get((route, method, status))
    if counter is None:
        counter = _counted[(route, method, status)] = REQUESTS.labels(route, method, str(status))
    timer = _timed.get(route)
    if timer is None:
        timer = _timed[route] = DURATION.labels(route)
    counter.inc()
    timer.observe(elapsed)


def route_of(scope: Scope) -> str:
    """The route template (``/u/{token}``), never the raw path; "unmatched" when no route matched."""
    # Set by litestar's router on this same scope dict (and by the fast path).
    template = scope.get("path_template")
    return str(template) if template else "unmatched"


def _safe_request_id(raw: bytes | None) -> str:
    if raw and len(raw) <= 64 and all(c in b"0123456789abcdefABCDEF-_." for c in raw):
        return raw.decode()
    return str(uuid7())


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        request_id = _safe_request_id(headers.get(b"x-request-id"))
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        # The auth guard puts the principal here, so the log line can name the tenant.
        scope.setdefault("state", {})
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope)
            method = scope.get("method", "")
            _observe(route, method, status, elapsed)
            principal = (scope.get("state") or {}).get("principal")
            _log.info(
                "request",
                request_id=request_id,
                tenant=getattr(principal, "tenant_name", None),
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
