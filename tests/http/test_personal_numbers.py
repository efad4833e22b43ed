"""Personal numbers (issue 19) as identifiers: on events, decisions and suppressions like email and
phone, and held only as a keyed hash (never in the database in plain text, never in a log)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from structlog.testing import capture_logs

from consent_svc.domain.identifiers import Identifier
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, ok
from tests.http.leftovers import traces


def json_of(response: httpx.Response) -> Any:
    return ok(response).json()


PNR = "19121212-1212"  # Skatteverket's test person
# Born 1912: in ten digits the "+" says 100 or older ("1212121212" would be born 2012).
FORMS = ("191212121212", "121212+1212", "19121212-1212", " 19121212-1212 ")


async def test_a_personal_number_names_a_person_and_is_kept_only_as_a_hash(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    auth = tenant.auth()
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=auth))
    with capture_logs() as logs:
        recorded = json_of(
            await client.post(
                "/v1/events",
                json={
                    "subject": {"email": "tolvan@example.se", "personal_number": PNR},
                    "type": "consent_given",
                    "purpose": "newsletter",
                    "proof": {"notice_version": "2026-03"},
                },
                headers=auth,
            )
        )
        # Asked by the personal number in any form, the decision finds Tolvan and his consent.
        for form in FORMS:
            answer = json_of(
                await client.get(
                    "/v1/decisions",
                    params={"purpose": "newsletter", "channel": "email", "personal_number": form},
                    headers=auth,
                )
            )
            assert (answer["allowed"], answer["subject_known"]) == (True, True), form
        batch = json_of(
            await client.post(
                "/v1/decisions/batch",
                json={
                    "purpose": "newsletter",
                    "channel": "email",
                    "recipients": [{"personal_number": "121212+1212"}, {"personal_number": "19121212-1213"}],
                },
                headers=auth,
            )
        )
        assert batch["results"][0]["allowed"] is True
        assert batch["results"][1]["reason"] == "invalid_identifier"
        assert batch["results"][1]["error"]["field"] == "recipients[1].personal_number"
        assert "1213" not in json.dumps(batch["results"][1])

        # The subject shows that it has a personal number, never its value.
        subject = json_of(await client.get(f"/v1/subjects/{recorded['subject_id']}", headers=auth))
        assert {"type": "personal_number", "value": None} in subject["identifiers"]
        listed = json_of(await client.get("/v1/subjects", params={"personal_number": "121212+1212"}, headers=auth))
        assert [s["id"] for s in listed["items"]] == [recorded["subject_id"]]
        assert {"type": "personal_number", "value": None} in listed["items"][0]["identifiers"]

        # A suppression by personal number blocks him.
        entry = await client.post(
            "/v1/suppressions", json={"personal_number": "121212+1212", "reason": "manual"}, headers=auth
        )
        assert entry.status_code == 201, entry.text
        assert PNR[-4:] not in entry.text
        answer = json_of(
            await client.get(
                "/v1/decisions",
                params={"purpose": "newsletter", "channel": "email", "email": "tolvan@example.se"},
                headers=auth,
            )
        )
        assert (answer["allowed"], answer["reason"]) == (False, "suppressed")
        found = json_of(await client.get("/v1/suppressions", params={"personal_number": PNR}, headers=auth))
        assert [e["id"] for e in found["items"]] == [entry.json()["id"]]

        refused = await client.post(
            "/v1/events",
            json={"subject": {"personal_number": "811318-9876"}, "type": "purchase"},
            headers=auth,
        )
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["field"] == "subject.personal_number"
        assert "9876" not in refused.text

    key = ctx.hasher.key(Identifier("personal_number", "191212121212"))
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM subject_identifiers WHERE tenant_id = $1 AND hash = $2 AND value IS NULL",
            tenant.id,
            key,
        )
        left = await traces(conn, tenant.id, ["191212121212", "121212+1212", "1212121212", "9876"], [])
    assert left == []
    assert not any("1212121212" in json.dumps(line, default=str) for line in logs)


async def test_a_personal_number_of_another_person_is_a_conflict_not_a_merge(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    auth = tenant.auth()
    for email in ("a@example.se", "b@example.se"):
        ok(await client.post("/v1/events", json={"subject": {"email": email}, "type": "purchase"}, headers=auth))
    ok(
        await client.post(
            "/v1/events",
            json={"subject": {"email": "a@example.se", "personal_number": PNR}, "type": "purchase"},
            headers=auth,
        )
    )
    clash = await client.post(
        "/v1/events",
        json={"subject": {"email": "b@example.se", "personal_number": "121212+1212"}, "type": "purchase"},
        headers=auth,
    )
    assert clash.status_code == 409
    assert "1212" not in clash.text


async def test_a_personal_number_in_an_ndjson_stream(client: httpx.AsyncClient, tenant: Tenant) -> None:
    auth = tenant.auth()
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=auth))
    consent = {
        "subject": {"personal_number": PNR},
        "type": "consent_given",
        "purpose": "newsletter",
        "proof": {"notice_version": "2026-03"},
    }
    ok(await client.post("/v1/events", json=consent, headers=auth))
    lines = b'{"personal_number": "121212+1212"}\n{"personal_number": "121212-1212"}\n{"personal_number": "1"}\n'
    response = await client.post(
        "/v1/decisions/batch",
        params={"purpose": "newsletter", "channel": "email"},
        content=lines,
        headers={**auth, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    answers = [json.loads(line) for line in response.text.splitlines()]
    # Tolvan (born 1912) has a consent; "121212-1212" is someone born 2012, unknown here.
    assert [(a["allowed"], a["reason"]) for a in answers] == [
        (True, "consent_active"),
        (False, "no_consent"),
        (False, "invalid_identifier"),
    ]
    assert answers[2]["error"]["field"] == "line[2].personal_number"


async def test_erasure_keeps_only_the_keyed_hash_of_a_personal_number(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    auth = tenant.auth()
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=auth))
    consent = {
        "subject": {"email": "tolvan@example.se", "personal_number": PNR},
        "type": "consent_given",
        "purpose": "newsletter",
        "proof": {"notice_version": "2026-03"},
    }
    subject_id = json_of(await client.post("/v1/events", json=consent, headers=auth))["subject_id"]
    erased = await client.request("DELETE", f"/v1/subjects/{subject_id}", json={"reason": "ticket 7"}, headers=auth)
    assert erased.status_code == 200, erased.text
    assert erased.json()["identifiers_removed"] == {"email": 1, "personal_number": 1}
    # Asked by the personal number alone, the erased person is never an allow again.
    again = json_of(
        await client.get(
            "/v1/decisions",
            params={"purpose": "newsletter", "channel": "email", "personal_number": "121212+1212"},
            headers=auth,
        )
    )
    assert (again["allowed"], again["rule"]) == (False, "R1")
    key = ctx.hasher.key(Identifier("personal_number", "191212121212"))
    async with ctx.pool.acquire() as conn:
        kept = await conn.fetchrow(
            "SELECT ident_type, value, sha256 FROM suppressions WHERE tenant_id = $1 AND ident_hash = $2",
            tenant.id,
            key,
        )
        assert dict(kept) == {"ident_type": "personal_number", "value": None, "sha256": None}
        assert await traces(conn, tenant.id, ["191212121212", "1212121212"], []) == []
