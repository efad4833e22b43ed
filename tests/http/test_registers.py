"""Opt-out registers over the API (issue 19): import, replace, refusal of bad files, listing,
tenant isolation, and no plaintext anywhere after an import."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from consent_svc.domain.identifiers import Identifier, swedish_today
from consent_svc.service.context import Context
from tests.conftest import Tenant, make_tenant
from tests.http.leftovers import traces

TODAY = swedish_today()


async def upload(
    client: httpx.AsyncClient,
    tenant: Tenant,
    name: str,
    body: str | bytes,
    version: date | None = None,
    **params: str,
) -> httpx.Response:
    return await client.post(
        f"/v1/registers/{name}/snapshots",
        params={"version_date": (version or TODAY).isoformat(), **params},
        content=body.encode() if isinstance(body, str) else body,
        headers={**tenant.auth(), "Content-Type": "text/csv"},
    )


async def registers(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.get("/v1/registers", headers=tenant.auth())
    assert response.status_code == 200, response.text
    return {r["name"]: r for r in response.json()["items"]}


async def test_a_snapshot_is_imported_listed_and_replaced(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    first = await upload(
        client,
        tenant,
        "nix-telefon",
        "telefonnummer\r\n070-123 45 67\r\n+46701234568\r\n\r\n08-123 456 78\r\n070-1234567\r\n",
    )
    assert first.status_code == 201, first.text
    register = first.json()["register"]
    assert (register["entries"], first.json()["lines"], register["stale"]) == (3, 4, False)
    assert register["channel"] == "phone"
    assert register["identifier"] == "phone"
    listed = await registers(client, tenant)
    assert listed["nix-telefon"]["version_date"] == TODAY.isoformat()
    assert listed["nix-telefon"]["snapshot_id"] == register["snapshot_id"]

    # A new version without 070-123 45 67: it is no longer in the register.
    second = await upload(client, tenant, "nix-telefon", "46701234568\n")
    assert second.status_code == 201, second.text
    assert second.json()["register"]["entries"] == 1
    key = ctx.hasher.key(Identifier("phone", "+46701234567"))
    kept = ctx.hasher.key(Identifier("phone", "+46701234568"))
    async with ctx.pool.acquire() as conn:
        current = await conn.fetch(
            "SELECT e.hash FROM register_entries e JOIN registers r ON r.snapshot_id = e.snapshot_id "
            "WHERE r.tenant_id = $1",
            tenant.id,
        )
        assert [r["hash"] for r in current] == [kept]
        assert key not in [r["hash"] for r in current]
        # The replaced snapshot's partition is gone.
        old = register["snapshot_id"].replace("-", "")
        assert await conn.fetchval("SELECT to_regclass($1)", f"register_entries_{old}") is None


async def test_a_file_with_bad_lines_imports_nothing_and_names_them(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ok = await upload(client, tenant, "nix-adresserat", "personnummer\n19121212-1212\n")
    assert ok.status_code == 201, ok.text
    before = await registers(client, tenant)
    lines = ["personnummer", "19121212-1212", "19121212-1213", "811318-9876", "", "701063-2391"]
    bad = await upload(client, tenant, "nix-adresserat", "\n".join(lines) + "\n" + "hej\n" * 30)
    assert bad.status_code == 400, bad.text
    problem = bad.json()
    fields = [e["field"] for e in problem["errors"]]
    assert fields[:3] == ["line[3]", "line[4]", "line[7]"]
    assert len(fields) == 20
    assert "more than 20" in problem["detail"]
    assert "wrong check digit" in problem["errors"][0]["message"]
    assert "1213" not in bad.text
    assert "9876" not in bad.text
    assert await registers(client, tenant) == before  # nothing half-written


@pytest.mark.parametrize(
    ("name", "params", "body", "status", "field"),
    [
        ("nix-telefon", {}, "telefonnummer\n", 400, "body"),
        ("min-lista", {}, "0701234567\n", 400, "channel"),
        ("nix-telefon", {"channel": "post"}, "0701234567\n", 400, "channel"),
        ("Not_A_Name", {"channel": "phone"}, "0701234567\n", 400, "name"),
    ],
)
async def test_refused_imports(
    client: httpx.AsyncClient, tenant: Tenant, name: str, params: dict[str, str], body: str, status: int, field: str
) -> None:
    response = await upload(client, tenant, name, body, None, **params)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await registers(client, tenant) == {}


async def test_versions_go_forward_only(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await upload(client, tenant, "nix-telefon", "0701234567\n", TODAY - timedelta(days=3))).status_code == 201
    older = await upload(client, tenant, "nix-telefon", "0701234568\n", TODAY - timedelta(days=4))
    assert older.status_code == 409
    future = await upload(client, tenant, "nix-telefon", "0701234568\n", TODAY + timedelta(days=1))
    assert future.status_code == 400
    assert future.json()["errors"][0]["field"] == "version_date"
    stale = await upload(client, tenant, "nix-telefon", "0701234568\n", TODAY - timedelta(days=2))
    assert stale.status_code == 201
    own = await upload(client, tenant, "kundspärr", "x\n", channel="sms")
    assert own.status_code in (400, 404)
    mine = await upload(client, tenant, "egen-sparr", "0701234569\n", channel="sms")
    assert mine.status_code == 201, mine.text
    assert mine.json()["register"]["channel"] == "sms"


async def test_registers_are_per_tenant_and_hold_no_plaintext(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    other = await make_tenant(ctx)
    assert (await upload(client, tenant, "spar-reklamsparr", "19121212-1212\n121212-1212\n")).status_code == 201
    assert await registers(client, other) == {}
    assert (await client.get("/v1/registers", headers=tenant.auth("check"))).status_code == 403
    async with ctx.pool.acquire() as conn:
        left = await traces(conn, tenant.id, ["191212121212", "201212121212", "1212121212", "121212-1212"], [])
    assert left == []
