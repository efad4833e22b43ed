"""The fast path of GET /v1/decisions answers exactly as the litestar route does,
and leaves every other case (errors included) to the route."""

from __future__ import annotations

import httpx
import pytest

from consent_svc.http.app import create_app, create_litestar
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant


@pytest.fixture
async def route_only(ctx: Context) -> httpx.AsyncClient:
    """A client of the litestar app alone (no fast path)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_litestar(ctx)), base_url="http://testserver")


async def test_fast_path_and_route_give_the_same_answers(
    ctx: Context, tenant: Tenant, route_only: httpx.AsyncClient
) -> None:
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://testserver")
    await fast.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())
    consent = {"subject": {"email": "same@example.se", "phone": "0701234567"}, "type": "consent_given",
               "purpose": "newsletter", "proof": {"notice_version": "2026-03"}}  # fmt: skip
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
    for params in queries:
        for headers in (tenant.auth("check"), {}, {"Authorization": "Bearer csk_wrong"}):
            a = await fast.get("/v1/decisions", params=params, headers=headers)
            b = await route_only.get("/v1/decisions", params=params, headers=headers)
            assert a.status_code == b.status_code, (params, a.text, b.text)
            assert a.headers["content-type"] == b.headers["content-type"]
            ja, jb = a.json(), b.json()
            ja.pop("decided_at", None)
            jb.pop("decided_at", None)
            assert ja == jb, params
    await fast.aclose()
    await route_only.aclose()
