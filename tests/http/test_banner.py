"""The banner backend over HTTP: sites, CORS, validation, GPC, receipts, rate limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from consent_svc.service.context import Context
from tests.conftest import Tenant, make_tenant, ok

ORIGIN = "https://www.example.se"


def text(sv: str, en: str) -> dict[str, str]:
    return {"sv": sv, "en": en}


SITE: dict[str, Any] = {
    "name": "Exempel AB webbplats",
    "origins": [ORIGIN, "https://example.se"],
    "categories": [
        {
            "key": "analytics",
            "title": text("Statistik", "Analytics"),
            "description": text("Besöksstatistik.", "Visit statistics."),
        },
        {
            "key": "marketing",
            "sale_or_share": True,
            "title": text("Marknadsföring", "Marketing"),
            "description": text("Annonser.", "Ads."),
        },
    ],
    "gpc_domains": ["example.se"],
    "policy_url": "https://www.example.se/integritet",
    "controller": "Exempel AB",
}


async def site(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.post("/v1/sites", json=SITE, headers=tenant.auth())
    assert response.status_code == 201, response.text
    return dict(response.json())


def choice(action: str, **categories: bool) -> dict[str, Any]:
    return {"action": action, "categories": categories, "banner_version": 1, "language": "sv"}


async def test_site_has_necessary_first_and_bumps_version_on_text_change(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await site(client, tenant)
    assert created["site_key"].startswith("site_")
    assert created["banner_version"] == 1
    assert [c["key"] for c in created["categories"]] == ["necessary", "analytics", "marketing"]
    assert created["validity_days"] == 182
    same = await client.put(
        f"/v1/sites/{created['site_key']}", json={**SITE, "name": "Nytt namn"}, headers=tenant.auth()
    )
    assert same.json()["banner_version"] == 1  # name only: same banner
    changed = {
        **SITE,
        "categories": [{**SITE["categories"][0], "description": text("Ny text.", "New text.")}, SITE["categories"][1]],
    }
    bumped = await client.put(f"/v1/sites/{created['site_key']}", json=changed, headers=tenant.auth())
    assert bumped.json()["banner_version"] == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"validity_days": 400}, "validity_days"),
        ({"origins": ["example.se"]}, "origins[0]"),
        ({"categories": [{**SITE["categories"][0], "required": True}]}, "categories[0].required"),
        ({"categories": [{**SITE["categories"][0], "title": {"sv": "Bara svenska"}}]}, "categories[0].title"),
    ],
)
async def test_site_validation(client: httpx.AsyncClient, tenant: Tenant, change: dict[str, Any], field: str) -> None:
    response = await client.post("/v1/sites", json={**SITE, **change}, headers=tenant.auth())
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_cors_allowed_and_refused_origins(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    preflight = await client.options(
        f"/v1/banner/{key}/consents",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    evil = await client.options(f"/v1/banner/{key}/consents", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert "access-control-allow-origin" not in evil.headers
    ok = await client.post(f"/v1/banner/{key}/consents", json=choice("accept_all"), headers={"Origin": ORIGIN})
    assert ok.status_code == 201
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    refused = await client.post(
        f"/v1/banner/{key}/consents", json=choice("accept_all"), headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    no_origin = await client.post(f"/v1/banner/{key}/consents", json=choice("accept_all"))
    assert no_origin.status_code == 403
    config = await client.get(f"/v1/banner/{key}/config", headers={"Origin": ORIGIN})
    assert config.json()["banner_version"] == 1
    assert config.headers["access-control-allow-origin"] == ORIGIN


async def test_choices_refusals_and_receipts(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    headers = {"Origin": ORIGIN, "User-Agent": "Mozilla/5.0 test"}
    rejected = await client.post(
        f"/v1/banner/{key}/consents", json=choice("reject_all", analytics=True), headers=headers
    )
    body = rejected.json()
    assert body["categories"] == {"necessary": True, "analytics": False, "marketing": False}
    assert body["gpc"] is False
    saved = (
        ok(await client.post(f"/v1/banner/{key}/consents", json=choice("save", analytics=True), headers=headers))
    ).json()
    assert saved["categories"] == {"necessary": True, "analytics": True, "marketing": False}
    receipt = await client.get(f"/v1/banner/{key}/consents/{body['consent_id']}")
    assert receipt.status_code == 200
    assert receipt.json()["categories"] == body["categories"]
    assert receipt.json()["banner_version"] == 1
    assert receipt.json()["expires_at"] > receipt.json()["recorded_at"]
    async with ctx.pool.acquire() as conn:
        stored = await conn.fetchrow(
            "SELECT ip_prefix, user_agent FROM banner_consents WHERE id = $1", saved["consent_id"]
        )
    assert stored["ip_prefix"] == "127.0.0.0/24"  # the test client's address, truncated
    assert stored["user_agent"] == "Mozilla/5.0 test"
    other = await make_tenant(ctx)
    other_key = (await site(client, other))["site_key"]
    assert (await client.get(f"/v1/banner/{other_key}/consents/{body['consent_id']}")).status_code == 404


async def test_gpc_forces_marketing_off(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    response = await client.post(
        f"/v1/banner/{key}/consents", json=choice("accept_all"), headers={"Origin": ORIGIN, "Sec-GPC": "1"}
    )
    assert response.json()["categories"] == {"necessary": True, "analytics": True, "marketing": False}
    assert response.json()["gpc"] is True
    by_script = await client.post(
        f"/v1/banner/{key}/consents",
        json={**choice("save", marketing=True), "gpc_signal": True},
        headers={"Origin": ORIGIN},
    )
    assert by_script.json()["categories"]["marketing"] is False
    assert by_script.json()["gpc"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**choice("save"), "categories": {"tracking": True}}, "categories"),
        ({**choice("save"), "banner_version": 9}, "banner_version"),
        ({**choice("save"), "action": "maybe"}, "action"),
        ({**choice("save"), "visitor_id": "x" * 65}, "visitor_id"),
        ({**choice("save"), "extra": 1}, "body"),
    ],
)
async def test_consent_validation(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str) -> None:
    key = (await site(client, tenant))["site_key"]
    response = await client.post(f"/v1/banner/{key}/consents", json=body, headers={"Origin": ORIGIN})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_body_limit_and_unknown_site(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    big = {**choice("save"), "categories": {f"k{i}": True for i in range(5000)}}
    assert (await client.post(f"/v1/banner/{key}/consents", json=big, headers={"Origin": ORIGIN})).status_code == 413
    assert (await client.get("/v1/banner/site_nope/config")).status_code == 404


async def test_rate_limit_per_address(still_client: httpx.AsyncClient, tenant: Tenant) -> None:
    client = still_client
    key = (await site(client, tenant))["site_key"]
    statuses = [
        (
            await client.post(f"/v1/banner/{key}/consents", json=choice("reject_all"), headers={"Origin": ORIGIN})
        ).status_code
        for _ in range(25)
    ]
    assert statuses[:20] == [201] * 20
    assert statuses[20:] == [429] * 5
    limited = await client.post(f"/v1/banner/{key}/consents", json=choice("reject_all"), headers={"Origin": ORIGIN})
    assert int(limited.headers["retry-after"]) >= 1


async def test_linking_a_receipt_to_a_subject_records_an_objection(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    receipt = (
        ok(await client.post(f"/v1/banner/{key}/consents", json=choice("reject_all"), headers={"Origin": ORIGIN}))
    ).json()
    linked = await client.post(
        f"/v1/sites/{key}/consents/{receipt['consent_id']}/subject",
        json={"subject": {"email": "besok@example.se"}},
        headers=tenant.auth("record"),
    )
    assert linked.status_code == 200
    assert linked.json()["linked_to_subject"] is True
    ok(
        await client.put(
            "/v1/purposes/newsletter",
            headers=tenant.auth(),
            json={
                "legal_basis": "legitimate_interest",
                "direct_marketing": True,
                "channels": ["email"],
                "notice_version": "1",
                "title": text("Nyhetsbrev", "Newsletter"),
                "description": text("N", "N"),
            },
        )
    )
    answer = (
        await client.get(
            "/v1/decisions",
            params={"purpose": "newsletter", "channel": "email", "email": "besok@example.se"},
            headers=tenant.auth(),
        )
    ).json()
    assert (answer["allowed"], answer["reason"]) == (False, "objected")


async def test_gpc_json_and_banner_js(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await site(client, tenant)
    gpc = await client.get("/.well-known/gpc.json", headers={"Host": "example.se"})
    assert gpc.status_code == 200
    assert gpc.json()["gpc"] is True
    assert (await client.get("/.well-known/gpc.json", headers={"Host": "unknown.example"})).status_code == 404
    script = await client.get("/banner.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert "consent-svc:change" in script.text


async def test_gpc_domains_are_only_the_site_s_own_hosts(client: httpx.AsyncClient, tenant: Tenant) -> None:
    claims = {**SITE, "gpc_domains": ["example.se", "bank.example"]}
    refused = await client.post("/v1/sites", json=claims, headers=tenant.auth())
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["field"] == "gpc_domains"
    assert "bank.example" in error["message"]
    assert "example.se, www.example.se" in error["message"]
    # Nothing was claimed: the other domain has no GPC statement.
    assert (await client.get("/.well-known/gpc.json", headers={"Host": "bank.example"})).status_code == 404
    created = await site(client, tenant)
    replaced = await client.put(f"/v1/sites/{created['site_key']}", json=claims, headers=tenant.auth())
    assert replaced.status_code == 400
    assert replaced.json()["errors"][0]["field"] == "gpc_domains"
    # The hosts of the origins are fine, ports or not; a site whose origins change keeps only its own.
    ported = {**SITE, "origins": ["https://shop.example.se:8443"], "gpc_domains": ["shop.example.se"]}
    ok = await client.put(f"/v1/sites/{created['site_key']}", json=ported, headers=tenant.auth())
    assert ok.status_code == 200
    assert ok.json()["gpc_domains"] == ["shop.example.se"]
    stale = {**SITE, "origins": ["https://shop.example.se:8443"]}  # still lists example.se
    assert (await client.put(f"/v1/sites/{created['site_key']}", json=stale, headers=tenant.auth())).status_code == 400
