"""Double opt-in sign-ups, sign-up forms and re-permission over HTTP (issue 17, docs/forms.md)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from consent_svc.http.app import create_app
from consent_svc.service import retention
from consent_svc.service.context import Context, utcnow
from tests.conftest import NEWSLETTER, Tenant, ok, put_purpose, still, subject_id_of

DOI = {**NEWSLETTER, "channels": ["email"], "double_opt_in": True}
SAME_ORIGIN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
BROWSER = {**SAME_ORIGIN, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0"}
SITE = "https://www.example.se"


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver")


async def decision(client: httpx.AsyncClient, tenant: Tenant, email: str, purpose: str = "newsletter") -> Any:
    params = {"purpose": purpose, "channel": "email", "email": email}
    return (await client.get("/v1/decisions", params=params, headers=tenant.auth("check"))).json()


async def sign_up(client: httpx.AsyncClient, tenant: Tenant, email: str, **extra: Any) -> Any:
    body = {
        "email": email,
        "purposes": ["newsletter"],
        "language": "en",
        "proof": {
            "notice_version": "2026-03",
            "form_url": "https://www.example.se/nyhetsbrev",
            "ip": "203.0.113.77",
            "user_agent": "Mozilla/5.0 (signup)",
        },
    } | extra
    response = ok(await client.post("/v1/signups", json=body, headers=tenant.auth("record")))
    assert response.status_code == 202
    return response.json()


async def export_of(client: httpx.AsyncClient, tenant: Tenant, email: str) -> Any:
    subject_id = await subject_id_of(client, tenant, email=email)
    return ok(await client.get(f"/v1/subjects/{subject_id}/export", headers=tenant.auth())).json()


async def test_sign_up_then_confirm_records_a_consent_with_both_steps(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant, body=DOI)
    started = await sign_up(client, tenant, "ada@example.se")
    assert started["status"] == "pending"
    assert started["delivery"] == "none"  # no SMTP, and no webhook wants signup.pending
    assert started["confirm_url"].startswith("http://testserver/c/")
    assert "ada" not in started["confirm_url"]

    waiting = await decision(client, tenant, "ada@example.se")
    assert (waiting["allowed"], waiting["reason"], waiting["rule"]) == (False, "confirmation_pending", "R7")
    assert waiting["evidence"] == [started["signup_id"]]
    assert waiting["subject_known"] is False  # nobody is a subject before confirming

    # GET shows the purposes and a button, and changes nothing (mail scanners fetch links).
    page = await client.get(path_of(started["confirm_url"]))
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "Newsletter" in page.text
    assert ">Confirm<" in page.text
    assert (await decision(client, tenant, "ada@example.se"))["reason"] == "confirmation_pending"

    confirmed = await client.post(path_of(started["confirm_url"]), data={"lang": "en"}, headers=BROWSER)
    assert confirmed.status_code == 200, confirmed.text
    assert "Your subscription is confirmed" in confirmed.text
    answer = await decision(client, tenant, "ada@example.se")
    assert (answer["allowed"], answer["reason"], answer["rule"]) == (True, "consent_active", "R7")

    export = await export_of(client, tenant, "ada@example.se")
    [event] = [e for e in export["events"] if e["type"] == "consent_given"]
    assert answer["evidence"] == [event["id"]]  # the evidence is the confirmed consent
    assert (event["purpose"], event["channels"], event["source"]) == ("newsletter", ["email"], "web_form")
    proof = event["proof"]
    both = proof["double_opt_in"]
    assert both["signup_ip_prefix"] == "203.0.113.0/24"  # the sign-up's address, cut to its /24
    assert both["signup_user_agent"] == "Mozilla/5.0 (signup)"
    assert both["confirm_ip_prefix"] == "127.0.0.0/24"
    assert "Chrome" in both["confirm_user_agent"]
    assert both["notice_version"] == "2026-03"
    assert both["form_url"] == "https://www.example.se/nyhetsbrev"
    assert both["signup_at"] < both["confirmed_at"]
    assert proof["notice_version"] == "2026-03"
    assert "203.0.113.77" not in str(export)  # the full address is never kept
    [signup] = export["signups"]
    assert (signup["id"], signup["status"]) == (started["signup_id"], "confirmed")
    assert signup["confirmed_at"] is not None

    # Single use: a second POST records nothing and says the link was used.
    again = await client.post(path_of(started["confirm_url"]), data={"action": "confirm"}, headers=BROWSER)
    assert again.status_code == 200
    assert "used already" in again.text
    assert len((await export_of(client, tenant, "ada@example.se"))["events"]) == 1


async def test_an_unconfirmed_consent_does_not_count_for_a_double_opt_in_purpose(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant, body=DOI)
    consent = {
        "subject": {"email": "typed@example.se"},
        "type": "consent_given",
        "purpose": "newsletter",
        "proof": {"notice_version": "2026-03"},
    }
    ok(await client.post("/v1/events", json=consent, headers=tenant.auth("record")))
    answer = await decision(client, tenant, "typed@example.se")
    assert (answer["allowed"], answer["reason"]) == (False, "no_consent")
    # A client cannot claim a confirmation: the proof block is the service's own.
    forged = consent | {"proof": {"notice_version": "2026-03", "double_opt_in": {"confirmed_at": "2026-01-01"}}}
    refused = await client.post("/v1/events", json=forged, headers=tenant.auth("record"))
    assert refused.status_code == 400


async def test_double_opt_in_is_for_email_only_purposes(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.put("/v1/purposes/newsletter", json={**DOI, "channels": ["email", "sms"]},
                                headers=tenant.auth())  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "double_opt_in"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "+46701234567", "purposes": ["newsletter"]}, "email"),
        ({"email": "not an address", "purposes": ["newsletter"]}, "email"),
        ({"email": "a@example.se", "purposes": ["nope"]}, "purposes[0]"),
        ({"email": "a@example.se", "purposes": ["newsletter", "newsletter"]}, "purposes"),
        ({"email": "a@example.se", "purposes": ["newsletter"], "proof": {"notice_version": "1999"}},
         "proof.notice_version"),
        ({"email": "a@example.se", "purposes": ["newsletter"], "proof": {"ip": "not-an-ip"}}, "proof.ip"),
    ],
)  # fmt: skip
async def test_sign_up_validation_names_the_field(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    await put_purpose(client, tenant, body=DOI)
    response = await client.post("/v1/signups", json=body, headers=tenant.auth("record"))
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.fixture
async def hooked(ctx: Context) -> AsyncIterator[tuple[httpx.AsyncClient, Context]]:
    """An app whose webhooks may point at loopback (nothing delivers them here: they wait in the outbox)."""
    private = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, webhook_allow_private=True))
    transport = httpx.ASGITransport(app=create_app(private, clock=still))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http, private


async def webhook(client: httpx.AsyncClient, tenant: Tenant, events: list[str]) -> str:
    body = {"url": "http://127.0.0.1:9/hook", "events": events}
    return str(ok(await client.post("/v1/webhooks", json=body, headers=tenant.auth())).json()["id"])


async def messages(client: httpx.AsyncClient, tenant: Tenant, hook: str) -> list[dict[str, Any]]:
    found = ok(await client.get(f"/v1/webhooks/{hook}/deliveries", headers=tenant.auth())).json()["items"]
    return list(found)


async def test_signup_pending_webhook_and_the_quiet_period(
    hooked: tuple[httpx.AsyncClient, Context], tenant: Tenant
) -> None:
    client, _ = hooked
    await put_purpose(client, tenant, body=DOI)
    hook = await webhook(client, tenant, ["signup.pending"])
    first = await sign_up(client, tenant, "bo@example.se")
    assert first["delivery"] == "webhook"
    [message] = await messages(client, tenant, hook)
    assert message["type"] == "signup.pending"
    payload = message["data"]
    assert payload["confirm_url"] == first["confirm_url"]
    assert (payload["email"], payload["purposes"], payload["language"]) == ("bo@example.se", ["newsletter"], "en")
    # Signing up again within the quiet period sends nothing more (no mail bombing through the API).
    second = await sign_up(client, tenant, "bo@example.se")
    assert second["delivery"] == "quiet"
    assert len(await messages(client, tenant, hook)) == 1
    # Another address is not held back by bo's.
    assert (await sign_up(client, tenant, "cy@example.se"))["delivery"] == "webhook"


async def test_no_confirmation_goes_to_an_address_nothing_could_come_of(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant, body=DOI)
    bounce = {"email": "gone@example.se", "scope": "all", "reason": "hard_bounce"}
    ok(await client.post("/v1/suppressions", json=bounce, headers=tenant.auth("record")))
    assert (await sign_up(client, tenant, "gone@example.se"))["delivery"] == "suppressed"


async def test_confirming_lifts_the_unsubscribe_of_the_purposes_confirmed(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant, body=DOI)
    await put_purpose(client, tenant, "offers", body=DOI)
    out = {"email": "back@example.se", "scope": "all", "reason": "unsubscribe"}
    ok(await client.post("/v1/suppressions", json=out, headers=tenant.auth("record")))
    started = await sign_up(client, tenant, "back@example.se")
    ok(await client.post(path_of(started["confirm_url"]), data={"action": "confirm"}, headers=BROWSER))
    assert (await decision(client, tenant, "back@example.se"))["allowed"] is True
    # The unsubscribe from everything stays for what was not confirmed.
    assert (await decision(client, tenant, "back@example.se", "offers"))["reason"] == "suppressed"


def clocked(ctx: Context, now: datetime) -> Context:
    return dataclasses.replace(ctx, clock=lambda: now)


async def test_expired_reused_and_tampered_links(ctx: Context, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant, body=DOI)
    started = await sign_up(client, tenant, "late@example.se")
    url = path_of(started["confirm_url"])
    expires = datetime.fromisoformat(started["expires_at"])
    assert timedelta(hours=71) < expires - utcnow() <= timedelta(hours=72)  # CONSENT_CONFIRM_TTL_HOURS

    later = httpx.ASGITransport(app=create_app(clocked(ctx, expires)))
    async with httpx.AsyncClient(transport=later, base_url="http://testserver") as at_expiry:
        page = await at_expiry.get(url)
        assert page.status_code == 200
        assert "expired" in page.text
        assert ">Confirm<" not in page.text
        posted = await at_expiry.post(url, data={"action": "confirm"}, headers=BROWSER)
        assert "expired" in posted.text
        answer = await decision(at_expiry, tenant, "late@example.se")
        assert answer["reason"] == "no_consent"  # an expired sign-up no longer waits

    token = url.rsplit("/", 1)[1]
    for bad in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), token[:20], "x" * 40):
        response = await client.get(f"/c/{bad}")
        assert response.status_code == 404
        assert "Länken är ogiltig" in response.text
    assert (await client.post(f"/c/{token[:-2]}AA", data={"action": "confirm"}, headers=BROWSER)).status_code == 404
    # From another site the confirmation is refused.
    elsewhere = await client.post(
        url, data={"action": "confirm"}, headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    )
    assert elsewhere.status_code == 403
    assert (await decision(client, tenant, "late@example.se"))["reason"] == "confirmation_pending"


async def test_the_sweep_purges_unconfirmed_signups_after_expiry(
    ctx: Context, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant, body=DOI)
    started = await sign_up(client, tenant, "never@example.se")
    expires = datetime.fromisoformat(started["expires_at"])
    before = await retention.sweep_tenant(clocked(ctx, expires - timedelta(seconds=1)), tenant.id, tenant.name,
                                          dry_run=False)  # fmt: skip
    assert "signups/unconfirmed_expired" not in before.counts
    report = await retention.sweep_tenant(clocked(ctx, expires), tenant.id, tenant.name, dry_run=False)
    assert report.counts["signups/unconfirmed_expired"] == 1
    async with ctx.pool.acquire() as conn:
        left = await conn.fetchval("SELECT count(*) FROM signups WHERE tenant_id = $1", tenant.id)
    assert left == 0
    assert (await client.get(path_of(started["confirm_url"]))).status_code == 404  # gone, and not yet expired here


async def test_erasure_removes_the_signups(ctx: Context, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await put_purpose(client, tenant, body=DOI)
    started = await sign_up(client, tenant, "erase@example.se")
    ok(await client.post(path_of(started["confirm_url"]), data={"action": "confirm"}, headers=BROWSER))
    await sign_up(client, tenant, "erase@example.se")  # a second one, still waiting
    subject_id = await subject_id_of(client, tenant, email="erase@example.se")
    ok(await client.request("DELETE", f"/v1/subjects/{subject_id}", json={}, headers=tenant.auth()))
    async with ctx.pool.acquire() as conn:
        left = await conn.fetchval("SELECT count(*) FROM signups WHERE tenant_id = $1", tenant.id)
    assert left == 0


# --- forms --------------------------------------------------------------------------------------


async def make_form(client: httpx.AsyncClient, tenant: Tenant, **extra: Any) -> Any:
    body = {"name": "Footer", "origins": [SITE], "purposes": ["newsletter"], "language": "sv"} | extra
    response = ok(await client.post("/v1/forms", json=body, headers=tenant.auth()))
    assert response.status_code == 201
    return response.json()


async def test_a_form_takes_json_from_its_origins_only(still_client: httpx.AsyncClient, tenant: Tenant) -> None:
    client = still_client
    await put_purpose(client, tenant, body=DOI)
    form = await make_form(client, tenant)
    assert form["action_url"] == f"http://testserver/f/{form['form_key']}"
    action = f"/f/{form['form_key']}"
    preflight = await client.options(action, headers={"Origin": SITE, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SITE
    answer = await client.post(action, json={"email": "form@example.se"}, headers={"Origin": SITE})
    assert answer.status_code == 202, answer.text
    assert answer.headers["access-control-allow-origin"] == SITE
    assert (await decision(client, tenant, "form@example.se"))["reason"] == "confirmation_pending"
    # The answer never carries the link (whoever fills in a form must not be able to confirm).
    assert "/c/" not in answer.text
    for origin in ("https://evil.example", "null"):
        refused = await client.post(action, json={"email": "x@example.se"}, headers={"Origin": origin})
        assert refused.status_code == 403
    assert (await client.post(action, json={"email": "x@example.se"})).status_code == 403  # JSON needs an Origin
    assert (await decision(client, tenant, "x@example.se"))["reason"] == "no_consent"
    assert (await client.post(action, json={"email": "bad"}, headers={"Origin": SITE})).status_code == 400
    assert (
        await client.post("/f/form_nope", json={"email": "x@example.se"}, headers={"Origin": SITE})
    ).status_code == 404


async def test_a_known_and_an_unknown_address_get_the_same_answer(
    still_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    client = still_client
    await put_purpose(client, tenant, body=DOI)
    form = await make_form(client, tenant)
    action = f"/f/{form['form_key']}"
    ok(await client.post("/v1/suppressions", json={"email": "known@example.se", "reason": "complaint"},
                         headers=tenant.auth("record")))  # fmt: skip
    answers = [
        await client.post(action, json={"email": email}, headers={"Origin": SITE})
        for email in ("known@example.se", "new@example.se")
    ]
    known, unknown = ((a.status_code, a.json()) for a in answers)
    assert known == unknown


async def test_a_plain_html_form_redirects_and_the_honeypot_keeps_nothing(
    ctx: Context, still_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    client = still_client
    await put_purpose(client, tenant, body=DOI)
    form = await make_form(client, tenant, success_url="https://www.example.se/tack", fields=["email", "phone"])
    action = f"/f/{form['form_key']}"
    sent = await client.post(action, data={"email": "plain@example.se", "phone": "070-123 45 67", "website": ""},
                             headers={"Origin": SITE, "Referer": "https://www.example.se/"})  # fmt: skip
    assert sent.status_code == 303
    assert sent.headers["location"] == "https://www.example.se/tack"
    bot = await client.post(action, data={"email": "bot@example.se", "website": "https://spam.example"})
    assert (bot.status_code, bot.headers["location"]) == (303, "https://www.example.se/tack")  # the same answer
    assert (await decision(client, tenant, "bot@example.se"))["reason"] == "no_consent"  # nothing was kept
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT form_key, phone, proof FROM signups WHERE tenant_id = $1", tenant.id)
    assert [(r["form_key"], r["phone"]) for r in rows] == [(form["form_key"], "+46701234567")]
    elsewhere = await client.post(
        action, data={"email": "cross@example.se"}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403  # a plain form from another site is refused too
    bad = await client.post(action, data={"email": "nope"}, headers={"Origin": SITE})
    assert bad.status_code == 400
    assert "text/html" in bad.headers["content-type"]
    no_success = await make_form(client, tenant)
    thanks = await client.post(f"/f/{no_success['form_key']}", data={"email": "t@example.se"})
    assert thanks.status_code == 303
    page = await client.get(thanks.headers["location"])
    assert (page.status_code, "Titta i din inkorg" in page.text) == (200, True)


async def test_form_abuse_limits(still_client: httpx.AsyncClient, tenant: Tenant) -> None:
    client = still_client
    await put_purpose(client, tenant, body=DOI)
    form = await make_form(client, tenant)
    action = f"/f/{form['form_key']}"
    statuses = [
        (await client.post(action, json={"email": f"n{i}@example.se"}, headers={"Origin": SITE})).status_code
        for i in range(11)
    ]
    assert statuses == [202] * 10 + [429]  # a burst of 10 per client address, then one a minute
    other = await make_form(client, tenant)
    too_big = await client.post(f"/f/{other['form_key']}", content=b"email=" + b"a" * 9000, headers={
        "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert too_big.status_code == 413


async def test_one_address_is_signed_up_at_most_twice_per_ten_minutes_silently(
    ctx: Context, still_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    client = still_client
    await put_purpose(client, tenant, body=DOI)
    form = await make_form(client, tenant)
    for _ in range(4):
        answer = await client.post(
            f"/f/{form['form_key']}", json={"email": "same@example.se"}, headers={"Origin": SITE}
        )
        assert answer.status_code == 202
    async with ctx.pool.acquire() as conn:
        kept = await conn.fetchval("SELECT count(*) FROM signups WHERE tenant_id = $1", tenant.id)
    assert kept == 2


# --- re-permission ----------------------------------------------------------------------------


async def test_re_permission_end_to_end(hooked: tuple[httpx.AsyncClient, Context], tenant: Tenant) -> None:
    client, _ = hooked
    await put_purpose(client, tenant)
    for email in ("old@example.se", "other@example.se"):
        consent = {"subject": {"email": email}, "type": "consent_given", "purpose": "newsletter",
                   "proof": {"notice_version": "2026-03"}}  # fmt: skip
        ok(await client.post("/v1/events", json=consent, headers=tenant.auth("record")))
    hook = await webhook(client, tenant, ["consent.reconsent_needed"])
    deadline = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    changed: dict[str, Any] = {
        "notice_version": "2026-09",
        "reconsent_required_before": deadline.isoformat(),
        "description": {"sv": "Nu även erbjudanden.", "en": "Now with offers too."},
    }
    await put_purpose(client, tenant, body={**NEWSLETTER, **changed})
    needed = await messages(client, tenant, hook)
    assert sorted(m["data"]["consented_notice_version"] for m in needed) == ["2026-03", "2026-03"]
    assert {m["type"] for m in needed} == {"consent.reconsent_needed"}
    # Once per subject: publishing a later version of the same change announces nothing again.
    await put_purpose(client, tenant, body={**NEWSLETTER, **changed, "title": {"sv": "Nyhetsbrevet", "en": "News"}})
    assert len(await messages(client, tenant, hook)) == 2

    listed = ok(await client.get("/v1/purposes/newsletter/reconsent", headers=tenant.auth("record"))).json()
    assert len(listed["items"]) == 2
    assert {datetime.fromisoformat(i["deadline"]) for i in listed["items"]} == {deadline}
    old_id = await subject_id_of(client, tenant, email="old@example.se")
    assert old_id in {i["subject_id"] for i in listed["items"]}
    paged = ok(await client.get("/v1/purposes/newsletter/reconsent", params={"limit": 1},
                                headers=tenant.auth("record"))).json()  # fmt: skip
    assert len(paged["items"]) == 1
    assert paged["next_cursor"]

    link = ok(await client.post("/v1/reconsent-links", json={"email": "old@example.se", "purpose": "newsletter"},
                                headers=tenant.auth("record"))).json()  # fmt: skip
    page = await client.get(path_of(link["url"]) + "?lang=en")
    assert page.status_code == 200
    assert "Now with offers too." in page.text
    assert "I agree" in page.text
    shown = re.search(r'name="notice_version" value="([^"]+)"', page.text)
    assert shown is not None
    assert shown[1] == "2026-09"
    agreed = await client.post(path_of(link["url"]), data={"notice_version": "2026-09", "lang": "en"}, headers=BROWSER)
    assert "Your consent is recorded" in agreed.text
    again = await client.post(path_of(link["url"]), data={"notice_version": "2026-09"}, headers=BROWSER)
    assert "redan använd" in again.text  # the page's own language (sv) without ?lang=

    left = ok(await client.get("/v1/purposes/newsletter/reconsent", headers=tenant.auth("record"))).json()["items"]
    assert old_id not in {i["subject_id"] for i in left}
    answer = await decision(client, tenant, "old@example.se")
    assert answer["allowed"] is True
    assert answer["expires_at"] is None or datetime.fromisoformat(answer["expires_at"]) > deadline
    export = await export_of(client, tenant, "old@example.se")
    [used] = export["reconsent_links"]
    assert used["used_at"] is not None
    latest = next(e for e in export["events"] if e["id"] == used["event_id"])
    assert latest["proof"]["notice_version"] == "2026-09"
    assert latest["proof"]["reconsent"]["confirm_ip_prefix"] == "127.0.0.0/24"
    unknown = await client.post("/v1/reconsent-links", json={"email": "nobody@example.se", "purpose": "newsletter"},
                                headers=tenant.auth("record"))  # fmt: skip
    assert unknown.status_code == 404
