"""The ledger's hash chain: sealed in order, verified, tampering found at its position, erasure still verifies."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from consent_svc.service import ledger
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, ok, subject_id_of


async def record(client: httpx.AsyncClient, tenant: Tenant, n: int, prefix: str = "chain") -> list[str]:
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()))
    events = [
        {
            "subject": {"email": f"{prefix}{i % 3}@example.se"},
            "type": "consent_given",
            "purpose": "newsletter",
            "proof": {"notice_version": "2026-03", "note": f"event {i}"},
        }
        for i in range(n)
    ]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=tenant.auth())
    return [r["event_id"] for r in response.json()["results"]]


async def seal(ctx: Context, tenant: Tenant) -> int:
    async with ctx.pool.acquire() as conn, conn.transaction():
        return await ledger.seal_tenant(conn, tenant.id)


async def test_sealed_chain_verifies_and_the_head_is_published(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    await record(client, tenant, 10)
    before = (await client.get("/v1/ledger/verify", headers=tenant.auth())).json()
    assert before["ok"] is True
    assert before["events"] == 0
    assert before["unsealed"] == 10
    assert await seal(ctx, tenant) == 10
    result = (await client.get("/v1/ledger/verify", headers=tenant.auth())).json()
    assert result == {"ok": True, "events": 10, "head": result["head"], "unsealed": 0, "first_break": None}
    head = (await client.get("/v1/ledger/head", headers=tenant.auth())).json()
    assert (head["position"], head["head"]) == (10, result["head"])
    await record(client, tenant, 5, "more")
    await seal(ctx, tenant)
    assert (await client.get("/v1/ledger/verify", headers=tenant.auth())).json()["events"] == 15
    assert (await client.get("/v1/ledger/verify", headers=tenant.auth("record"))).status_code == 403


@pytest.mark.parametrize("column", ["proof", "occurred_at", "type"])
async def test_a_row_changed_in_sql_is_found_at_its_position(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant, column: str
) -> None:
    ids = await record(client, tenant, 8)
    await seal(ctx, tenant)
    change = {
        "proof": "proof = jsonb_set(proof, '{notice_version}', '\"forged\"')",
        "occurred_at": "occurred_at = occurred_at - interval '1 day'",
        "type": "type = 'objection'",
    }[column]
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL consent.ledger_rewrite = 'on'")  # someone with database access
        position = await conn.fetchval(
            f"UPDATE events SET {change} WHERE tenant_id = $1 AND id = $2 RETURNING chain_pos", tenant.id, ids[4]
        )
    result = (await client.get("/v1/ledger/verify", headers=tenant.auth())).json()
    assert result["ok"] is False
    assert result["first_break"]["position"] == position
    assert result["first_break"]["event_id"] == ids[4]


async def test_erasure_keeps_the_chain_verifying(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    await record(client, tenant, 6)
    await seal(ctx, tenant)
    sid = await subject_id_of(client, tenant, email="chain1@example.se")
    erased = await client.request("DELETE", f"/v1/subjects/{sid}", headers=tenant.auth())
    assert erased.json()["events_erased"] == 2
    result = (await client.get("/v1/ledger/verify", headers=tenant.auth())).json()
    assert (result["ok"], result["events"]) == (True, 6)
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT proof, erased_digest FROM events WHERE tenant_id = $1 AND subject_id = $2", tenant.id, sid
        )
    assert [(r["proof"], r["erased_digest"] is not None) for r in rows] == [({}, True), ({}, True)]


async def test_two_sealers_at_once_make_one_chain(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    await record(client, tenant, 40)
    counts = await asyncio.gather(ledger.seal_all(ctx), ledger.seal_all(ctx), seal(ctx, tenant))
    assert sum(counts) >= 40
    result = await ledger.verify(ctx, tenant.id)
    assert (result.ok, result.events, result.unsealed) == (True, 40, 0)


async def test_sealing_cannot_rewrite_content(ctx: Context, client: httpx.AsyncClient, tenant: Tenant) -> None:
    import asyncpg

    ids = await record(client, tenant, 1)
    async with ctx.pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "UPDATE events SET chain_pos = 1, chain_hash = '\\x00', proof = '{}' WHERE id = $1", ids[0]
            )


async def test_the_sealer_commits_a_backlog_in_steps_and_erasure_seals_it_all(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sealer's rounds (seal_all, seal_now) commit every SEAL_BATCH events, the head locked again
    for each step: the rows of each step were last written by a transaction of its own. An erasure
    seals, inside its own transaction, everything still unsealed."""
    monkeypatch.setattr(ledger, "SEAL_BATCH", 3)
    await record(client, tenant, 10)
    assert await ledger.seal_now(ctx, tenant.id) == 10
    await record(client, tenant, 7, "later")
    assert await ledger.seal_all(ctx) >= 7  # other tests' tenants too
    async with ctx.pool.acquire() as conn:
        writers = await conn.fetchval(
            "SELECT count(DISTINCT xmin::text) FROM events WHERE tenant_id = $1 AND chain_pos IS NOT NULL", tenant.id
        )
    assert writers == 4 + 3  # ceil(10 / 3) steps, then ceil(7 / 3)
    result = await ledger.verify(ctx, tenant.id)
    assert (result.ok, result.events, result.unsealed) == (True, 17, 0)
    await record(client, tenant, 8, "erased")
    sid = await subject_id_of(client, tenant, email="erased1@example.se")
    erased = await client.request("DELETE", f"/v1/subjects/{sid}", headers=tenant.auth())
    assert erased.status_code == 200
    result = await ledger.verify(ctx, tenant.id)
    assert (result.ok, result.events, result.unsealed) == (True, 25, 0)
