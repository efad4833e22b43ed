"""What an administrator reads and does every day (issue 15): following a decision's evidence,
listing people and their history, erasure receipts and dry runs, the sweep audit, deleting a site."""

from __future__ import annotations

import httpx

from consent_svc.service import retention
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, make_tenant, ok, put_purpose, subject_id_of
from tests.http.test_banner import ORIGIN, SITE, choice

CONSENT = {"type": "consent_given", "purpose": "newsletter", "proof": {"notice_version": "2026-03"}}


async def consent(client: httpx.AsyncClient, tenant: Tenant, email: str, **more: object) -> dict[str, str]:
    response = ok(await client.post("/v1/events", json={"subject": {"email": email}, **CONSENT, **more},
                                    headers=tenant.auth()))  # fmt: skip
    return dict(response.json())


async def test_a_decisions_evidence_can_be_followed(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    await consent(client, tenant, "ev@example.se", source="web_form")
    params = {"purpose": "newsletter", "channel": "email", "email": "ev@example.se"}
    allowed = (await client.get("/v1/decisions", params=params, headers=tenant.auth("check"))).json()
    [event_id] = allowed["evidence"]
    event = ok(await client.get(f"/v1/events/{event_id}", headers=tenant.auth())).json()
    assert (event["id"], event["type"], event["source"]) == (event_id, "consent_given", "web_form")
    assert event["proof"]["notice_version"] == "2026-03"
    # Proof is personal data: an admin key reads it, a check key does not; other tenants see nothing.
    assert (await client.get(f"/v1/events/{event_id}", headers=tenant.auth("check"))).status_code == 403
    other = await make_tenant(ctx)
    assert (await client.get(f"/v1/events/{event_id}", headers=other.auth())).status_code == 404

    entry = ok(await client.post("/v1/suppressions", json={"email": "ev@example.se", "reason": "complaint"},
                                 headers=tenant.auth()))  # fmt: skip
    denied = (await client.get("/v1/decisions", params=params, headers=tenant.auth("check"))).json()
    assert denied["reason"] == "suppressed"
    [entry_id] = denied["evidence"]
    assert entry_id == entry.json()["id"]
    read = ok(await client.get(f"/v1/suppressions/{entry_id}", headers=tenant.auth("check"))).json()
    assert (read["reason"], read["lifted_at"]) == ("complaint", None)
    assert (await client.get(f"/v1/suppressions/{entry_id}", headers=other.auth())).status_code == 404


async def test_people_are_listed_with_their_history(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    ids = [(await consent(client, tenant, f"p{i}@example.se"))["subject_id"] for i in range(5)]
    first = ok(await client.get("/v1/subjects", params={"limit": 2}, headers=tenant.auth())).json()
    assert [s["id"] for s in first["items"]] == ids[:2]
    assert first["items"][0]["identifiers"] == [{"type": "email", "value": "p0@example.se"}]
    assert first["items"][0]["kind"] == "consumer"
    assert first["items"][0]["last_event_at"] is not None
    rest = ok(await client.get("/v1/subjects", params={"cursor": first["next_cursor"]}, headers=tenant.auth())).json()
    assert [s["id"] for s in rest["items"]] == ids[2:]
    assert rest["next_cursor"] is None
    assert await subject_id_of(client, tenant, email="P3@example.se") == ids[3]
    assert (await client.get("/v1/subjects", headers=(await make_tenant(ctx)).auth())).json()["items"] == []

    sid = ids[0]
    for _ in range(2):
        ok(await client.post("/v1/events", json={"subject": {"email": "p0@example.se"}, "type": "lead_activity"},
                             headers=tenant.auth()))  # fmt: skip
    page = ok(await client.get(f"/v1/subjects/{sid}/events", params={"limit": 2}, headers=tenant.auth())).json()
    assert [e["type"] for e in page["items"]] == ["consent_given", "lead_activity"]
    more = await client.get(f"/v1/subjects/{sid}/events", params={"cursor": page["next_cursor"]}, headers=tenant.auth())
    assert [e["type"] for e in more.json()["items"]] == ["lead_activity"]
    assert more.json()["next_cursor"] is None
    unknown = "0190a4c0-0000-7000-8000-000000000000"
    assert (await client.get(f"/v1/subjects/{unknown}/events", headers=tenant.auth())).status_code == 404


async def test_an_erasure_dry_run_changes_nothing_and_the_receipt_can_be_read_later(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    await put_purpose(client, tenant)
    sid = (await consent(client, tenant, "dry@example.se"))["subject_id"]
    async with ctx.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM outbox WHERE tenant_id = $1", tenant.id)
    plan = ok(await client.request("DELETE", f"/v1/subjects/{sid}", params={"dry_run": "true"},
                                   json={"reason": "ticket 9"}, headers=tenant.auth())).json()  # fmt: skip
    assert (plan["dry_run"], plan["erasure_id"], plan["events_erased"]) == (True, None, 1)
    assert plan["identifiers_removed"] == {"email": 1}
    assert plan["suppressions_kept"] == 1
    # Nothing changed: the person, their decision, the ledger, no receipt, no webhook message.
    assert await subject_id_of(client, tenant, email="dry@example.se") == sid
    params = {"purpose": "newsletter", "channel": "email", "email": "dry@example.se"}
    assert (await client.get("/v1/decisions", params=params, headers=tenant.auth())).json()["allowed"] is True
    assert (await client.get("/v1/erasures", headers=tenant.auth())).json()["items"] == []
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE tenant_id = $1", tenant.id) == before
        assert await conn.fetchval("SELECT count(*) FROM suppressions WHERE tenant_id = $1", tenant.id) == 0

    receipt = ok(await client.request("DELETE", f"/v1/subjects/{sid}", json={"reason": "ticket 9"},
                                      headers=tenant.auth())).json()  # fmt: skip
    assert receipt["dry_run"] is False
    assert {k: v for k, v in receipt.items() if k not in ("erasure_id", "erased_at", "dry_run")} == {
        k: v for k, v in plan.items() if k not in ("erasure_id", "erased_at", "dry_run")
    }
    later = ok(await client.get(f"/v1/erasures/{receipt['erasure_id']}", headers=tenant.auth())).json()
    assert later == receipt
    assert (await client.get("/v1/erasures", headers=tenant.auth())).json()["items"] == [receipt]
    assert (
        await client.get(f"/v1/erasures/{receipt['erasure_id']}", headers=(await make_tenant(ctx)).auth())
    ).status_code == 404


async def test_the_sweep_audit_is_listed_newest_first(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    await consent(client, tenant, "kept@example.se")
    for dry in (True, False):
        await retention.sweep_tenant(ctx, tenant.id, tenant.name, dry_run=dry)
    runs = ok(await client.get("/v1/retention/runs", headers=tenant.auth())).json()
    assert [(r["dry_run"], r["scanned"], r["swept"]) for r in runs["items"]] == [(False, 1, 0), (True, 1, 0)]
    assert runs["next_cursor"] is None
    assert (await client.get("/v1/retention/runs", headers=tenant.auth("record"))).status_code == 403


async def test_a_deleted_site_answers_no_banner_and_keeps_its_receipts(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant, body=NEWSLETTER)
    key = ok(await client.post("/v1/sites", json=SITE, headers=tenant.auth())).json()["site_key"]
    receipt = ok(await client.post(f"/v1/banner/{key}/consents", json=choice("reject_all"), headers={"Origin": ORIGIN}))
    consent_id = receipt.json()["consent_id"]
    ok(await client.post(f"/v1/sites/{key}/consents/{consent_id}/subject",
                         json={"subject": {"email": "visitor@example.se"}}, headers=tenant.auth()))  # fmt: skip
    deleted = ok(await client.delete(f"/v1/sites/{key}", headers=tenant.auth())).json()
    assert deleted == {"site_key": key, "deleted": True, "receipts_kept": 1}
    assert (await client.get(f"/v1/banner/{key}/config", headers={"Origin": ORIGIN})).status_code == 404
    refused = await client.post(f"/v1/banner/{key}/consents", json=choice("accept_all"), headers={"Origin": ORIGIN})
    assert refused.status_code == 404
    assert (await client.get(f"/v1/sites/{key}", headers=tenant.auth())).status_code == 404
    assert (await client.get("/v1/sites", headers=tenant.auth())).json()["items"] == []
    assert (await client.delete(f"/v1/sites/{key}", headers=tenant.auth())).status_code == 404
    # The proof of the choice is still in the person's export.
    sid = await subject_id_of(client, tenant, email="visitor@example.se")
    export = ok(await client.get(f"/v1/subjects/{sid}/export", headers=tenant.auth())).json()
    assert [r["id"] for r in export["banner_receipts"]] == [consent_id]
