"""Data subject rights over HTTP: lookup, export, rectification, restriction, erasure leaving no trace."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from consent_svc.domain.identifiers import Identifier
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, make_tenant, ok, subject_id_of
from tests.http.leftovers import traces

LI = {
    **NEWSLETTER,
    "legal_basis": "legitimate_interest",
    "soft_opt_in": True,
    "channels": ["email", "post"],
    "title": {"sv": "Erbjudanden", "en": "Offers"},
}
ORIGIN = "https://www.example.se"


async def person(client: httpx.AsyncClient, tenant: Tenant, email: str = "karin@example.se") -> str:
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()))
    ok(await client.put("/v1/purposes/offers", json=LI, headers=tenant.auth()))
    subject = {"email": email, "phone": "070-123 45 67", "external_id": "CRM-77"}
    events = [
        {
            "subject": subject,
            "type": "consent_given",
            "purpose": "newsletter",
            "channels": ["email"],
            "proof": {
                "notice_version": "2026-03",
                "ip": "192.0.2.10",
                "user_agent": "UA",
                "form_url": "https://example.se/f",
            },
        },
        {"subject": {"email": email}, "type": "purchase", "occurred_at": "2026-01-10T09:00:00Z"},
        {"subject": {"email": email}, "type": "consent_withdrawn", "purpose": "newsletter"},
    ]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=tenant.auth())
    assert response.status_code == 201, response.text
    return str(response.json()["results"][0]["subject_id"])


async def test_lookup_shows_the_decision_per_purpose(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    sid = await person(client, tenant)
    for params in ({"email": "KARIN@example.se"}, {"phone": "+46701234567"}, {"external_id": "CRM-77"}):
        assert await subject_id_of(client, tenant, **params) == sid
    body = (await client.get(f"/v1/subjects/{sid}", headers=tenant.auth())).json()
    decisions = {p["purpose"]: p["decision"]["reason"] for p in body["purposes"]}
    # The withdrawal named the newsletter only; the January purchase makes offers a soft opt-in.
    assert decisions == {"newsletter": "withdrawn", "offers": "soft_opt_in"}
    assert await subject_id_of(client, tenant, email="nobody@example.se") is None
    other = await make_tenant(ctx)
    assert (await client.get(f"/v1/subjects/{sid}", headers=other.auth())).status_code == 404
    assert (
        await client.get("/v1/subjects", params={"email": "karin@example.se"}, headers=tenant.auth("record"))
    ).status_code == 403


async def test_export_holds_every_kind_of_record(client: httpx.AsyncClient, tenant: Tenant) -> None:
    sid = await person(client, tenant)
    ok(
        await client.post(
            "/v1/suppressions", json={"email": "karin@example.se", "reason": "complaint"}, headers=tenant.auth()
        )
    )
    site = (
        await client.post(
            "/v1/sites",
            headers=tenant.auth(),
            json={
                "name": "S",
                "origins": [ORIGIN],
                "policy_url": ORIGIN + "/integritet",
                "controller": "S AB",
                "categories": [
                    {"key": "marketing", "title": {"sv": "M", "en": "M"}, "description": {"sv": "M", "en": "M"}}
                ],
            },
        )
    ).json()
    receipt = (
        await client.post(
            f"/v1/banner/{site['site_key']}/consents",
            headers={"Origin": ORIGIN},
            json={"action": "reject_all", "banner_version": 1},
        )
    ).json()
    ok(
        await client.post(
            f"/v1/sites/{site['site_key']}/consents/{receipt['consent_id']}/subject",
            json={"subject": {"email": "karin@example.se"}},
            headers=tenant.auth(),
        )
    )
    export = (await client.get(f"/v1/subjects/{sid}/export", headers=tenant.auth())).json()
    assert export["format"] == "consent-svc.subject-export/1"
    assert {i["type"] for i in export["identifiers"]} == {"email", "phone", "external_id"}
    types = [e["type"] for e in export["events"]]
    assert types == ["consent_given", "purchase", "consent_withdrawn", "objection"]
    assert export["events"][0]["proof"]["notice_version"] == "2026-03"
    assert [s["reason"] for s in export["suppressions"]] == ["complaint"]
    assert [r["id"] for r in export["banner_receipts"]] == [receipt["consent_id"]]
    assert {d["purpose"] for d in export["current_decisions"]} == {"newsletter", "offers"}
    assert "webhook_messages" in export


async def test_rectification_replaces_the_email_and_keeps_the_old_one_suppressed(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    sid = await person(client, tenant)
    ok(
        await client.post(
            "/v1/suppressions", json={"email": "karin@example.se", "reason": "hard_bounce"}, headers=tenant.auth()
        )
    )
    patched = await client.patch(
        f"/v1/subjects/{sid}", json={"email": "Karin.Ny@example.se", "kind": "sole_trader"}, headers=tenant.auth()
    )
    assert patched.status_code == 200, patched.text
    assert {"type": "email", "value": "karin.ny@example.se"} in patched.json()["identifiers"]
    assert patched.json()["kind"] == "sole_trader"
    assert await subject_id_of(client, tenant, email="karin@example.se") is None
    old = (
        await client.get(
            "/v1/decisions",
            params={"purpose": "newsletter", "channel": "email", "email": "karin@example.se"},
            headers=tenant.auth(),
        )
    ).json()
    assert old["reason"] == "suppressed"
    export = (await client.get(f"/v1/subjects/{sid}/export", headers=tenant.auth())).json()
    assert export["events"][-1]["type"] == "subject_rectified"
    other = (
        await client.post(
            "/v1/events",
            json={"subject": {"email": "taken@example.se"}, "type": "lead_activity"},
            headers=tenant.auth(),
        )
    ).json()
    assert other["subject_id"] != sid
    clash = await client.patch(f"/v1/subjects/{sid}", json={"email": "taken@example.se"}, headers=tenant.auth())
    assert clash.status_code == 409
    # It says what to do, with the other record's id, and promises nothing that does not exist.
    assert f"DELETE /v1/subjects/{other['subject_id']}" in clash.json()["detail"]
    assert "merge" not in clash.json()["detail"]
    assert (await client.patch(f"/v1/subjects/{sid}", json={}, headers=tenant.auth())).status_code == 400


async def test_restriction_is_honoured_and_lifted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()))
    email = "restrict@example.se"
    for body in (
        {"type": "consent_given", "purpose": "newsletter", "proof": {"notice_version": "2026-03"}},
        {"type": "restriction_started"},
    ):
        ok(await client.post("/v1/events", json={"subject": {"email": email}, **body}, headers=tenant.auth()))
    params = {"purpose": "newsletter", "channel": "email", "email": email}
    answer = (await client.get("/v1/decisions", params=params, headers=tenant.auth())).json()
    assert (answer["allowed"], answer["reason"], answer["rule"]) == (False, "restricted", "R3")
    ok(
        await client.post(
            "/v1/events", json={"subject": {"email": email}, "type": "restriction_lifted"}, headers=tenant.auth()
        )
    )
    assert (await client.get("/v1/decisions", params=params, headers=tenant.auth())).json()["allowed"] is True


async def test_erasure_leaves_only_the_keyed_hash(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    email, phone, external = "karin@example.se", "+46701234567", "CRM-77"
    sid = await person(client, tenant, email)
    ok(
        await client.post(
            "/v1/suppressions", json={"email": email, "reason": "complaint", "note": "angry"}, headers=tenant.auth()
        )
    )
    erased = await client.request(
        "DELETE", f"/v1/subjects/{sid}", json={"reason": "ticket 4711"}, headers=tenant.auth()
    )
    assert erased.status_code == 200, erased.text
    receipt = erased.json()
    assert receipt["events_erased"] == 3
    assert receipt["identifiers_removed"] == {"email": 1, "phone": 1, "external_id": 1}
    assert receipt["suppressions_kept"] == 3  # email, phone and the CRM id, reason erasure

    keyed = [
        ctx.hasher.key(Identifier("email", email)),
        ctx.hasher.key(Identifier("phone", phone)),
        ctx.hasher.key(Identifier("external_id", external)),
    ]
    email_sha = hashlib.sha256(email.encode()).digest()
    async with ctx.pool.acquire() as conn:
        # The keyed hash the suppression needs, and an email's exchange SHA-256 (held solely for
        # suppression, so providers keep suppressing the address), by design.
        left = await traces(
            conn,
            tenant.id,
            [email, phone, external],
            [*keyed, email_sha],
            allowed=[("suppressions", "ident_hash"), ("suppressions", "sha256")],
        )
        kept = await conn.fetch(
            "SELECT reason, ident_type, value, note, sha256 FROM suppressions WHERE tenant_id = $1 ORDER BY ident_type",
            tenant.id,
        )
    assert left == []
    assert sorted((r["reason"], r["ident_type"]) for r in kept) == [
        ("complaint", "email"),
        ("erasure", "email"),
        ("erasure", "external_id"),
        ("erasure", "phone"),
    ]
    assert all(r["value"] is None and r["note"] is None for r in kept)
    # v2 (issue 12, 17): email entries keep the exchange SHA-256, so the export still tells providers.
    assert {r["ident_type"]: r["sha256"] for r in kept if r["reason"] == "erasure"} == {
        "email": email_sha,
        "external_id": None,
        "phone": None,
    }

    params = {"purpose": "newsletter", "channel": "email", "email": email}
    answer = (await client.get("/v1/decisions", params=params, headers=tenant.auth())).json()
    assert (answer["allowed"], answer["reason"]) == (False, "suppressed")
    # A stale list imported again cannot make the address contactable.
    again = {
        "subject": {"email": email},
        "type": "consent_given",
        "purpose": "newsletter",
        "source": "import",
        "proof": {"notice_version": "2026-03"},
    }
    assert (await client.post("/v1/events", json=again, headers=tenant.auth())).status_code == 201
    assert (await client.get("/v1/decisions", params=params, headers=tenant.auth())).json()["reason"] == "suppressed"
    assert (await client.request("DELETE", f"/v1/subjects/{sid}", headers=tenant.auth())).status_code == 404


@pytest.mark.parametrize("params", [{"email": "a@b.se", "phone": "0701234567"}, {"email": "not-an-email"}])
async def test_lookup_validation(client: httpx.AsyncClient, tenant: Tenant, params: dict[str, Any]) -> None:
    assert (await client.get("/v1/subjects", params=params, headers=tenant.auth())).status_code == 400
