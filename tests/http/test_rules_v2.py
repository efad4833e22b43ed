"""Decision rules v2 through the API (issue 12): the findings that need the store, each as a user
would meet it. The pure rules have their own table (tests/domain/test_rules.py)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from consent_svc.domain.identifiers import Identifier
from consent_svc.domain.ids import uuid7
from consent_svc.service import retention
from consent_svc.service.context import Context
from consent_svc.store import outbox, webhooks
from tests.conftest import NEWSLETTER, Tenant, ok
from tests.http.leftovers import traces

LI = {
    **NEWSLETTER,
    "legal_basis": "legitimate_interest",
    "channels": ["email", "phone", "post"],
    "registers": [],  # no opt-out register checked here (tests/http/test_registers.py has them)
    "title": {"sv": "Erbjudanden", "en": "Offers"},
}


async def try_purpose(client: httpx.AsyncClient, tenant: Tenant, key: str, body: dict[str, Any]) -> httpx.Response:
    return await client.put(f"/v1/purposes/{key}", json=body, headers=tenant.auth())


async def record(client: httpx.AsyncClient, tenant: Tenant, **event: Any) -> dict[str, Any]:
    response = await client.post("/v1/events", json=event, headers=tenant.auth())
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def decide(
    client: httpx.AsyncClient, tenant: Tenant, purpose: str = "newsletter", channel: str = "email", **who: str
) -> dict[str, Any]:
    response = await client.get(
        "/v1/decisions", params={"purpose": purpose, "channel": channel, **who}, headers=tenant.auth()
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def consent(who: dict[str, str], notice: str = "2026-03", **more: Any) -> dict[str, Any]:
    return {
        "subject": who,
        "type": "consent_given",
        "purpose": "newsletter",
        "proof": {"notice_version": notice},
        **more,
    }


# --- purpose configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "body", "field"),
    [
        ("all", NEWSLETTER, "key"),
        ("invoices", {**NEWSLETTER, "legal_basis": "legal_obligation"}, "direct_marketing"),
        ("orders", {**NEWSLETTER, "legal_basis": "contract"}, "direct_marketing"),
        ("news", {**NEWSLETTER, "soft_opt_in": True}, "soft_opt_in"),
    ],
)
async def test_configurations_the_law_rules_out_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, key: str, body: dict[str, Any], field: str
) -> None:
    response = await try_purpose(client, tenant, key, body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert (await client.get(f"/v1/purposes/{key}", headers=tenant.auth())).status_code == 404


async def test_a_consent_must_name_a_published_notice(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await try_purpose(client, tenant, "newsletter", NEWSLETTER)).status_code == 201
    response = await client.post(
        "/v1/events", json=consent({"email": "a@example.se"}, "1999-01"), headers=tenant.auth()
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "proof.notice_version",
            "message": "purpose 'newsletter' never published notice version '1999-01' (published: 2026-03)",
        }
    ]
    # An older notice the purpose did publish is accepted (and judged by the rules).
    assert (
        await try_purpose(client, tenant, "newsletter", {**NEWSLETTER, "notice_version": "2026-09"})
    ).status_code == 200
    await record(client, tenant, **consent({"email": "a@example.se"}, "2026-03"))


async def test_a_material_change_is_judged_by_the_notice_each_consent_names(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await try_purpose(client, tenant, "newsletter", NEWSLETTER)
    old_form = {"email": "old.form@example.se"}
    new_form = {"email": "new.form@example.se"}
    deadline = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    # A material change without a new notice version is refused.
    same = await try_purpose(client, tenant, "newsletter", {**NEWSLETTER, "reconsent_required_before": deadline})
    assert (same.status_code, same.json()["errors"][0]["field"]) == (400, "notice_version")
    changed = await try_purpose(
        client, tenant, "newsletter", {**NEWSLETTER, "notice_version": "2026-09", "reconsent_required_before": deadline}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["notice_deadlines"] == {"2026-03": deadline.replace("+00:00", "Z")}
    # Given after the change on the old form (v1 allowed it): denied.
    await record(client, tenant, **consent(old_form, "2026-03"))
    answer = await decide(client, tenant, email=old_form["email"])
    assert (answer["allowed"], answer["reason"]) == (False, "reconsent_required")
    await record(client, tenant, **consent(new_form, "2026-09"))
    assert (await decide(client, tenant, email=new_form["email"]))["reason"] == "consent_active"
    # A passed deadline cannot be removed (it would revive the old consents).
    revive = await try_purpose(client, tenant, "newsletter", {**NEWSLETTER, "notice_version": "2026-09"})
    assert (revive.status_code, revive.json()["errors"][0]["field"]) == (400, "reconsent_required_before")


# --- subject kind ------------------------------------------------------------------------------


async def test_an_import_cannot_make_a_consumer_a_business_contact(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await try_purpose(client, tenant, "offers", LI)
    who = {"email": "anna@example.se"}
    sid = (await record(client, tenant, subject=who, type="lead_activity"))["subject_id"]
    assert (await decide(client, tenant, "offers", email=who["email"]))["reason"] == "no_eprivacy_consent"
    # An old CRM import names her a business contact: the stored kind stays consumer.
    await record(client, tenant, subject={**who, "kind": "business_contact"}, type="lead_activity", source="import")
    assert (await decide(client, tenant, "offers", email=who["email"]))["reason"] == "no_eprivacy_consent"
    view = (await client.get(f"/v1/subjects/{sid}", headers=tenant.auth())).json()
    assert view["kind"] == "consumer"
    # The way down is a rectification, kept in the ledger with the kind it set.
    patched = await client.patch(f"/v1/subjects/{sid}", json={"kind": "business_contact"}, headers=tenant.auth())
    assert (patched.status_code, patched.json()["kind"]) == (200, "business_contact")
    assert (await decide(client, tenant, "offers", email=who["email"]))["reason"] == "li_lead"
    events = (await client.get(f"/v1/subjects/{sid}/export", headers=tenant.auth())).json()["events"]
    rectified = [e for e in events if e["type"] == "subject_rectified"]
    assert [e["proof"] for e in rectified] == [
        {"kind": {"from": "consumer", "to": "business_contact"}, "note": "rectified: kind"}
    ]
    # Towards more protection an event is enough.
    await record(client, tenant, subject={**who, "kind": "sole_trader"}, type="lead_activity")
    assert (await client.get(f"/v1/subjects/{sid}", headers=tenant.auth())).json()["kind"] == "sole_trader"


# --- erasure ---------------------------------------------------------------------------------


async def test_erasure_remembers_the_crm_id(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await try_purpose(client, tenant, "newsletter", NEWSLETTER)
    sid = (await record(client, tenant, **consent({"email": "ella@example.se", "external_id": "CRM-9"})))["subject_id"]
    assert (await client.request("DELETE", f"/v1/subjects/{sid}", headers=tenant.auth())).status_code == 200
    # A CRM export imported again, keyed by the CRM id alone.
    await record(client, tenant, **consent({"external_id": "CRM-9"}, source="import"))
    answer = await decide(client, tenant, external_id="CRM-9")
    assert (answer["allowed"], answer["reason"], answer["rule"]) == (False, "suppressed", "R1")
    # ... and when the import brings a new address for that CRM id, the new address is held too.
    await record(client, tenant, **consent({"external_id": "CRM-9", "email": "ella.new@example.se"}, source="import"))
    assert (await decide(client, tenant, email="ella.new@example.se"))["reason"] == "suppressed"


async def test_erasure_reaches_a_rectified_address_and_messages_queued_before(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    await try_purpose(client, tenant, "newsletter", NEWSLETTER)
    async with ctx.pool.acquire() as conn:  # a subscriber to everything (delivery is not under test)
        await webhooks.create_webhook(
            conn, tenant.id, uuid7(), "https://hooks.example.com/x", outbox.MESSAGE_TYPES, "whsec_" + "x" * 32
        )
    old, new = "lisa.old@example.se", "lisa@example.se"
    # Suppressed before anybody recorded her: the message is keyed to the address alone.
    assert (
        await client.post(
            "/v1/suppressions",
            headers=tenant.auth(),
            json={"email": old, "scope": "newsletter", "reason": "manual", "note": f"{old} asked by phone"},
        )
    ).status_code == 201
    sid = (await record(client, tenant, **consent({"email": old})))["subject_id"]
    ok(
        await client.post(
            "/v1/suppressions",
            headers=tenant.auth(),
            json={"email": old, "reason": "objection", "note": f"called about {old}"},
        )
    )
    patched = await client.patch(f"/v1/subjects/{sid}", json={"email": new}, headers=tenant.auth())
    assert patched.status_code == 200, patched.text
    # The objection she made under her old address still holds for her new one.
    assert (await decide(client, tenant, email=new))["reason"] == "suppressed"
    erased = await client.request("DELETE", f"/v1/subjects/{sid}", headers=tenant.auth())
    assert erased.status_code == 200, erased.text
    assert erased.json()["suppressions_kept"] == 2  # the old and the new address

    keyed = [ctx.hasher.key(Identifier("email", a)) for a in (old, new)]
    shas = [hashlib.sha256(a.encode()).digest() for a in (old, new)]
    async with ctx.pool.acquire() as conn:
        left = await traces(
            conn,
            tenant.id,
            [old, new, "lisa"],
            [*keyed, *shas],
            allowed=[("suppressions", "ident_hash"), ("suppressions", "sha256")],
        )
        erased_message = await conn.fetchval(
            "SELECT payload FROM outbox WHERE tenant_id = $1 AND event_type = 'subject.erased'", tenant.id
        )
    # The subject.erased message carries what a provider can match, and is the one trace allowed.
    assert left == ["outbox.payload"]
    assert sorted(erased_message["email_sha256"]) == sorted(s.hex() for s in shas)
    for address in (old, new):
        assert (await decide(client, tenant, email=address))["reason"] == "suppressed"
    async with ctx.pool.acquire() as conn:
        # Leave nothing a delivery worker of a later test could pick up (the outbox is claimed
        # across tenants).
        await conn.execute("DELETE FROM outbox WHERE tenant_id = $1", tenant.id)
        await conn.execute("UPDATE webhooks SET deleted_at = now() WHERE tenant_id = $1", tenant.id)


async def test_a_rectified_address_keeps_only_what_the_person_asked_for(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await try_purpose(client, tenant, "newsletter", NEWSLETTER)
    sid = (await record(client, tenant, **consent({"email": "bo.old@example.se"})))["subject_id"]
    ok(
        await client.post(
            "/v1/suppressions", json={"email": "bo.old@example.se", "reason": "hard_bounce"}, headers=tenant.auth()
        )
    )
    assert (await decide(client, tenant, email="bo.old@example.se"))["reason"] == "suppressed"
    ok(await client.patch(f"/v1/subjects/{sid}", json={"email": "bo@example.se"}, headers=tenant.auth()))
    # The old mailbox bounced; the new one does not inherit that.
    assert (await decide(client, tenant, email="bo@example.se"))["reason"] == "consent_active"


# --- retention -----------------------------------------------------------------------------


async def test_the_sweep_keeps_an_objection_as_keyed_hashes(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    await try_purpose(client, tenant, "offers", {**LI, "retention_days": 0})
    now = datetime.now(UTC)
    who = {"email": "per@example.se", "phone": "0701234567", "external_id": "CRM-5", "kind": "business_contact"}
    await record(client, tenant, subject=who, type="lead_activity", occurred_at=(now - timedelta(days=800)).isoformat())
    await record(
        client,
        tenant,
        subject={"email": who["email"]},
        type="objection",
        channels=["phone"],
        occurred_at=(now - timedelta(days=790)).isoformat(),
    )
    report = await retention.sweep_tenant(
        dataclasses.replace(ctx, clock=lambda: now), tenant.id, tenant.name, dry_run=False
    )
    assert report.swept == 1
    async with ctx.pool.acquire() as conn:
        kept = await conn.fetch(
            "SELECT ident_type, reason, scope, channel, value FROM suppressions WHERE tenant_id = $1 "
            "ORDER BY ident_type",
            tenant.id,
        )
    assert [tuple(r) for r in kept] == [
        ("email", "objection", "all", "phone", None),
        ("external_id", "objection", "all", "phone", None),
        ("phone", "objection", "all", "phone", None),
    ]
    # A later import of the same CRM record cannot make him callable again; email was not objected to.
    await record(client, tenant, subject=who, type="lead_activity", source="import")
    assert (await decide(client, tenant, "offers", "phone", external_id="CRM-5"))["reason"] == "suppressed"
    assert (await decide(client, tenant, "offers", "phone", phone=who["phone"]))["reason"] == "suppressed"
    assert (await decide(client, tenant, "offers", "email", email=who["email"]))["reason"] == "li_lead"


async def test_refold_rebuilds_facts_from_the_ledger(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    """`consent-svc refold` after the upgrade: facts folded by rules v1 (an objection for every
    channel) become exactly what the ledger says (the objection named phone only)."""
    from consent_svc.domain import facts as facts_mod
    from consent_svc.domain.models import Ref
    from consent_svc.service import repair

    await try_purpose(client, tenant, "offers", LI)
    who = {"email": "eva@example.se", "kind": "business_contact"}
    sid = (await record(client, tenant, subject=who, type="lead_activity"))["subject_id"]
    objection = await record(client, tenant, subject=who, type="objection", channels=["phone"])
    assert (await decide(client, tenant, "offers", email=who["email"]))["reason"] == "li_lead"
    legacy = facts_mod.Facts(objection={"*": Ref(objection["event_id"], datetime.now(UTC), 1)})
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE subjects SET facts = $2 WHERE id = $1", sid, facts_mod.encode(legacy))
    assert (await decide(client, tenant, "offers", email=who["email"]))["reason"] == "objected"  # v1 reading
    report = await repair.refold_tenant(ctx, tenant.id, tenant.name)
    assert (report.subjects, report.events) == (1, 2)
    assert (await decide(client, tenant, "offers", email=who["email"]))["reason"] == "li_lead"
    assert (await decide(client, tenant, "offers", "phone", email=who["email"]))["reason"] == "objected"
