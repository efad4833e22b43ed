"""The console over HTTP (docs/console.md): sign-in, sessions, CSRF, throttling, roles, audit, and
the subject actions going through the same services as the API (so the ledger has them)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pyotp
import pytest

from consent_svc.domain.console import ROLES, may
from consent_svc.http.app import create_app
from consent_svc.service import console, webhooks
from consent_svc.service import console as console_service
from consent_svc.service import imports as imports_service
from consent_svc.service.context import Context
from consent_svc.web.console_text import SWEDISH
from tests.conftest import Tenant, ok, put_purpose, still, subject_id_of

PASSWORD = "correct horse battery staple"
TEMPLATES = Path(__file__).resolve().parents[2] / "consent_svc" / "web" / "templates" / "console"
SITE = json.loads((Path(__file__).resolve().parents[2] / "docs" / "examples" / "site.json").read_text(encoding="utf-8"))


@pytest.fixture
async def web(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (cookies kept) of an app whose rate limits do not refill."""
    transport = httpx.ASGITransport(app=create_app(ctx, clock=still))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers={"Accept-Language": "en"}) as http:  # fmt: skip
        yield http


def moved(response: httpx.Response) -> httpx.Response:
    """A console form that worked answers 303 to the next page (a refusal is a 4xx page)."""
    assert response.status_code == 303, f"{response.request.url.path}: {response.status_code} {response.text[:500]}"
    return response


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} in the page"
    return found.group(1)


async def sign_in(
    web: httpx.AsyncClient, tenant: Tenant, email: str, password: str = PASSWORD, **extra: str
) -> httpx.Response:
    page = await web.get("/console/login")
    assert page.status_code == 200
    data = {"form_token": hidden(page.text, "form_token"), "tenant": tenant.name, "email": email,
            "password": password, "next": "/console/", **extra}  # fmt: skip
    return await web.post("/console/login", data=data)


async def user(ctx: Context, tenant: Tenant, role: str, email: str | None = None) -> str:
    address = email or f"{role}@example.se"
    await console.create_user(ctx, tenant.id, address, role, PASSWORD)
    return address


async def search(web: httpx.AsyncClient, path: str, by: str, q: str) -> httpx.Response:
    """A console search: a POST with the session's CSRF token (the identifier stays out of the URL)."""
    page = "/console/subjects" if path == "/console/subjects" else "/console/suppressions"
    csrf = hidden((await web.get(page)).text, "csrf")
    return await web.post(path, data={"csrf": csrf, "by": by, "q": q})


async def csrf_of(web: httpx.AsyncClient) -> str:
    return hidden((await web.get("/console/")).text, "csrf")


def test_roles_form_a_ladder() -> None:
    assert [r for r in ROLES if may(r, "subjects")] == ["officer", "admin"]
    assert [r for r in ROLES if may(r, "wash")] == ["marketer", "officer", "admin"]
    assert [r for r in ROLES if may(r, "users")] == ["admin"]
    assert [r for r in ROLES if may(r, "dashboard")] == list(ROLES)
    assert not may("root", "dashboard")


def test_every_template_text_has_its_swedish() -> None:
    texts: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        texts |= set(re.findall(r'_\("([^"]+)"', path.read_text(encoding="utf-8")))
        texts |= set(re.findall(r"_\('([^']+)'", path.read_text(encoding="utf-8")))
    assert len(texts) > 50
    assert sorted(texts - set(SWEDISH)) == []


async def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_revokes_it(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient
) -> None:
    email = await user(ctx, tenant, "viewer")
    assert (await web.get("/console/")).status_code == 303  # not signed in: to the sign-in page
    signed = await sign_in(web, tenant, email)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/"
    cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("consent_console="))
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; over https it is Secure
    home = await web.get("/console/")
    assert home.status_code == 200
    assert email in home.text
    assert "default-src 'none'" in home.headers["content-security-policy"]
    stolen = web.cookies.get("consent_console")
    moved(await web.post("/console/logout", data={"csrf": hidden(home.text, "csrf")}))
    # The old cookie, replayed, is revoked on the server.
    web.cookies.set("consent_console", str(stolen), path="/console")
    assert (await web.get("/console/")).status_code == 303


async def test_wrong_password_and_unknown_account_say_the_same(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient
) -> None:
    email = await user(ctx, tenant, "viewer")
    wrong = await sign_in(web, tenant, email, "not the password at all")
    unknown = await sign_in(web, tenant, "nobody@example.se")
    assert wrong.status_code == unknown.status_code == 401
    assert "not right" in wrong.text
    assert "not right" in unknown.text


async def test_sign_in_is_throttled_per_account(ctx: Context, tenant: Tenant, web: httpx.AsyncClient) -> None:
    email = await user(ctx, tenant, "viewer")
    for _ in range(5):
        assert (await sign_in(web, tenant, email, "wrong password here")).status_code == 401
    throttled = await sign_in(web, tenant, email)  # even the right password, until the bucket refills
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0


async def test_sign_in_is_throttled_per_address(ctx: Context, tenant: Tenant, web: httpx.AsyncClient) -> None:
    for i in range(20):
        assert (await sign_in(web, tenant, f"guess{i}@example.se", "wrong password here")).status_code == 401
    assert (await sign_in(web, tenant, "another@example.se", "wrong password here")).status_code == 429


async def test_a_form_without_its_csrf_token_is_refused(ctx: Context, tenant: Tenant, web: httpx.AsyncClient) -> None:
    email = await user(ctx, tenant, "admin")
    await sign_in(web, tenant, email)
    refused = await web.post("/console/users", data={"email": "new@example.se", "role": "viewer"})
    assert refused.status_code == 403
    forged = await web.post("/console/users", data={"email": "new@example.se", "role": "viewer", "csrf": "x" * 43})
    assert forged.status_code == 403
    assert "new@example.se" not in (await web.get("/console/users")).text
    # The sign-in form has its own token (a cookie and the form's copy must agree).
    page = await web.get("/console/login")
    web.cookies.delete("consent_console_form")
    form = {"form_token": hidden(page.text, "form_token"), "tenant": tenant.name, "email": email, "password": PASSWORD}
    no_cookie = await web.post("/console/login", data=form)
    assert no_cookie.status_code == 403


async def test_a_viewer_cannot_reach_people_pages(ctx: Context, tenant: Tenant, web: httpx.AsyncClient) -> None:
    email = await user(ctx, tenant, "viewer")
    await sign_in(web, tenant, email)
    for path in ("/console/subjects", "/console/users", "/console/audit"):
        assert (await web.get(path)).status_code == 403, path
    assert 'href="/console/subjects"' not in (await web.get("/console/")).text


async def test_setup_link_sets_a_password_once_with_a_second_factor(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient
) -> None:
    created = await console.create_user(ctx, tenant.id, "ny@example.se", "officer")
    assert created.setup_url is not None
    path = "/console" + created.setup_url.split("/console", 1)[1]
    page = await web.get(path)
    assert page.status_code == 200
    secret = hidden(page.text, "totp_secret")
    form = {"form_token": hidden(page.text, "form_token"), "password": PASSWORD, "password_again": PASSWORD,
            "use_totp": "on", "totp_secret": secret, "code": pyotp.TOTP(secret).now()}  # fmt: skip
    assert (await web.post(path, data=form)).status_code == 303
    assert (await web.get(path)).status_code == 404  # spent
    assert (await sign_in(web, tenant, "ny@example.se")).status_code == 401  # the code is needed now
    code = pyotp.TOTP(secret).now()
    signed = await sign_in(web, tenant, "ny@example.se", code=code)
    assert signed.status_code == 303
    # A code works once: someone who saw it cannot sign in with it in the same 30 seconds.
    assert (await sign_in(web, tenant, "ny@example.se", code=code)).status_code == 401


async def test_officer_erases_through_the_service_and_the_audit_log_says_who(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await put_purpose(client, tenant)
    ok(await client.post("/v1/events", headers=tenant.auth(), json={
        "subject": {"email": "eva@example.se"}, "type": "consent_given", "purpose": "newsletter",
        "channels": ["email"], "proof": {"notice_version": "2026-03"}}))  # fmt: skip
    subject = await subject_id_of(client, tenant, email="eva@example.se")
    officer = await user(ctx, tenant, "officer")
    await sign_in(web, tenant, officer)
    found = await search(web, "/console/subjects", "email", "Eva@Example.se")
    assert "Eva@Example.se" not in str(found.url)
    assert f"/console/subjects/{subject}" in found.text
    page = await web.get(f"/console/subjects/{subject}")
    assert page.status_code == 200
    assert "consent_active" in page.text
    assert "GDPR 6(1)(a)" in page.text
    csrf = hidden(page.text, "csrf")
    export = await web.get(f"/console/subjects/{subject}/export")
    assert export.json()["subject"]["id"] == subject
    assert "attachment" in export.headers["content-disposition"]
    # Restriction: recorded in the ledger as a restriction_started event, and decisions deny (R3).
    moved(await web.post(f"/console/subjects/{subject}/restriction", data={"csrf": csrf, "action": "start"}))
    query = {"purpose": "newsletter", "channel": "email", "email": "eva@example.se"}
    decision = await client.get("/v1/decisions", headers=tenant.auth(), params=query)
    assert decision.json()["reason"] == "restricted"
    events = (await client.get(f"/v1/subjects/{subject}/events", headers=tenant.auth())).json()["items"]
    assert events[-1]["type"] == "restriction_started"
    assert "console user" in events[-1]["proof"]["note"]
    page = await web.get(f"/console/subjects/{subject}")
    assert 'name="action" value="lift"' in page.text
    moved(await web.post(f"/console/subjects/{subject}/restriction", data={"csrf": csrf, "action": "lift"}))
    assert (await client.get("/v1/decisions", headers=tenant.auth(), params=query)).json()["reason"] == "consent_active"
    assert 'name="action" value="start"' in (await web.get(f"/console/subjects/{subject}")).text
    # Erasure needs the address typed.
    refused = await web.post(f"/console/subjects/{subject}/erase", data={"csrf": csrf, "confirm": "someone@else.se"})
    assert refused.status_code == 400
    erased = await web.post(f"/console/subjects/{subject}/erase", data={"csrf": csrf, "confirm": "eva@example.se"})
    assert erased.status_code == 200
    assert "suppression" in erased.text.lower()
    assert (await client.get(f"/v1/subjects/{subject}", headers=tenant.auth())).status_code == 404
    [receipt] = (await client.get("/v1/erasures", headers=tenant.auth())).json()["items"]
    assert receipt["reason"].startswith("console user ")  # who, kept with the erasure's receipt
    # Who did what, for an admin.
    admin = await user(ctx, tenant, "admin")
    await sign_in(web, tenant, admin)
    log = (await web.get("/console/audit")).text
    for action in ("subject.erase", "subject.restriction.start", "subject.export", "subject.view", "subject.search"):
        assert action in log, action
    assert officer in log


async def test_admin_creates_a_user_and_disabling_signs_them_out(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient
) -> None:
    admin = await user(ctx, tenant, "admin")
    viewer = await user(ctx, tenant, "viewer")
    transport = httpx.ASGITransport(app=create_app(ctx, clock=still))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await sign_in(other, tenant, viewer)
        assert (await other.get("/console/")).status_code == 200
        await sign_in(web, tenant, admin)
        csrf = await csrf_of(web)
        made = await web.post("/console/users", data={"csrf": csrf, "email": "m@example.se", "role": "marketer"})
        assert "/console/setup/" in made.text
        users = await console.users(ctx, tenant.id)
        target = next(u for u in users if u.email == viewer)
        moved(await web.post(f"/console/users/{target.id}", data={"csrf": csrf, "action": "disable"}))
        assert (await other.get("/console/")).status_code == 303  # the session died with the account
        last = next(u for u in users if u.email == admin)
        refused = await web.post(f"/console/users/{last.id}", data={"csrf": csrf, "action": "disable"})
        assert refused.status_code == 409  # the last admin stays


async def test_an_idle_session_ends(ctx: Context, tenant: Tenant, web: httpx.AsyncClient) -> None:
    email = await user(ctx, tenant, "viewer")
    await sign_in(web, tenant, email)
    cookie = web.cookies.get("consent_console")
    assert cookie
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE console_sessions SET last_seen_at = now() - interval '31 minutes' WHERE tenant_id = $1", tenant.id
        )
    assert (await web.get("/console/")).status_code == 303


def test_every_chart_word_has_its_swedish() -> None:
    from consent_svc.web.console_charts import ACTION_LABELS, KIND_LABELS

    words = {*KIND_LABELS.values(), *ACTION_LABELS.values(), "No data", "Suppression entries by reason"}
    words |= {"unsubscribe", "objection", "complaint", "hard_bounce", "erasure", "register", "manual"}
    assert sorted(words - set(SWEDISH)) == []


async def test_the_dashboard_counts_and_charts(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await put_purpose(client, tenant)
    for address in ("a@example.se", "b@example.se", "c@example.se"):
        ok(await client.post("/v1/events", headers=tenant.auth(), json={
            "subject": {"email": address}, "type": "consent_given", "purpose": "newsletter",
            "channels": ["email"], "proof": {"notice_version": "2026-03"}}))  # fmt: skip
    ok(await client.post("/v1/events", headers=tenant.auth(), json={
        "subject": {"email": "a@example.se"}, "type": "objection", "purpose": "newsletter"}))  # fmt: skip
    ok(await client.post("/v1/suppressions", headers=tenant.auth(),
                         json={"email": "z@example.se", "reason": "complaint"}))  # fmt: skip
    await sign_in(web, tenant, await user(ctx, tenant, "viewer"))
    page = (await web.get("/console/")).text
    rows = re.findall(r"<tr><th scope=\"row\">(\d{4}-\d\d-\d\d)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", page)
    assert len(rows) == 12
    assert [int(r[1]) for r in rows][-1] == 3  # three consents this week
    assert [int(r[3]) for r in rows][-1] == 1  # one objection
    assert re.search(r'<th scope="row">complaint</th><td>1</td>', page)
    assert 'id="pending-confirmations">0<' in page
    for chart in ("purpose.newsletter", "suppressions", "banner"):
        svg = await web.get(f"/console/charts/{chart}")
        assert svg.status_code == 200, chart
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in svg.content
    assert b"Consents given" in (await web.get("/console/charts/purpose.newsletter")).content
    assert (await web.get("/console/charts/purpose.nothing")).status_code == 404
    verified = await web.post("/console/ledger/verify", data={"csrf": hidden(page, "csrf")})
    assert "hash chain of" in verified.text


async def test_list_washing_answers_as_the_batch_api_does(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await put_purpose(client, tenant)
    ok(await client.post("/v1/events", headers=tenant.auth(), json={
        "subject": {"email": "a@example.se"}, "type": "consent_given", "purpose": "newsletter",
        "channels": ["email"], "proof": {"notice_version": "2026-03"}}))  # fmt: skip
    values = ["a@example.se", "b@example.se", "not an address", "A@Example.se"]
    viewer = await user(ctx, tenant, "viewer")
    marketer = await user(ctx, tenant, "marketer")
    body = {"purpose": "newsletter", "channel": "email", "by": "email", "values": values}
    await sign_in(web, tenant, viewer)
    assert (await web.get("/console/wash")).status_code == 403
    await sign_in(web, tenant, marketer)
    csrf = hidden((await web.get("/console/wash")).text, "csrf")
    assert (await web.post("/console/wash/batch", json=body)).status_code == 403  # no CSRF token
    washed = await web.post("/console/wash/batch", json=body, headers={"X-CSRF-Token": csrf})
    assert washed.status_code == 200, washed.text
    api = await client.post("/v1/decisions/batch", headers=tenant.auth(), json={
        "purpose": "newsletter", "channel": "email", "recipients": [{"email": v} for v in values]})  # fmt: skip
    expected = [[r["allowed"], r["reason"], r.get("rule"), r.get("expires_at")] for r in api.json()["results"]]
    assert washed.json()["results"] == expected
    assert [r[1] for r in expected] == ["consent_active", "no_consent", "invalid_identifier", "consent_active"]
    too_many = {**body, "values": ["x@example.se"] * 10_001}
    assert (await web.post("/console/wash/batch", json=too_many, headers={"X-CSRF-Token": csrf})).status_code == 400


MAILCHIMP_SUBSCRIBED = (
    "Email Address,First Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LAST_CHANGED\r\n"
    "eva@example.se,Eva,2,2025-03-01 09:00:00,192.0.2.10,2025-03-01 09:05:00,192.0.2.10,2025-03-01 09:05:00\r\n"
    "bo@example.se,Bo,2,,,,,2025-03-02 10:00:00\r\n"
    "not-an-address,X,1,2025-03-01 09:00:00,,,,2025-03-01\r\n"
)
MAILCHIMP_UNSUBSCRIBED = (
    "Email Address,First Name,OPTIN_TIME,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_REASON\r\n"
    "ulf@example.se,Ulf,2024-01-01 08:00:00,2025-05-01 12:00:00,Maj,No longer interested\r\n"
)
GENERIC = "email;status;optin_time;ip;source\ncleo@example.se;bounced;;;crm\ndan@example.se;complained;;;crm\n"


async def post_import(web: httpx.AsyncClient, csrf: str, name: str, body: str, fmt: str, action: str) -> str:
    response = await web.post(
        "/console/import",
        data={"csrf": csrf, "format": fmt, "purpose": "newsletter", "notice_version": "2026-03", "action": action},
        files={"file": (name, body.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text[:2000]
    return response.text


def figure(page: str, name: str) -> int:
    found = re.search(rf'id="{name}">(\d+)<', page)
    assert found, name
    return int(found.group(1))


async def test_import_dry_run_record_and_again_nothing_twice(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await put_purpose(client, tenant)
    await sign_in(web, tenant, await user(ctx, tenant, "marketer"))
    csrf = hidden((await web.get("/console/import")).text, "csrf")
    dry = await post_import(web, csrf, "subscribed.csv", MAILCHIMP_SUBSCRIBED, "mailchimp", "dry_run")
    assert (figure(dry, "events-new"), figure(dry, "skipped")) == (1, 2)
    assert "cannot be dated" in dry  # Bo: no opt-in time, not imported as consent
    assert await subject_id_of(client, tenant, email="eva@example.se") is None  # the dry run changed nothing
    done = await post_import(web, csrf, "subscribed.csv", MAILCHIMP_SUBSCRIBED, "mailchimp", "record")
    assert figure(done, "events-new") == 1
    again = await post_import(web, csrf, "subscribed.csv", MAILCHIMP_SUBSCRIBED, "mailchimp", "record")
    assert (figure(again, "events-new"), figure(again, "events-already")) == (0, 1)
    eva = await subject_id_of(client, tenant, email="eva@example.se")
    events = (await client.get(f"/v1/subjects/{eva}/events", headers=tenant.auth())).json()["items"]
    assert len(events) == 1
    [given] = events
    assert given["type"] == "consent_given"
    assert given["source"] == "import"
    assert given["occurred_at"].startswith("2025-03-01T09:05:00")  # the confirmation time
    sha = re.search(r"<code>([0-9a-f]{64})</code>", done)
    assert sha
    assert given["proof"]["imported"] == {"imported_from": "mailchimp", "file_sha256": sha.group(1), "row": 1}
    assert given["proof"]["ip"] == "192.0.2.10"
    query = {"purpose": "newsletter", "channel": "email", "email": "eva@example.se"}
    assert (await client.get("/v1/decisions", params=query, headers=tenant.auth())).json()["allowed"] is True
    # The unsubscribed export: a withdrawal and an objection; a plain CSV: suppressions.
    unsub = await post_import(web, csrf, "unsubscribed.csv", MAILCHIMP_UNSUBSCRIBED, "mailchimp", "record")
    assert figure(unsub, "events-new") == 2
    query["email"] = "ulf@example.se"
    assert (await client.get("/v1/decisions", params=query, headers=tenant.auth())).json()["allowed"] is False
    generic = await post_import(web, csrf, "crm.csv", GENERIC, "csv", "record")
    assert figure(generic, "suppressions-new") == 2
    assert figure(await post_import(web, csrf, "crm.csv", GENERIC, "csv", "record"), "suppressions-new") == 0
    query["email"] = "dan@example.se"
    assert (await client.get("/v1/decisions", params=query, headers=tenant.auth())).json()["reason"] == "suppressed"


async def test_the_api_refuses_import_proof_from_clients(tenant: Tenant, client: httpx.AsyncClient) -> None:
    await put_purpose(client, tenant)
    forged = {"imported_from": "csv", "file_sha256": "0" * 64, "row": 1}
    refused = await client.post("/v1/events", headers=tenant.auth(), json={
        "subject": {"email": "x@example.se"}, "type": "consent_given", "purpose": "newsletter",
        "proof": {"notice_version": "2026-03", "imported": forged}})  # fmt: skip
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "proof.imported"


async def test_purposes_new_version_diff_and_material_change(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await put_purpose(client, tenant)
    await sign_in(web, tenant, await user(ctx, tenant, "marketer"))
    listed = await web.get("/console/purposes")
    assert 'href="/console/purposes/newsletter"' in listed.text
    page = await web.get("/console/purposes/newsletter")
    assert page.status_code == 200
    assert "Save a new version" not in page.text  # a marketer reads
    assert (await web.post("/console/purposes/newsletter", data={"csrf": hidden(page.text, "csrf")})).status_code == 403
    await sign_in(web, tenant, await user(ctx, tenant, "admin"))
    page = await web.get("/console/purposes/newsletter")
    form = {"csrf": hidden(page.text, "csrf"), "notice_version": "2026-09", "title_sv": "Nyhetsbrev",
            "title_en": "Newsletter", "description_sv": "Nyheter varje vecka.", "description_en": "News every week.",
            "consent_ttl_days": "365", "material": "on", "deadline": "2026-12-31"}  # fmt: skip
    moved(await web.post("/console/purposes/newsletter", data=form))
    config = (await client.get("/v1/purposes/newsletter", headers=tenant.auth())).json()
    assert (config["version"], config["notice_version"], config["consent_ttl_days"]) == (2, "2026-09", 365)
    assert config["reconsent_required_before"].startswith("2026-12-31")
    diff = (await web.get("/console/purposes/newsletter", params={"from": 1, "to": 2})).text
    table = diff.split('id="diff"', 1)[1].split("</table>", 1)[0]
    for field in ("notice_version", "description.en", "consent_ttl_days", "reconsent_required_before"):
        assert f'<th scope="row">{field}</th>' in table, field
    assert '<th scope="row">title.en</th>' not in table  # unchanged
    no_deadline = {**form, "deadline": "", "notice_version": "2026-10"}
    assert (await web.post("/console/purposes/newsletter", data=no_deadline)).status_code == 400


async def test_suppressions_search_add_and_lift_with_a_reason(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await put_purpose(client, tenant)
    marketer = await user(ctx, tenant, "marketer")
    await sign_in(web, tenant, marketer)
    assert (await web.get("/console/suppressions")).status_code == 403
    await sign_in(web, tenant, await user(ctx, tenant, "officer"))
    csrf = hidden((await web.get("/console/suppressions")).text, "csrf")
    added = {"csrf": csrf, "by": "email", "value": "Sara@Example.se", "reason": "manual", "scope": "all", "channel": ""}
    moved(await web.post("/console/suppressions", data=added))
    query = {"purpose": "newsletter", "channel": "email", "email": "sara@example.se"}
    assert (await client.get("/v1/decisions", params=query, headers=tenant.auth())).json()["reason"] == "suppressed"
    found = (await search(web, "/console/suppressions/search", "email", "sara@example.se")).text
    entry = re.search(r"/console/suppressions/([0-9a-f-]{36})/lift", found)
    assert entry
    assert (await web.post(f"/console/suppressions/{entry.group(1)}/lift", data={"csrf": csrf})).status_code == 400
    moved(
        await web.post(f"/console/suppressions/{entry.group(1)}/lift", data={"csrf": csrf, "reason": "asked by phone"})
    )
    assert (await client.get("/v1/decisions", params=query, headers=tenant.auth())).json()["reason"] != "suppressed"
    row = (await client.get(f"/v1/suppressions/{entry.group(1)}", headers=tenant.auth())).json()
    assert row["lift_reason"].startswith("asked by phone (console user ")


async def test_sites_page_frames_the_real_banner_and_webhooks_redeliver(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    created = ok(await client.post("/v1/sites", json=SITE, headers=tenant.auth())).json()
    key = created["site_key"]
    private = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, webhook_allow_private=True))
    hook, _ = await webhooks.create(private, tenant.id, "http://127.0.0.1:9/hook", ["suppression.added"], None)
    ok(await client.post("/v1/suppressions", json={"email": "w@example.se", "reason": "manual"}, headers=tenant.auth()))
    await sign_in(web, tenant, await user(ctx, tenant, "marketer"))
    sites = (await web.get("/console/sites")).text
    assert f'src="/console/sites/{key}/preview' in sites
    preview = await web.get(f"/console/sites/{key}/preview")
    assert f'data-site-key="{key}"' in preview.text
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    assert (await web.get("/console/webhooks")).status_code == 403
    await sign_in(web, tenant, await user(ctx, tenant, "admin"))
    page = (await web.get("/console/webhooks")).text
    message = re.search(rf"/console/webhooks/{hook.id}/messages/([0-9a-f-]{{36}})/redeliver", page)
    assert message
    assert "suppression.added" in page
    moved(await web.post(message.group(0), data={"csrf": hidden(page, "csrf")}))
    log = (await web.get("/console/audit")).text
    assert "webhook.redeliver" in log


async def test_an_admin_resets_a_lost_password_with_a_new_set_up_link(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient
) -> None:
    officer = await user(ctx, tenant, "officer")
    transport = httpx.ASGITransport(app=create_app(ctx, clock=still))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as theirs:
        await sign_in(theirs, tenant, officer)
        assert (await theirs.get("/console/")).status_code == 200
        await sign_in(web, tenant, await user(ctx, tenant, "admin"))
        target = next(u for u in await console.users(ctx, tenant.id) if u.email == officer)
        reset = await web.post(f"/console/users/{target.id}", data={"csrf": await csrf_of(web), "action": "reset"})
        assert reset.status_code == 200
        link = re.search(r'id="reset-link">http://[^/]+(/console/setup/[^<]+)<', reset.text)
        assert link
        assert (await theirs.get("/console/")).status_code == 303  # signed out
        assert (await sign_in(theirs, tenant, officer)).status_code == 401  # the old password is gone
        page = await theirs.get(link.group(1))
        new = "another long password here"
        form = {"form_token": hidden(page.text, "form_token"), "password": new, "password_again": new}
        moved(await theirs.post(link.group(1), data=form))
        assert (await sign_in(theirs, tenant, officer, new)).status_code == 303


async def test_an_admin_edits_a_site_and_a_marketer_only_reads_it(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    key = ok(await client.post("/v1/sites", json=SITE, headers=tenant.auth())).json()["site_key"]
    await sign_in(web, tenant, await user(ctx, tenant, "marketer"))
    page = (await web.get("/console/sites")).text
    assert "Save the configuration" not in page
    assert (
        await web.post(f"/console/sites/{key}", data={"csrf": hidden(page, "csrf"), "config": "{}"})
    ).status_code == 403
    await sign_in(web, tenant, await user(ctx, tenant, "admin"))
    page = (await web.get("/console/sites")).text
    csrf = hidden(page, "csrf")
    changed = {**SITE, "name": "Ny webbplats", "validity_days": 90}
    moved(await web.post(f"/console/sites/{key}", data={"csrf": csrf, "config": json.dumps(changed)}))
    stored = (await client.get(f"/v1/sites/{key}", headers=tenant.auth())).json()
    assert (stored["name"], stored["validity_days"]) == ("Ny webbplats", 90)
    broken = await web.post(f"/console/sites/{key}", data={"csrf": csrf, "config": '{"name": ""}'})
    assert broken.status_code == 400


def test_every_console_page_names_the_role_it_needs() -> None:
    """Behind a session, every route names a permission (its least role); only sign-in, set-up
    and the static files are outside, and they change nothing but their own forms."""
    from consent_svc.domain.console import LEAST_ROLE
    from consent_svc.http.app import create_litestar
    from consent_svc.http.console import console_guard

    public = {"/console/login", "/console/setup/{token:str}", "/console/static/{name:str}"}
    seen = 0
    for route in create_litestar(None).routes:
        if not route.path.startswith("/console"):
            continue
        for handler in getattr(route, "route_handlers", []):
            if handler.http_methods == {"OPTIONS"}:
                continue  # litestar's own answer to OPTIONS: the Allow header, nothing else
            if route.path in public:
                assert "console" not in handler.opt
                continue
            seen += 1
            assert handler.opt.get("console") in LEAST_ROLE, route.path
            assert console_guard in handler.resolve_guards(), route.path
    assert seen >= 25


async def test_every_console_form_is_refused_without_its_csrf_token(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient
) -> None:
    from consent_svc.http.app import create_litestar

    await sign_in(web, tenant, await user(ctx, tenant, "admin"))
    sample = "01a22ad3-b083-7185-98f2-87f5a0c6aa36"
    posts = [
        route.path.replace("{subject_id:uuid}", sample).replace("{user_id:uuid}", sample)
        .replace("{entry_id:uuid}", sample).replace("{webhook_id:uuid}", sample).replace("{message_id:uuid}", sample)
        .replace("{integration_id:uuid}", sample).replace("{key:str}", "newsletter").replace("{site_key:str}", "x")
        for route in create_litestar(None).routes
        if route.path.startswith("/console") and "POST" in route.methods
        and route.path not in ("/console/login", "/console/setup/{token:str}")
    ]  # fmt: skip
    assert len(posts) >= 15
    for path in posts:
        refused = await web.post(path, data={"csrf": "not the token", "action": "start"})
        assert refused.status_code == 403, path
        assert "did not come from this console" in refused.text, path


async def test_the_audit_log_is_append_only(ctx: Context, tenant: Tenant, web: httpx.AsyncClient) -> None:
    await sign_in(web, tenant, await user(ctx, tenant, "viewer"))
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM console_audit WHERE tenant_id = $1", tenant.id) >= 1
        for statement in ("UPDATE console_audit SET action = 'nothing' WHERE tenant_id = $1",
                          "DELETE FROM console_audit WHERE tenant_id = $1"):  # fmt: skip
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement, tenant.id)


async def test_over_https_the_session_cookie_is_secure_and_a_session_ends_after_12_hours(
    ctx: Context, tenant: Tenant
) -> None:
    from tests.conftest import test_settings

    https = dataclasses.replace(ctx, settings=test_settings(console_url="https://console.example.se/console"))
    transport = httpx.ASGITransport(app=create_app(https, clock=still))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as browser:
        email = await user(https, tenant, "viewer")
        page = await browser.get("/console/login")
        form_cookie = next(c for c in page.headers.get_list("set-cookie") if c.startswith("consent_console_form="))
        assert "Secure" in form_cookie
        signed = await sign_in(browser, tenant, email)
        cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("consent_console="))
        assert "Secure" in cookie
        assert (await browser.get("/console/")).status_code == 200
        async with ctx.pool.acquire() as conn:
            await conn.execute(
                "UPDATE console_sessions SET created_at = now() - interval '12 hours 1 minute' WHERE tenant_id = $1",
                tenant.id,
            )
        assert (await browser.get("/console/")).status_code == 303  # busy or not, 12 hours is the end


async def test_banner_choices_reach_the_dashboard_with_their_gpc_share(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    site = ok(await client.post("/v1/sites", json=SITE, headers=tenant.auth())).json()
    origin = {"Origin": SITE["origins"][0]}
    for action, gpc in (("accept_all", False), ("reject_all", True), ("reject_all", False), ("save", False)):
        choice = {"action": action, "banner_version": site["banner_version"], "gpc_signal": gpc}
        headers = {**origin, **({"Sec-GPC": "1"} if gpc else {})}
        ok(await client.post(f"/v1/banner/{site['site_key']}/consents", json=choice, headers=headers))
    await sign_in(web, tenant, await user(ctx, tenant, "viewer"))
    page = (await web.get("/console/")).text
    row = re.search(rf'<th scope="row">{site["site_key"]}</th>((?:<td>[^<]*</td>)+)', page)
    assert row, page[-3000:]
    cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
    assert cells == ["1", "2", "1", "0", "1 (25 %)"]  # accept, reject, custom, dismissed, with GPC


async def test_people_are_found_by_phone_and_by_external_id(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    ok(await client.post("/v1/events", headers=tenant.auth(), json={
        "subject": {"phone": "070-123 45 67", "external_id": "crm-77"}, "type": "purchase"}))  # fmt: skip
    await sign_in(web, tenant, await user(ctx, tenant, "officer"))
    by_phone = (await search(web, "/console/subjects", "phone", "+46701234567")).text
    found = re.search(r'href="/console/subjects/([0-9a-f-]{36})"', by_phone)
    assert found
    by_id = (await search(web, "/console/subjects", "external_id", "crm-77")).text
    assert f"/console/subjects/{found.group(1)}" in by_id
    nobody = (await search(web, "/console/subjects", "external_id", "crm-78")).text
    assert "Nobody with that identifier is recorded." in nobody
    assert (await search(web, "/console/subjects", "phone", "not a number")).status_code == 400


async def test_a_user_changes_their_password_and_turns_a_second_factor_on_and_off(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient
) -> None:
    email = await user(ctx, tenant, "marketer")
    transport = httpx.ASGITransport(app=create_app(ctx, clock=still))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere:
        await sign_in(elsewhere, tenant, email)
        await sign_in(web, tenant, email)
        page = (await web.get("/console/account")).text
        csrf = hidden(page, "csrf")
        new = "a brand new long password"
        wrong = {"csrf": csrf, "current_password": "not it at all!!", "password": new, "password_again": new}
        assert (await web.post("/console/account/password", data=wrong)).status_code == 400
        moved(await web.post("/console/account/password", data={**wrong, "current_password": PASSWORD}))
        assert (await web.get("/console/")).status_code == 200  # this session goes on
        assert (await elsewhere.get("/console/")).status_code == 303  # the other one ended
        secret = hidden(page, "totp_secret")
        on = {"csrf": csrf, "action": "on", "totp_secret": secret, "current_password": new, "code": "000000"}
        if pyotp.TOTP(secret).verify("000000", valid_window=1):
            on["code"] = "111111"
        assert (await web.post("/console/account/totp", data=on)).status_code == 400  # a wrong code
        moved(await web.post("/console/account/totp", data={**on, "code": pyotp.TOTP(secret).now()}))
        assert (await sign_in(elsewhere, tenant, email, new)).status_code == 401  # the code is needed now
        assert (await sign_in(elsewhere, tenant, email, new, code=pyotp.TOTP(secret).now())).status_code == 303
        off = {"csrf": csrf, "action": "off", "current_password": new, "code": pyotp.TOTP(secret).now()}
        moved(await web.post("/console/account/totp", data=off))
        assert (await sign_in(elsewhere, tenant, email, new)).status_code == 303


async def test_a_person_known_by_a_personal_number_is_found_shown_as_a_hash_and_erased_by_id(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    ok(await client.post("/v1/events", headers=tenant.auth(), json={
        "subject": {"personal_number": "121212+1212"}, "type": "purchase"}))  # fmt: skip
    await sign_in(web, tenant, await user(ctx, tenant, "officer"))
    found = (await search(web, "/console/subjects", "personal_number", "19121212-1212")).text
    person = re.search(r'href="/console/subjects/([0-9a-f-]{36})"', found)
    assert person
    page = (await web.get(f"/console/subjects/{person.group(1)}")).text
    assert "kept only as a keyed hash" in page
    assert "121212" not in page  # never the number itself
    csrf = hidden(page, "csrf")
    refused = await web.post(f"/console/subjects/{person.group(1)}/restriction", data={"csrf": csrf, "action": "start"})
    assert refused.status_code == 422  # no value to record it by: said, not guessed
    erased = await web.post(
        f"/console/subjects/{person.group(1)}/erase", data={"csrf": csrf, "confirm": person.group(1)}
    )
    assert erased.status_code == 200
    assert "The person is erased" in erased.text


async def test_the_account_budget_counts_every_spelling_of_an_address(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient
) -> None:
    """Full-width letters or an ideographic full stop are the same address to sign-in: they must
    not open a fresh budget of guesses."""
    email = await user(ctx, tenant, "viewer")
    for _ in range(5):
        assert (await sign_in(web, tenant, email, "wrong password here")).status_code == 401
    local, domain = email.split("@")
    for spelling in (f"{local}@{domain.replace('.', '。')}", f"{local.upper()}@{domain}"):
        assert (await sign_in(web, tenant, spelling, "wrong password here")).status_code == 429


async def test_a_set_up_post_without_a_working_link_hashes_no_password(
    web: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []

    async def hash_password(password: str) -> str:
        hashed.append(password)
        return "never"

    monkeypatch.setattr(console_service, "hash_password", hash_password)
    page = await web.get("/console/login")
    token = hidden(page.text, "form_token")
    response = await web.post(
        "/console/setup/00000000000000000000000000000000.junk",
        data={"form_token": token, "password": "a long enough password", "password_again": "a long enough password"},
    )
    assert response.status_code == 404
    assert hashed == []


async def test_a_too_large_import_writes_nothing(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size is checked before the first chunk is written: a refused file leaves nothing behind,
    and the attempt is in the audit log."""
    monkeypatch.setattr(imports_service, "MAX_ROWS", 5)
    monkeypatch.setattr(imports_service, "CHUNK", 2)
    await put_purpose(client, tenant)
    await sign_in(web, tenant, await user(ctx, tenant, "marketer"))
    csrf = hidden((await web.get("/console/import")).text, "csrf")
    rows = "".join(f"big{i}@example.se,subscribed\n" for i in range(8))
    response = await web.post(
        "/console/import",
        data={"csrf": csrf, "format": "csv", "purpose": "newsletter", "notice_version": "2026-03", "action": "record"},
        files={"file": ("big.csv", ("email,status\n" + rows).encode(), "text/csv")},
    )
    assert response.status_code == 400
    assert "split it" in response.text
    assert await subject_id_of(client, tenant, email="big0@example.se") is None
    async with ctx.pool.acquire() as conn:
        actions = await conn.fetch("SELECT action FROM console_audit WHERE tenant_id = $1", tenant.id)
    assert "import.record.failed" in {r["action"] for r in actions}


async def test_an_unreadable_csv_or_a_bad_form_field_is_a_400_not_a_500(
    ctx: Context, tenant: Tenant, web: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await put_purpose(client, tenant)
    await sign_in(web, tenant, await user(ctx, tenant, "admin"))
    csrf = hidden((await web.get("/console/import")).text, "csrf")
    response = await web.post(
        "/console/import",
        data={"csrf": csrf, "format": "csv", "purpose": "newsletter", "notice_version": "2026-03", "action": "dry_run"},
        files={"file": ("wide.csv", b"email,status\n" + b"x" * 200_000 + b"@example.se,subscribed\n", "text/csv")},
    )
    assert response.status_code == 400
    added = {"csrf": csrf, "by": "email", "value": "a@example.se", "reason": "no-such-reason", "scope": "all"}
    assert (await web.post("/console/suppressions", data=added)).status_code == 400
    # A tenant without suppression entries still gets its chart.
    assert (await web.get("/console/charts/suppressions")).status_code == 200
