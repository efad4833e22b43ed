"""The HTTP API as a client sees it: auth, scopes, tenant isolation, validation, events, decisions, suppressions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, make_tenant, ok, put_purpose, still

pytestmark = pytest.mark.asyncio


def consent(email: str, **extra: object) -> dict[str, Any]:
    return {
        "subject": {"email": email},
        "type": "consent_given",
        "purpose": "newsletter",
        "channels": ["email"],
        "source": "web_form",
        "proof": {"notice_version": "2026-03", "form_url": "https://example.se/nyhetsbrev"},
        **extra,
    }


async def decide(
    client: httpx.AsyncClient, tenant: Tenant, email: str, purpose: str = "newsletter", channel: str = "email"
) -> dict[str, Any]:
    response = await client.get(
        "/v1/decisions", params={"purpose": purpose, "channel": channel, "email": email}, headers=tenant.auth("check")
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- authentication, scopes, isolation ---------------------------------------------------------


async def test_requests_without_a_valid_key_are_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for headers in ({}, {"Authorization": "Bearer csk_nope"}, {"Authorization": "Basic abc"}):
        response = await client.get("/v1/purposes", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401


async def test_an_address_sending_unknown_keys_is_slowed_down(ctx: Context, tenant: Tenant) -> None:
    import dataclasses

    from consent_svc.http.app import create_app

    cached = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, auth_cache_seconds=30.0))
    app = create_app(cached, clock=still)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/v1/purposes", headers=tenant.auth("check"))).status_code == 200  # now cached
        for i in range(20):
            response = await client.get("/v1/purposes", headers={"Authorization": f"Bearer csk_guess{i}"})
            assert response.status_code == 401
        refused = await client.get("/v1/purposes", headers={"Authorization": "Bearer csk_guess20"})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # A key this process already knows still works from that address.
        assert (await client.get("/v1/purposes", headers=tenant.auth("check"))).status_code == 200


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [("check", {"check"}), ("record", {"check", "record"}), ("admin", {"check", "record", "admin"})],
)
async def test_each_scope(client: httpx.AsyncClient, tenant: Tenant, scope: str, allowed: set[str]) -> None:
    await put_purpose(client, tenant)
    auth = tenant.auth(scope)
    calls = {
        "check": client.get("/v1/purposes", headers=auth),
        "record": client.post("/v1/events", json=consent(f"{scope}@example.se"), headers=auth),
        "admin": client.put("/v1/purposes/events", json=NEWSLETTER, headers=auth),
    }
    for needed, call in calls.items():
        response = await call
        if needed in allowed:
            assert response.status_code < 300, (needed, response.text)
        else:
            assert response.status_code == 403, (needed, response.text)


async def test_a_revoked_key_is_refused(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    from consent_svc.service import tenants

    key_id, token = await tenants.create_key(ctx, tenant.name, "check")
    assert (await client.get("/v1/purposes", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    await tenants.revoke_key(ctx, key_id)
    assert (await client.get("/v1/purposes", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_another_tenants_resources_are_404(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    other = await make_tenant(ctx)
    await put_purpose(client, tenant, "private")
    assert (await client.get("/v1/purposes/private", headers=other.auth())).status_code == 404
    added = await client.post(
        "/v1/suppressions", json={"email": "x@example.se", "reason": "manual"}, headers=tenant.auth()
    )
    entry = added.json()["id"]
    lifted = await client.request("DELETE", f"/v1/suppressions/{entry}", json={"reason": "test"}, headers=other.auth())
    assert lifted.status_code == 404
    # And data does not cross: the other tenant knows nothing of this person (whom this tenant knows).
    await put_purpose(client, tenant)
    ok(await client.post("/v1/events", json=consent("shared@example.se"), headers=tenant.auth()))
    assert (await decide(client, tenant, "shared@example.se"))["subject_known"] is True
    await put_purpose(client, other)
    assert (await decide(client, other, "shared@example.se"))["subject_known"] is False


# --- purposes -------------------------------------------------------------------------------------


async def test_purposes_are_versioned(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())
    assert first.status_code == 201
    assert first.json()["version"] == 1
    same = await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())
    assert same.status_code == 200
    assert same.json()["version"] == 1
    changed = await client.put(
        "/v1/purposes/newsletter", json={**NEWSLETTER, "notice_version": "2026-09"}, headers=tenant.auth()
    )
    assert changed.json()["version"] == 2
    versions = (await client.get("/v1/purposes/newsletter/versions", headers=tenant.auth("check"))).json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    assert versions["items"][0]["config"]["notice_version"] == "2026-03"
    assert versions["next_cursor"] is None
    first_page = (
        await client.get("/v1/purposes/newsletter/versions", params={"limit": 1}, headers=tenant.auth("check"))
    ).json()
    assert [v["version"] for v in first_page["items"]] == [1]
    second_page = (
        await client.get(
            "/v1/purposes/newsletter/versions",
            params={"cursor": first_page["next_cursor"]},
            headers=tenant.auth("check"),
        )
    ).json()
    assert ([v["version"] for v in second_page["items"]], second_page["next_cursor"]) == ([2], None)
    listed = (await client.get("/v1/purposes", headers=tenant.auth("check"))).json()
    assert ([p["key"] for p in listed["items"]], listed["next_cursor"]) == (["newsletter"], None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEWSLETTER, "legal_basis": "vibes"}, "legal_basis"),
        ({**NEWSLETTER, "channels": []}, "channels"),
        ({**NEWSLETTER, "title": {"en": "Only English"}}, "title"),
        ({**NEWSLETTER, "soft_opt_in": True}, "soft_opt_in"),
        ({**NEWSLETTER, "surprise": 1}, "body"),
        ({**NEWSLETTER, "consent_ttl_days": 0}, "consent_ttl_days"),
    ],
)
async def test_purpose_validation(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str) -> None:
    response = await client.put("/v1/purposes/newsletter", json=body, headers=tenant.auth())
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == field
    assert response.headers["content-type"].startswith("application/problem+json")


# --- events -----------------------------------------------------------------------------------------


async def test_record_an_event(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    response = await client.post("/v1/events", json=consent("anna@example.se"), headers=tenant.auth("record"))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"event_id", "subject_id", "recorded_at"}
    assert body["recorded_at"].endswith("Z")


async def test_idempotency_key_answers_the_first_result(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    body = consent("idem@example.se", idempotency_key="signup-77")
    first = await client.post("/v1/events", json=body, headers=tenant.auth("record"))
    again = await client.post("/v1/events", json=body, headers=tenant.auth("record"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    different = await client.post(
        "/v1/events", json={**body, "type": "objection", "channels": [], "proof": None}, headers=tenant.auth("record")
    )
    assert different.status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purpose": "nope"}, "purpose"),
        ({"proof": {}}, "proof.notice_version"),
        ({"proof": None}, "proof.notice_version"),
        ({"occurred_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "occurred_at"),
        ({"subject": {"email": "not-an-address"}}, "subject.email"),
        ({"subject": {}}, "subject"),
        ({"type": "liked_a_post"}, "type"),
        ({"unknown": True}, "body"),
        ({"channels": ["fax"]}, "channels[0]"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),
    ],
)
async def test_event_validation_names_the_field(
    client: httpx.AsyncClient, tenant: Tenant, change: dict[str, Any], field: str
) -> None:
    await put_purpose(client, tenant)
    response = await client.post(
        "/v1/events", json={**consent("v@example.se"), **change}, headers=tenant.auth("record")
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field
    assert "v@example.se" not in response.text


async def test_batch_is_all_or_nothing(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    good = [consent(f"b{i}@example.se") for i in range(5)]
    bad = [*good, {**consent("broken@example.se"), "purpose": "nope"}]
    response = await client.post("/v1/events/batch", json={"events": bad}, headers=tenant.auth("record"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events[5].purpose"
    assert (await decide(client, tenant, "b0@example.se"))["subject_known"] is False  # nothing half-written
    ok = await client.post("/v1/events/batch", json={"events": good}, headers=tenant.auth("record"))
    assert ok.status_code == 201
    assert len(ok.json()["results"]) == 5
    assert (await decide(client, tenant, "b0@example.se"))["allowed"] is True


async def test_batch_limit(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    too_many = {"events": [consent("x@example.se")] * 10_001}
    response = await client.post("/v1/events/batch", json=too_many, headers=tenant.auth("record"))
    assert response.status_code == 400


async def test_body_size_limit_is_413(client: httpx.AsyncClient, tenant: Tenant) -> None:
    big = consent("x@example.se")
    big["proof"]["note"] = "x" * 2_000_000
    response = await client.post("/v1/events", json=big, headers=tenant.auth("record"))
    assert response.status_code == 413


# --- decisions ---------------------------------------------------------------------------------------


async def test_withdrawal_changes_the_very_next_decision(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The peer's fault: a withdrawal did not change its check answer."""
    await put_purpose(client, tenant)
    ok(await client.post("/v1/events", json=consent("w@example.se"), headers=tenant.auth("record")))
    assert (await decide(client, tenant, "W@Example.se"))["allowed"] is True
    withdrawal = {"subject": {"email": "w@example.se"}, "type": "consent_withdrawn", "purpose": "newsletter"}
    ok(await client.post("/v1/events", json=withdrawal, headers=tenant.auth("record")))
    answer = await decide(client, tenant, "w@example.se")
    assert (answer["allowed"], answer["reason"], answer["rule"]) == (False, "withdrawn", "R4")


async def test_same_timestamp_events_are_all_kept(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The peer's fault: a write with an equal timestamp was silently dropped."""
    await put_purpose(client, tenant)
    at = "2026-05-01T10:00:00Z"
    ok(await client.post("/v1/events", json=consent("t@example.se", occurred_at=at), headers=tenant.auth("record")))
    withdrawal = {
        "subject": {"email": "t@example.se"},
        "type": "consent_withdrawn",
        "purpose": "newsletter",
        "occurred_at": at,
    }
    second = await client.post("/v1/events", json=withdrawal, headers=tenant.auth("record"))
    assert second.status_code == 201
    assert (await decide(client, tenant, "t@example.se"))["reason"] == "withdrawn"  # later recorded wins


async def test_a_check_never_creates_a_subject(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    answer = await decide(client, tenant, "ghost@example.se")
    assert (answer["allowed"], answer["reason"], answer["subject_known"]) == (False, "no_consent", False)
    ok(
        await client.post(
            "/v1/decisions/batch",
            json={"purpose": "newsletter", "channel": "email", "recipients": [{"email": "ghost2@example.se"}]},
            headers=tenant.auth("check"),
        )
    )
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM subjects WHERE tenant_id = $1", tenant.id) == 0


async def test_decision_validation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    auth = tenant.auth("check")
    cases = [
        ({"purpose": "newsletter", "channel": "email"}, "query"),
        ({"purpose": "newsletter", "channel": "email", "email": "a@b.se", "phone": "0701234567"}, "query"),
        ({"purpose": "newsletter", "channel": "fax", "email": "a@b.se"}, "channel"),
        ({"purpose": "nope", "channel": "email", "email": "a@b.se"}, "purpose"),
        ({"purpose": "newsletter", "channel": "email", "email": "not-an-email"}, "query.email"),
    ]
    for params, field in cases:
        response = await client.get("/v1/decisions", params=params, headers=auth)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["errors"][0]["field"] == field, response.text


async def test_batch_decisions_in_order_with_duplicates_and_invalid_items(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant)
    ok(await client.post("/v1/events", json=consent("yes@example.se"), headers=tenant.auth("record")))
    recipients = [
        {"email": "yes@example.se"},
        {"email": "no@example.se"},
        {"email": "broken"},
        {"email": "YES@example.se"},
        {"phone": "070-123 45 67"},
        {},
    ]
    response = await client.post(
        "/v1/decisions/batch",
        json={"purpose": "newsletter", "channel": "email", "recipients": recipients},
        headers=tenant.auth("check"),
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["allowed"] for r in results] == [True, False, False, True, False, False]
    assert [r["reason"] for r in results] == [
        "consent_active",
        "no_consent",
        "invalid_identifier",
        "consent_active",
        "no_consent",
        "invalid_identifier",
    ]
    assert results[2]["error"]["field"] == "recipients[2].email"


async def test_batch_of_100000(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    ok(await client.post("/v1/events", json=consent("r77@example.se"), headers=tenant.auth("record")))
    recipients = [{"email": f"r{i}@example.se"} for i in range(100_000)]
    response = await client.post(
        "/v1/decisions/batch",
        json={"purpose": "newsletter", "channel": "email", "recipients": recipients},
        headers=tenant.auth("check"),
        timeout=120,
    )
    results = response.json()["results"]
    assert len(results) == 100_000
    assert [i for i, r in enumerate(results) if r["allowed"]] == [77]
    over = {"purpose": "newsletter", "channel": "email", "recipients": [*recipients, {"email": "x@example.se"}]}
    assert (await client.post("/v1/decisions/batch", json=over, headers=tenant.auth("check"))).status_code == 400


# --- suppressions ---------------------------------------------------------------------------------------


async def test_suppression_blocks_before_and_after_the_person_is_known(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant)
    added = await client.post(
        "/v1/suppressions",
        json={"email": "Stop@Example.se", "reason": "complaint", "source": "esp"},
        headers=tenant.auth("record"),
    )
    assert added.status_code == 201
    again = await client.post(
        "/v1/suppressions", json={"email": "stop@example.se", "reason": "complaint"}, headers=tenant.auth("record")
    )
    assert again.status_code == 200
    assert again.json()["id"] == added.json()["id"]
    # A later import with consent cannot make the address allowed.
    imported = consent("stop@example.se", source="import")
    assert (await client.post("/v1/events", json=imported, headers=tenant.auth("record"))).status_code == 201
    answer = await decide(client, tenant, "stop@example.se")
    assert (answer["allowed"], answer["reason"], answer["rule"]) == (False, "suppressed", "R1")
    assert answer["evidence"] == [added.json()["id"]]
    found = await client.get("/v1/suppressions", params={"email": "STOP@example.se"}, headers=tenant.auth("check"))
    assert [e["id"] for e in found.json()["items"]] == [added.json()["id"]]


async def test_a_suppression_on_the_email_blocks_a_check_by_external_id(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant)
    body = consent("crm@example.se")
    body["subject"]["external_id"] = "CRM-1"
    ok(await client.post("/v1/events", json=body, headers=tenant.auth("record")))
    ok(
        await client.post(
            "/v1/suppressions", json={"email": "crm@example.se", "reason": "hard_bounce"}, headers=tenant.auth("record")
        )
    )
    response = await client.get(
        "/v1/decisions",
        params={"purpose": "newsletter", "channel": "email", "external_id": "CRM-1"},
        headers=tenant.auth("check"),
    )
    assert response.json()["reason"] == "suppressed"


async def test_lift_needs_admin_and_a_reason_and_is_kept(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant)
    ok(await client.post("/v1/events", json=consent("lift@example.se"), headers=tenant.auth("record")))
    entry = (
        await client.post(
            "/v1/suppressions", json={"email": "lift@example.se", "reason": "manual"}, headers=tenant.auth("record")
        )
    ).json()
    assert (
        await client.request(
            "DELETE", f"/v1/suppressions/{entry['id']}", json={"reason": "mistake"}, headers=tenant.auth("record")
        )
    ).status_code == 403
    assert (
        await client.request("DELETE", f"/v1/suppressions/{entry['id']}", json={}, headers=tenant.auth())
    ).status_code == 400
    lifted = await client.request(
        "DELETE", f"/v1/suppressions/{entry['id']}", json={"reason": "added by mistake"}, headers=tenant.auth()
    )
    assert lifted.status_code == 200
    assert lifted.json()["lifted_at"]
    assert lifted.json()["lift_reason"] == "added by mistake"
    assert (await decide(client, tenant, "lift@example.se"))["allowed"] is True
    export = (
        await client.get("/v1/suppressions/export", params={"format": "plain"}, headers=tenant.auth("check"))
    ).json()
    assert [(i["email"], i["lifted_at"] is not None) for i in export["items"]] == [("lift@example.se", True)]


async def test_suppression_validation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    auth = tenant.auth("record")
    for body, field in [
        ({"reason": "manual"}, "email"),
        ({"email": "a@b.se", "phone": "0701234567", "reason": "manual"}, "email"),
        ({"email": "a@b.se", "reason": "erasure"}, "reason"),
        ({"email": "a@b.se", "reason": "bored"}, "reason"),
        ({"email": "a@b.se", "reason": "manual", "scope": "nope"}, "scope"),
    ]:
        response = await client.post("/v1/suppressions", json=body, headers=auth)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["field"] == field


async def test_export_with_cursor_and_formats(client: httpx.AsyncClient, tenant: Tenant) -> None:
    import hashlib

    auth = tenant.auth("record")
    for i in range(5):
        ok(
            await client.post(
                "/v1/suppressions", json={"email": f"e{i}@example.se", "reason": "unsubscribe"}, headers=auth
            )
        )
    page = (await client.get("/v1/suppressions/export", params={"limit": 3}, headers=tenant.auth("check"))).json()
    assert len(page["items"]) == 3
    assert page["items"][0]["sha256"] == hashlib.sha256(b"e0@example.se").hexdigest()
    assert "email" not in page["items"][0]
    rest = (
        await client.get(
            "/v1/suppressions/export",
            params={"since": page["next_cursor"], "format": "plain"},
            headers=tenant.auth("check"),
        )
    ).json()
    assert [i["email"] for i in rest["items"]] == ["e3@example.se", "e4@example.se"]
    empty = (
        await client.get("/v1/suppressions/export", params={"since": rest["next_cursor"]}, headers=tenant.auth("check"))
    ).json()
    assert rest["has_more"] is False
    assert empty == {"items": [], "next_cursor": rest["next_cursor"], "has_more": False}
    assert page["has_more"] is True
    bad = await client.get("/v1/suppressions/export", params={"cursor": "garbage"}, headers=tenant.auth("check"))
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "cursor")


# --- operations -------------------------------------------------------------------------------------


async def test_health_ready_metrics_and_openapi(ctx: Context, client: httpx.AsyncClient) -> None:
    from consent_svc.http.app import create_metrics_app

    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready", "read_replica": "none"}
    # Metrics have an app (and a listener) of their own, not the public one.
    assert (await client.get("/metrics")).status_code == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_metrics_app(ctx)), base_url="http://m") as m:
        metrics = await m.get("/metrics")
        assert metrics.headers["x-content-type-options"] == "nosniff"
        assert "consent_http_requests_total" in metrics.text
        assert "consent_api_key_lookups_total" in metrics.text
        assert (await m.get("/healthz")).status_code == 404
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/v1/decisions/batch" in schema["paths"]


async def test_a_request_id_is_returned(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_per_key_rate_limit(ctx: Context, tenant: Tenant) -> None:
    import dataclasses

    from consent_svc.http.app import create_app
    from consent_svc.http.auth import Authenticator

    now = [0.0]  # a clock the test steps: the answer does not depend on how fast the machine is
    limited = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, rate_limit_per_key=5.0))
    app = create_app(limited, authenticator=Authenticator(limited, clock=lambda: now[0]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        ok(await http.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()))
        params = {"purpose": "newsletter", "channel": "email", "email": "rl@example.se"}
        statuses = [
            (await http.get("/v1/decisions", params=params, headers=tenant.auth("check"))).status_code
            for _ in range(15)
        ]
        assert statuses == [200] * 10 + [429] * 5  # a burst of 10 (two seconds' worth of 5 a second)
        limited_response = await http.get("/v1/decisions", params=params, headers=tenant.auth("check"))
        assert limited_response.status_code == 429
        assert limited_response.headers["retry-after"] == "1"
        assert limited_response.headers["content-type"].startswith("application/problem+json")
        # Another key of the same tenant has its own budget.
        assert (await http.get("/v1/purposes", headers=tenant.auth("record"))).status_code == 200
        now[0] += 0.2  # a fifth of a second later, one more request
        assert (await http.get("/v1/decisions", params=params, headers=tenant.auth("check"))).status_code == 200
        assert (await http.get("/v1/decisions", params=params, headers=tenant.auth("check"))).status_code == 429


async def test_a_batch_body_is_decoded_by_its_type_and_refused_as_before(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /v1/events/batch decodes its body straight into EventBatchIn (no depth scan, no dicts
    first); a body that does not fit goes litestar's general way, so every answer, accepted or
    refused, is the one the general way gives."""
    from consent_svc.http import jsonbody
    from consent_svc.http.events import EventController

    await put_purpose(client, tenant)
    typed = EventController.record_batch.request_class
    assert typed is not None
    assert issubclass(typed, jsonbody.BoundedJsonRequest)
    good = consent("typed@example.se")
    deep = b'{"events": [{"proof": ' + b"[" * 5_000 + b"]" * 5_000 + b"}]}"
    bodies: list[bytes] = [
        json.dumps({"events": [good, {**good, "channels": ["fax"]}]}).encode(),
        json.dumps({"events": [good, {**good, "extra": 1}]}).encode(),
        json.dumps({"events": [{**good, "subject": "x@example.se"}]}).encode(),
        json.dumps({"events": [{**good, "type": "liked_a_post"}]}).encode(),
        json.dumps({"events": [{**good, "proof": {"notice_text_sha256": "nothex"}}]}).encode(),
        json.dumps({"events": []}).encode(),
        json.dumps({"events": [good] * 10_001}).encode(),
        json.dumps({"events": "no"}).encode(),
        json.dumps({"events": [{**good, "occurred_at": "2026-01-01T10:00:00"}]}).encode(),
        json.dumps({"events": [{**good, "occurred_at": 1_780_000_000}]}).encode(),  # lax: a timestamp
        json.dumps([good]).encode(),
        b'{"events": [',
        b"",
        deep,
    ]
    answers = []
    for general in (False, True):
        if general:  # the typed decoder off: every body the general way
            monkeypatch.setattr(typed, "json", jsonbody.BoundedJsonRequest.json)
        got = []
        for body in bodies:
            response = await client.post(
                "/v1/events/batch",
                content=body,
                headers={**tenant.auth("record"), "Content-Type": "application/json"},
            )
            answer = response.json()
            got.append((response.status_code, None if response.status_code == 201 else answer))
        answers.append(got)
    assert answers[0] == answers[1]
    assert [status for status, _ in answers[0]] == [400] * 9 + [201] + [400] * 4
    deep_answer = answers[0][-1][1]
    assert deep_answer is not None
    assert deep_answer["detail"].startswith("the JSON body nests deeper")
    # A body that fits is never scanned for depth nor decoded into dicts first.
    monkeypatch.undo()

    def no_scan(body: bytes, limit: int = jsonbody.MAX_DEPTH) -> bool:
        raise AssertionError("a typed body was scanned")

    monkeypatch.setattr(jsonbody, "too_deep", no_scan)
    response = await client.post(
        "/v1/events/batch",
        content=json.dumps({"events": [good, consent("typed2@example.se")]}).encode(),
        headers={**tenant.auth("record"), "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert len(response.json()["results"]) == 2
