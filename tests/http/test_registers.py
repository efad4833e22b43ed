"""Opt-out registers over the API (issue 19): import, replace, refusal of bad files, listing,
tenant isolation, and no plaintext anywhere after an import."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from consent_svc.domain.identifiers import Identifier, swedish_today
from consent_svc.domain.ids import uuid7
from consent_svc.domain.registers import valid_until
from consent_svc.http.app import create_metrics_app
from consent_svc.service import decisions as decisions_service
from consent_svc.service import registers as registers_service
from consent_svc.service.context import Context
from consent_svc.store import webhooks
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
        # Nothing is left staged; the replaced snapshot's entries stay a grace period (a decision
        # that read the old snapshot a moment ago still finds them), then housekeeping deletes them.
        old = uuid.UUID(register["snapshot_id"])
        assert await conn.fetchval("SELECT count(*) FROM register_staging WHERE tenant_id = $1", tenant.id) == 0
        assert await conn.fetchval("SELECT count(*) FROM register_entries WHERE snapshot_id = $1", old) == 3
    await registers_service.housekeeping(ctx)
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM register_entries WHERE snapshot_id = $1", old) == 3
    later = dataclasses.replace(ctx, clock=lambda: datetime.now(UTC) + registers_service.REPLACED_GRACE)
    await registers_service.housekeeping(later)
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM register_entries WHERE snapshot_id = $1", old) == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM register_entries WHERE snapshot_id = $1",
                uuid.UUID(second.json()["register"]["snapshot_id"]),
            )
            == 1
        )


async def test_a_file_with_bad_lines_imports_nothing_and_names_them(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ok = await upload(client, tenant, "nix-adresserat", "personnummer\n19121212-1212\n")
    assert ok.status_code == 201, ok.text
    before = await registers(client, tenant)
    lines = ["personnummer", "19121212-1212", "19121212-1213", "811318-9876", "", "701063-2391"]
    bad = await upload(client, tenant, "nix-adresserat", "\n".join(lines) + "\n" + "hej\n" * 30)
    assert bad.status_code == 400, bad.text
    problem = bad.json()
    fields = [e["field"] for e in problem["errors"]]
    assert fields[:3] == ["line[3]", "line[4]", "line[6]"]  # line 6: ten digits (a register lists twelve)
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
    with capture_logs() as logs:
        assert (await upload(client, tenant, "spar-reklamsparr", "19121212-1212\n201212121212\n")).status_code == 201
        bad = await upload(client, tenant, "spar-reklamsparr", "19121212-1212\n20121212-1213\n")
        assert bad.status_code == 400
    assert logs
    assert not any("1212" in json.dumps(line, default=str) for line in logs)
    assert await registers(client, other) == {}
    assert (await client.get("/v1/registers", headers=tenant.auth("check"))).status_code == 403
    async with ctx.pool.acquire() as conn:
        left = await traces(conn, tenant.id, ["191212121212", "201212121212", "1212121212", "121212-1212"], [])
    assert left == []


# --- decisions (R1) -----------------------------------------------------------------------------

CALLS = {
    "legal_basis": "legitimate_interest",
    "direct_marketing": True,
    "channels": ["phone", "post", "sms"],
    "notice_version": "2026-03",
    "title": {"sv": "Erbjudanden", "en": "Offers"},
    "description": {"sv": "Erbjudanden per telefon och brev.", "en": "Offers by phone and letter."},
}


async def setup_calls(client: httpx.AsyncClient, tenant: Tenant, **extra: Any) -> None:
    response = await client.put("/v1/purposes/calls", json={**CALLS, **extra}, headers=tenant.auth())
    assert response.status_code in (200, 201), response.text
    for who in ({"phone": "070-123 45 67"}, {"phone": "070-123 45 68"}, {"personal_number": "19121212-1212"}):
        lead = await client.post("/v1/events", json={"subject": who, "type": "lead_activity"}, headers=tenant.auth())
        assert lead.status_code == 201, lead.text


async def decide(client: httpx.AsyncClient, tenant: Tenant, channel: str = "phone", **who: str) -> dict[str, Any]:
    response = await client.get(
        "/v1/decisions", params={"purpose": "calls", "channel": channel, **who}, headers=tenant.auth("check")
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_phone_marketing_waits_for_a_wash_and_follows_each_snapshot(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await setup_calls(client, tenant)
    # No NIX-Telefon snapshot yet: nobody may be called (the default register of phone marketing).
    never = await decide(client, tenant, phone="0701234567")
    assert (never["allowed"], never["reason"], never["rule"]) == (False, "register_stale", "R1")
    assert never["registers"] == [{"name": "nix-telefon", "version_date": None, "snapshot_id": None}]
    # Email is not a register channel: unaffected.
    assert (await decide(client, tenant, "sms", phone="0701234567"))["reason"] != "register_stale"

    version = TODAY - timedelta(days=5)
    first = (await upload(client, tenant, "nix-telefon", "0701234567\n", version)).json()["register"]
    blocked = await decide(client, tenant, phone="+46701234567")
    assert (blocked["allowed"], blocked["reason"], blocked["rule"]) == (False, "suppressed", "R1")
    assert blocked["evidence"] == [first["snapshot_id"]]
    assert blocked["registers"] == [
        {"name": "nix-telefon", "version_date": version.isoformat(), "snapshot_id": first["snapshot_id"]}
    ]
    callable_ = await decide(client, tenant, phone="0701234568")
    assert (callable_["allowed"], callable_["reason"]) == (True, "li_lead")
    assert callable_["expires_at"] is not None
    assert datetime.fromisoformat(callable_["expires_at"]) <= datetime.fromisoformat(first["valid_until"])

    # The batch reads the same snapshot.
    batch = await client.post(
        "/v1/decisions/batch",
        json={"purpose": "calls", "channel": "phone", "recipients": [{"phone": "0701234567"}, {"phone": "0701234568"}]},
        headers=tenant.auth("check"),
    )
    assert [r["reason"] for r in batch.json()["results"]] == ["suppressed", "li_lead"]

    # The next version no longer lists 070-123 45 67: callable again.
    assert (await upload(client, tenant, "nix-telefon", "0701234999\n", version + timedelta(days=1))).status_code == 201
    assert (await decide(client, tenant, phone="0701234567"))["allowed"] is True


async def test_a_batch_that_outlives_an_import_still_finds_the_listed(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    """A batch reads which snapshots are in force; an import that commits meanwhile must not
    leave its later chunks matching nothing (a listed number allowed with a wash as proof)."""
    await setup_calls(client, tenant)
    old = (await upload(client, tenant, "nix-telefon", "0701234567\n", TODAY - timedelta(days=5))).json()
    purpose, read_at_start = await decisions_service.load_purpose_and_registers(ctx, tenant.id, "calls")
    new = (await upload(client, tenant, "nix-telefon", "0701234567\n", TODAY - timedelta(days=1))).json()
    [answer] = await decisions_service._decide_chunk(
        ctx, tenant.id, purpose, "phone", [Identifier("phone", "+46701234567")], datetime.now(UTC), read_at_start
    )
    assert not isinstance(answer, decisions_service.InvalidRecipient)
    assert (answer.allowed, answer.reason) == (False, "suppressed")
    assert [str(e) for e in answer.evidence] == [new["register"]["snapshot_id"]]  # judged by the one in force
    assert old["register"]["snapshot_id"] != new["register"]["snapshot_id"]


@pytest.mark.parametrize(("age", "stale"), [(59, False), (60, True), (61, True)])
async def test_a_wash_is_good_for_60_days(client: httpx.AsyncClient, tenant: Tenant, age: int, stale: bool) -> None:
    await setup_calls(client, tenant)
    response = await upload(client, tenant, "nix-telefon", "0701234999\n", TODAY - timedelta(days=age))
    assert response.json()["register"]["stale"] is stale
    answer = await decide(client, tenant, phone="0701234567")
    assert answer["reason"] == ("register_stale" if stale else "li_lead")
    assert (await registers(client, tenant))["nix-telefon"]["stale"] is stale


async def test_a_recent_consent_is_an_exception_until_90_days(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup_calls(client, tenant)
    given_at = datetime.now(UTC) - timedelta(days=80)
    consent = await client.post(
        "/v1/events",
        json={"subject": {"phone": "0701234567"}, "type": "consent_given", "purpose": "calls", "channels": ["phone"],
              "occurred_at": given_at.isoformat(), "proof": {"notice_version": "2026-03"}},
        headers=tenant.auth(),
    )  # fmt: skip
    assert consent.status_code == 201, consent.text
    await upload(client, tenant, "nix-telefon", "0701234567\n", TODAY - timedelta(days=1))
    answer = await decide(client, tenant, phone="0701234567")
    assert (answer["allowed"], answer["reason"]) == (True, "consent_active")
    # The exception ends 90 days after the consent (before the wash's validity does).
    assert datetime.fromisoformat(answer["expires_at"]) == given_at + timedelta(days=90)


async def test_post_checks_nix_adresserat_and_spar_by_personal_number(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await setup_calls(client, tenant)
    assert (await upload(client, tenant, "nix-adresserat", "personnummer\n19811218-9876\n")).status_code == 201
    only_one = await decide(client, tenant, "post", personal_number="191212121212")
    assert only_one["reason"] == "register_stale"  # SPAR was never imported
    await upload(client, tenant, "spar-reklamsparr", "19121212-1212\n")
    blocked = await decide(client, tenant, "post", personal_number="121212+1212")
    assert (blocked["allowed"], blocked["reason"]) == (False, "suppressed")
    assert [r["name"] for r in blocked["registers"]] == ["nix-adresserat", "spar-reklamsparr"]
    # A purpose that names no register checks none.
    await setup_calls(client, tenant, registers=[])
    assert (await decide(client, tenant, "post", personal_number="121212+1212"))["allowed"] is True


async def test_post_to_a_person_whose_personal_number_nobody_gave_cannot_be_washed(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Asked by email for post: the postal registers list personal numbers, so unless the person's
    number is known they cannot be checked, and a wash is no proof (R1 register_unverifiable)."""
    await setup_calls(client, tenant)
    for name in ("nix-adresserat", "spar-reklamsparr"):
        assert (await upload(client, tenant, name, "19811218-9876\n")).status_code == 201
    lead = await client.post(
        "/v1/events", json={"subject": {"email": "anna@example.se"}, "type": "lead_activity"}, headers=tenant.auth()
    )
    assert lead.status_code == 201, lead.text
    unknown = await decide(client, tenant, "post", email="anna@example.se")
    assert (unknown["allowed"], unknown["reason"], unknown["rule"]) == (False, "register_unverifiable", "R1")
    assert [r["name"] for r in unknown["registers"]] == ["nix-adresserat", "spar-reklamsparr"]
    # Once her personal number is known (and not listed), the wash holds, asked by email too.
    linked = await client.post(
        "/v1/events",
        json={"subject": {"email": "anna@example.se", "personal_number": "19850321-1230"}, "type": "lead_activity"},
        headers=tenant.auth(),
    )
    assert linked.status_code == 201, linked.text
    washed = await decide(client, tenant, "post", email="anna@example.se")
    assert (washed["allowed"], washed["reason"]) == (True, "li_lead")
    batch = await client.post(
        "/v1/decisions/batch",
        json={"purpose": "calls", "channel": "post",
              "recipients": [{"email": "anna@example.se"}, {"email": "nobody@example.se"}]},
        headers=tenant.auth("check"),
    )  # fmt: skip
    assert [r["reason"] for r in batch.json()["results"]] == ["li_lead", "register_unverifiable"]


async def test_one_tenants_register_blocks_nobody_elsewhere(client: httpx.AsyncClient, ctx: Context) -> None:
    first, second = await make_tenant(ctx), await make_tenant(ctx)
    for tenant, listed in ((first, "0701234567"), (second, "0701234999")):
        await setup_calls(client, tenant)
        assert (await upload(client, tenant, "nix-telefon", f"{listed}\n")).status_code == 201
    assert (await decide(client, first, phone="0701234567"))["reason"] == "suppressed"
    assert (await decide(client, second, phone="0701234567"))["reason"] == "li_lead"


# --- register.stale and the metrics -------------------------------------------------------------


async def test_a_register_past_its_validity_is_announced_once(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    async with ctx.pool.acquire() as conn:
        await webhooks.create_webhook(
            conn, tenant.id, uuid7(), "https://hooks.example.com/x", ("register.stale",), "whsec_" + "x" * 32
        )
    version = TODAY - timedelta(days=59)
    await upload(client, tenant, "nix-telefon", "0701234567\n", version)
    end = valid_until(version)

    async def announced() -> list[dict[str, Any]]:
        async with ctx.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT payload FROM outbox WHERE tenant_id = $1 AND event_type = 'register.stale'", tenant.id
            )
        return [json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"] for r in rows]

    await registers_service.announce_stale(dataclasses.replace(ctx, clock=lambda: end - timedelta(seconds=1)))
    assert await announced() == []
    later = dataclasses.replace(ctx, clock=lambda: end)
    await registers_service.announce_stale(later)
    await registers_service.announce_stale(later)  # once per snapshot
    [message] = await announced()
    assert message["register"] == "nix-telefon"
    assert message["version_date"] == version.isoformat()
    assert datetime.fromisoformat(message["valid_until"]) == end

    # The metrics show the register's age and that it is stale.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_metrics_app(later)), base_url="http://m"
    ) as metrics:
        text = (await metrics.get("/metrics")).text
    labels = f'{{register="nix-telefon",tenant="{tenant.name}"}}'
    assert f"consent_register_stale{labels} 1.0" in text
    age = next(line for line in text.splitlines() if line.startswith(f"consent_register_age_seconds{labels}"))
    assert float(age.split()[-1]) == pytest.approx(60 * 86400, abs=3600)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"direct_marketing": False, "legal_basis": "contract"}, "direct marketing only"),
        ({"registers": ["nix-telefon", "nix-telefon"]}, "twice"),
        ({"registers": ["NIX Telefon"]}, ""),
    ],
)
async def test_purpose_registers_are_checked(
    client: httpx.AsyncClient, tenant: Tenant, extra: dict[str, Any], message: str
) -> None:
    body = {**CALLS, "registers": ["nix-telefon"], **extra}
    response = await client.put("/v1/purposes/calls", json=body, headers=tenant.auth())
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"].startswith("registers")
    assert message in response.json()["errors"][0]["message"]
    saved = await client.put("/v1/purposes/calls", json={**CALLS, "registers": []}, headers=tenant.auth())
    assert saved.json()["registers"] == []
    default = await client.put("/v1/purposes/calls", json=CALLS, headers=tenant.auth())
    assert default.json()["registers"] is None
