"""The fast path of GET /v1/decisions answers exactly as the litestar route does,
and leaves every other case (errors included) to the route."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from consent_svc.http.app import create_litestar
from consent_svc.http.fastpath import DecisionFastPath
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant


@pytest.fixture
async def route_only(ctx: Context) -> httpx.AsyncClient:
    """A client of the litestar app alone (no fast path)."""
    app: Any = create_litestar(ctx)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


class Counting:
    """An ASGI app that counts the requests it is handed (the route, behind the fast path)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


async def test_fast_path_and_route_give_the_same_answers(
    ctx: Context, tenant: Tenant, route_only: httpx.AsyncClient
) -> None:
    litestar = create_litestar(ctx)
    route = Counting(litestar)
    app: Any = DecisionFastPath(route, ctx, litestar.state.authenticator)
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await fast.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())
    consent = {
        "subject": {"email": "same@example.se", "phone": "0701234567"},
        "type": "consent_given",
        "purpose": "newsletter",
        "proof": {"notice_version": "2026-03"},
    }
    assert (await fast.post("/v1/events", json=consent, headers=tenant.auth())).status_code == 201
    queries = [
        {"purpose": "newsletter", "channel": "email", "email": "SAME@example.se"},
        {"purpose": "newsletter", "channel": "sms", "phone": "+46 70 123 45 67"},
        {"purpose": "newsletter", "channel": "email", "email": "other@example.se"},
        {"purpose": "newsletter", "channel": "post", "email": "same@example.se"},
        # Cases the fast path hands to the route: errors must be the route's.
        {"purpose": "newsletter", "channel": "email"},
        {"purpose": "nope", "channel": "email", "email": "same@example.se"},
        {"purpose": "newsletter", "channel": "fax", "email": "same@example.se"},
        {"purpose": "newsletter", "channel": "email", "email": "broken"},
        {"purpose": "newsletter", "channel": "email", "email": "a@b.se", "extra": "1"},
    ]
    answered_fast = 0
    for number, params in enumerate(queries):
        for headers in (tenant.auth("check"), {}, {"Authorization": "Bearer csk_wrong"}):
            before = route.calls
            a = await fast.get("/v1/decisions", params=params, headers=headers)
            # The first four queries with a good key are the fast path's to answer; all else the route's.
            fast_case = number < 4 and headers == tenant.auth("check")
            assert route.calls == before + (0 if fast_case else 1), (params, headers)
            answered_fast += fast_case
            b = await route_only.get("/v1/decisions", params=params, headers=headers)
            assert a.status_code == b.status_code, (params, a.text, b.text)
            assert a.headers["content-type"] == b.headers["content-type"]
            ja, jb = a.json(), b.json()
            ja.pop("decided_at", None)
            jb.pop("decided_at", None)
            assert ja == jb, params
    assert answered_fast == 4
    await fast.aclose()
    await route_only.aclose()
