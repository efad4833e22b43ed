"""Errors say what would be accepted: allowed values, the parameter that is missing, the form a
pattern stands for, what a body needs; and never echo a query string (it can hold an address)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import NEWSLETTER, Tenant, put_purpose

NO_ENTRY = "0190a4c0-0000-7000-8000-000000000000"
CONSENT = {"subject": {"email": "a@example.se"}, "type": "consent_given", "purpose": "newsletter"}

CASES = [
    ("POST", "/v1/events", {**CONSENT, "source": "bogus", "proof": {"notice_version": "2026-03"}}, "source",
     "must be one of api, banner, import, integration, paper, phone_call, preference_center, unsubscribe, "
     "web_form (got 'bogus')"),
    ("POST", "/v1/suppressions", {"email": "a@example.se", "reason": "bored"}, "reason",
     "must be one of complaint, erasure, hard_bounce, manual, objection, register, unsubscribe (got 'bored')"),
    ("POST", "/v1/suppressions", {"email": "a@example.se", "reason": "manual", "channel": "fax"}, "channel",
     "must be one of email, phone, post, sms (got 'fax')"),
    ("GET", "/v1/decisions?email=a@example.se&channel=email", None, "purpose", "is required (a query parameter)"),
    ("GET", "/v1/decisions?email=a@example.se&purpose=newsletter&channel=fax", None, "channel",
     "must be one of email, phone, post, sms (got 'fax')"),
    ("GET", "/v1/suppressions/export?format=xml", None, "format", "must be one of plain, sha256 (got 'xml')"),
    ("DELETE", f"/v1/suppressions/{NO_ENTRY}", None, "reason",
     'lifting an entry needs a body {"reason": "..."}, kept with the entry'),
    ("POST", "/v1/sites", {"name": "x", "origins": ["https://example.se/"], "categories": []}, "origins[0]",
     "must be an origin: scheme://host[:port] with no path, not even a trailing slash (https://example.se)"),
    ("PUT", "/v1/purposes/events", {**NEWSLETTER, "legal_basis": "whim"}, "legal_basis",
     "must be one of consent, contract, legal_obligation, legitimate_interest (got 'whim')"),
    ("PATCH", "/v1/branding", {"primary_color": "red"}, "primary_color", "must be a colour as #rrggbb"),
    ("POST", "/v1/events", None, "body", "a JSON body is required (the API reference at /schema shows its fields)"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "url", "body", "field", "message"), CASES, ids=[f"{c[0]} {c[3]}" for c in CASES])
async def test_errors_say_what_is_accepted(
    client: httpx.AsyncClient, tenant: Tenant, method: str, url: str, body: object, field: str, message: str
) -> None:
    await put_purpose(client, tenant)
    response = await client.request(method, url, json=body, headers=tenant.auth())
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["errors"] == [{"field": field, "message": message}]
    assert problem["detail"] == f"{field}: {message}"
    if "email=" in url:
        assert "a@example.se" not in response.text  # the query string is never echoed
