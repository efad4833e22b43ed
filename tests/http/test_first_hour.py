"""What a newcomer tripped over in the first hour (issue 15), each as they met it."""

from __future__ import annotations

import httpx

from tests.conftest import NEWSLETTER, Tenant, subject_id_of


async def test_an_event_naming_a_new_identifier_links_it_or_says_why_not(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    assert (await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())).status_code == 201
    consent = {"type": "consent_given", "purpose": "newsletter", "proof": {"notice_version": "2026-03"}}
    first = await client.post("/v1/events", json={"subject": {"phone": "0701234567"}, **consent}, headers=tenant.auth())
    assert first.status_code == 201, first.text
    sid = first.json()["subject_id"]
    # The person had no email: the one the event names is linked to them.
    linked = await client.post(
        "/v1/events",
        headers=tenant.auth(),
        json={"subject": {"phone": "0701234567", "email": "ny@example.se"}, **consent},
    )
    assert (linked.status_code, linked.json()["subject_id"]) == (201, sid)
    assert await subject_id_of(client, tenant, email="ny@example.se") == sid
    # A second, different email for the same person cannot be kept beside the first: 409, not dropped.
    clash = await client.post(
        "/v1/events",
        headers=tenant.auth(),
        json={"subject": {"phone": "0701234567", "email": "other@example.se"}, **consent},
    )
    assert clash.status_code == 409
    assert "PATCH /v1/subjects/" in clash.json()["detail"]
    assert await subject_id_of(client, tenant, email="other@example.se") is None
