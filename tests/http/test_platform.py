"""Tenants and keys over the API with a platform key; the wall between platform and tenant keys."""

from __future__ import annotations

import secrets

import httpx

from consent_svc.service import tenants
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, ok


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_platform_key_onboards_a_tenant_that_then_works(client: httpx.AsyncClient, ctx: Context) -> None:
    _, platform = await tenants.create_platform_key(ctx, "ops")
    assert platform.startswith("csp_")
    name = "onboard-" + secrets.token_hex(4)
    created = ok(await client.post("/v1/tenants", json={"name": name}, headers=bearer(platform)))
    assert created.status_code == 201
    tenant_id = created.json()["id"]
    assert (await client.post("/v1/tenants", json={"name": name}, headers=bearer(platform))).status_code == 409
    bad = await client.post("/v1/tenants", json={"name": "Not A Name"}, headers=bearer(platform))
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "name")
    assert ok(await client.get(f"/v1/tenants/{tenant_id}", headers=bearer(platform))).json()["name"] == name

    new = ok(await client.post(f"/v1/tenants/{tenant_id}/keys", json={"scope": "admin", "label": "crm"},
                               headers=bearer(platform))).json()  # fmt: skip
    assert new["key"].startswith("csk_")
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=bearer(new["key"])))
    listed = ok(await client.get(f"/v1/tenants/{tenant_id}/keys", headers=bearer(platform))).json()
    assert [(k["id"], k["scope"], k["label"], k["revoked_at"]) for k in listed["items"]] == [
        (new["id"], "admin", "crm", None)
    ]
    assert "key" not in listed["items"][0]
    revoked = ok(await client.delete(f"/v1/tenants/{tenant_id}/keys/{new['id']}", headers=bearer(platform)))
    assert revoked.json()["revoked_at"] is not None
    assert (await client.get("/v1/purposes", headers=bearer(new["key"]))).status_code == 401


async def test_platform_and_tenant_keys_cannot_cross(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    _, platform = await tenants.create_platform_key(ctx, None)
    # A platform key reads no tenant's data, through either path to decisions.
    for path in ("/v1/purposes", "/v1/subjects", "/v1/suppressions/export",
                 "/v1/decisions?purpose=newsletter&channel=email&email=a@example.se"):  # fmt: skip
        assert (await client.get(path, headers=bearer(platform))).status_code == 403, path
    # No tenant's key, admin included, manages tenants or keys.
    for method, path in (("GET", "/v1/tenants"), ("POST", f"/v1/tenants/{tenant.id}/keys")):
        response = await client.request(method, path, json={"scope": "admin"}, headers=tenant.auth())
        assert response.status_code == 403, (method, path)
    # A key is revoked only through its own tenant's path.
    other_id = (await client.post("/v1/tenants", json={"name": "x-" + secrets.token_hex(4)},
                                  headers=bearer(platform))).json()["id"]  # fmt: skip
    key_id = ok(await client.get(f"/v1/tenants/{tenant.id}/keys", headers=bearer(platform))).json()["items"][0]["id"]
    assert (await client.delete(f"/v1/tenants/{other_id}/keys/{key_id}", headers=bearer(platform))).status_code == 404
    assert (await client.get("/v1/purposes", headers=tenant.auth("check"))).status_code == 200


async def test_tenants_are_listed_in_pages_and_a_revoked_platform_key_stops(
    client: httpx.AsyncClient, ctx: Context
) -> None:
    key_id, platform = await tenants.create_platform_key(ctx, "pages")
    prefix = "page-" + secrets.token_hex(3)
    for i in range(3):
        ok(await client.post("/v1/tenants", json={"name": f"{prefix}-{i}"}, headers=bearer(platform)))
    names: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = ok(await client.get("/v1/tenants", params=params, headers=bearer(platform))).json()
        names += [t["name"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [n for n in names if n.startswith(prefix)] == [f"{prefix}-{i}" for i in range(3)]
    assert names == sorted(names)
    await tenants.revoke_key(ctx, key_id)
    assert (await client.get("/v1/tenants", headers=bearer(platform))).status_code == 401
