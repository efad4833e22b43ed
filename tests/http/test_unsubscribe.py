"""Unsubscribe links and the preference center over HTTP, as mail clients and people use them."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from structlog.testing import capture_logs

from consent_svc.http.app import create_app
from consent_svc.service import unsubscribe
from consent_svc.service.context import Context, utcnow
from tests.conftest import NEWSLETTER, Tenant, make_tenant, ok

EVENTS = {
    **NEWSLETTER,
    "title": {"sv": "Evenemang", "en": "Events"},
    "description": {"sv": "Inbjudningar till seminarier.", "en": "Invitations to seminars."},
}


async def setup(client: httpx.AsyncClient, tenant: Tenant, email: str) -> None:
    for key, body in (("newsletter", NEWSLETTER), ("events", EVENTS)):
        assert (await client.put(f"/v1/purposes/{key}", json=body, headers=tenant.auth())).status_code in (200, 201)
        consent = {
            "subject": {"email": email},
            "type": "consent_given",
            "purpose": key,
            "proof": {"notice_version": "2026-03"},
        }
        assert (await client.post("/v1/events", json=consent, headers=tenant.auth())).status_code == 201


async def link(client: httpx.AsyncClient, tenant: Tenant, email: str, purpose: str | None = None) -> dict[str, Any]:
    body = {"email": email} | ({"purpose": purpose} if purpose else {})
    response = await client.post("/v1/unsubscribe-links", json=body, headers=tenant.auth("record"))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def allowed(client: httpx.AsyncClient, tenant: Tenant, email: str, purpose: str) -> bool:
    params = {"purpose": purpose, "channel": "email", "email": email}
    return bool((await client.get("/v1/decisions", params=params, headers=tenant.auth("check"))).json()["allowed"])


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver")


SAME_ORIGIN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}


def nonce_of(page: str) -> str:
    """The form nonce in a preference page ("" when there is none)."""
    found = re.search(r'name="nonce" value="([^"]*)"', page)
    return found[1] if found else ""


async def save(client: httpx.AsyncClient, url: str, data: dict[str, Any], **headers: str) -> httpx.Response:
    """Submit the preference form as the browser does: load the page, post its form back from its own origin."""
    page = await client.get(url)
    assert page.status_code == 200, page.text
    return await client.post(
        f"{url}/preferences", data={**data, "nonce": nonce_of(page.text)}, headers={**SAME_ORIGIN, **headers}
    )


async def test_link_and_headers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "h@example.se")
    out = await link(client, tenant, "h@example.se")
    assert out["url"].startswith("http://testserver/u/")
    assert out["headers"]["List-Unsubscribe"] == f"<{out['url']}>"
    assert out["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "h@example.se" not in out["url"]
    ok(await client.put("/v1/branding", json={"unsubscribe_mailto": "Avregistrera@Example.se"}, headers=tenant.auth()))
    with_mailto = await link(client, tenant, "h@example.se")
    assert with_mailto["headers"]["List-Unsubscribe"].startswith(
        f"<{with_mailto['url']}>, <mailto:avregistrera@example.se?subject=unsubscribe%20"
    )


@pytest.mark.parametrize("encoding", ["form", "multipart"])
async def test_one_click_in_both_encodings_is_idempotent_and_honoured_at_once(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant, encoding: str
) -> None:
    email = f"{encoding}@example.se"
    await setup(client, tenant, email)
    url = path_of((await link(client, tenant, email, "newsletter"))["url"])
    assert await allowed(client, tenant, email, "newsletter")
    kwargs: dict[str, Any] = {"data": {"List-Unsubscribe": "One-Click"}}
    if encoding == "multipart":
        kwargs["files"] = {"unused": ("", b"")}  # forces multipart/form-data
    first = await client.post(url, **kwargs)
    assert first.status_code == 200, first.text
    assert "set-cookie" not in first.headers
    assert "location" not in first.headers
    assert not await allowed(client, tenant, email, "newsletter")
    assert await allowed(client, tenant, email, "events")  # only the link's purpose
    again = await client.post(url, **kwargs)
    assert again.status_code == 200
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT type, purpose, source FROM events WHERE tenant_id = $1 AND source = 'unsubscribe'", tenant.id
        )
        entries = await conn.fetch("SELECT scope, reason FROM suppressions WHERE tenant_id = $1", tenant.id)
    assert sorted((e["type"], e["purpose"]) for e in events) == [
        ("consent_withdrawn", "newsletter"),
        ("objection", "newsletter"),
    ]
    assert [(e["scope"], e["reason"]) for e in entries] == [("newsletter", "unsubscribe")]


async def test_a_link_without_purpose_leaves_all_direct_marketing(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "all@example.se")
    url = path_of((await link(client, tenant, "all@example.se"))["url"])
    assert (await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    assert not await allowed(client, tenant, "all@example.se", "newsletter")
    assert not await allowed(client, tenant, "all@example.se", "events")


async def test_one_click_needs_the_rfc8058_body(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "body@example.se")
    url = path_of((await link(client, tenant, "body@example.se"))["url"])
    assert (await client.post(url, data={"List-Unsubscribe": "Yes"})).status_code == 400
    assert (await client.post(url, content=b"x", headers={"content-type": "text/plain"})).status_code == 415
    assert await allowed(client, tenant, "body@example.se", "newsletter")


async def test_tampered_truncated_and_unknown_tokens_are_404_and_say_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await setup(client, tenant, "tamper@example.se")
    token = path_of((await link(client, tenant, "tamper@example.se"))["url"]).removeprefix("/u/")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    forged = []
    for i in range(0, len(raw), 3):  # a sample: every third byte, flipped
        changed = bytearray(raw)
        changed[i] ^= 0x01
        forged.append(base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode())
    forged += [token[:-1], token[:10], "x", "A" * 80]
    bodies = set()
    for bad in forged:
        for method in ("GET", "POST"):
            response = await client.request(method, f"/u/{bad}", data={"List-Unsubscribe": "One-Click"})
            assert response.status_code == 404, (bad, response.text)
            bodies.add(response.text)
    assert len(bodies) == 1  # one answer for every kind of bad token
    assert await allowed(client, tenant, "tamper@example.se", "newsletter")


async def test_a_token_of_one_tenant_never_touches_another(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    other = await make_tenant(ctx)
    await setup(client, tenant, "cross@example.se")
    await setup(client, other, "cross@example.se")
    url = path_of((await link(client, tenant, "cross@example.se"))["url"])
    assert (await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    assert not await allowed(client, tenant, "cross@example.se", "newsletter")
    assert await allowed(client, other, "cross@example.se", "newsletter")


async def test_preference_page_languages_and_saving(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    await setup(client, tenant, "page@example.se")
    ok(
        await client.put(
            "/v1/branding",
            json={
                "display_name": "Exempel AB <script>",
                "primary_color": "#FFD700",
                "privacy_policy_url": "https://example.se/integritet",
            },
            headers=tenant.auth(),
        )
    )
    url = path_of((await link(client, tenant, "page@example.se"))["url"])
    sv = await client.get(url, headers={"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"})
    assert sv.status_code == 200
    assert sv.headers["content-type"].startswith("text/html")
    assert 'lang="sv"' in sv.text
    assert "Spara mina val" in sv.text
    assert "Nyhetsbrev" in sv.text
    assert "Exempel AB &lt;script&gt;" in sv.text
    assert "<script>" not in sv.text
    assert "color: #000000" in sv.text  # dark text on a light brand colour
    en = await client.get(url, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in en.text
    assert "Save my choices" in en.text
    assert 'lang="en"' in (await client.get(url + "?lang=en", headers={"Accept-Language": "sv"})).text
    # Keep events, drop the newsletter.
    saved = await save(client, url, {"purpose": ["events"], "action": "save", "lang": "en"})
    assert saved.status_code == 200
    assert "Your choices are saved." in saved.text
    assert not await allowed(client, tenant, "page@example.se", "newsletter")
    assert await allowed(client, tenant, "page@example.se", "events")
    async with ctx.pool.acquire() as conn:
        sources = await conn.fetch(
            "SELECT type, purpose FROM events WHERE tenant_id = $1 AND source = 'preference_center'", tenant.id
        )
    assert sorted((r["type"], r["purpose"]) for r in sources) == [
        ("consent_withdrawn", "newsletter"),
        ("objection", "newsletter"),
    ]


async def test_resubscribe_is_a_consent_and_lifts_only_unsubscribe_entries(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    await setup(client, tenant, "re@example.se")
    url = path_of((await link(client, tenant, "re@example.se"))["url"])
    ok(await client.post(url, data={"List-Unsubscribe": "One-Click"}))  # out of everything
    back = await save(client, url, {"purpose": ["newsletter"], "action": "save"})
    assert back.status_code == 200
    assert await allowed(client, tenant, "re@example.se", "newsletter")
    assert not await allowed(client, tenant, "re@example.se", "events")  # still out
    async with ctx.pool.acquire() as conn:
        consent = await conn.fetchrow(
            "SELECT proof FROM events WHERE tenant_id = $1 AND type = 'consent_given' AND source = 'preference_center'",
            tenant.id,
        )
        active = await conn.fetch(
            "SELECT scope, reason FROM suppressions WHERE tenant_id = $1 AND lifted_at IS NULL", tenant.id
        )
    assert consent["proof"]["notice_version"] == "2026-03"
    assert [(r["scope"], r["reason"]) for r in active] == [("events", "unsubscribe")]
    # A complaint is never lifted by the page.
    ok(
        await client.post(
            "/v1/suppressions",
            json={"email": "re@example.se", "reason": "complaint", "scope": "events"},
            headers=tenant.auth("record"),
        )
    )
    page = await save(client, url, {"purpose": ["newsletter", "events"], "action": "save"})
    assert page.status_code == 200
    assert not await allowed(client, tenant, "re@example.se", "events")
    async with ctx.pool.acquire() as conn:
        complaint = await conn.fetchval(
            "SELECT count(*) FROM suppressions WHERE tenant_id = $1 AND reason = 'complaint' AND lifted_at IS NULL",
            tenant.id,
        )
    assert complaint == 1


async def test_mailto_unsubscribe_by_address(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "mail@example.se")
    response = await client.post("/v1/unsubscribes", json={"email": "Mail@Example.se"}, headers=tenant.auth("record"))
    assert response.json() == {"unsubscribed": True, "already": False}
    assert not await allowed(client, tenant, "mail@example.se", "newsletter")
    again = await client.post("/v1/unsubscribes", json={"email": "mail@example.se"}, headers=tenant.auth("record"))
    assert again.json() == {"unsubscribed": True, "already": True}


async def test_branding_validation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for body, field in [
        ({"primary_color": "red"}, "primary_color"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url"),
        ({"unsubscribe_mailto": "nope"}, "unsubscribe_mailto"),
    ]:
        response = await client.put("/v1/branding", json=body, headers=tenant.auth())
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("path", "method", "language", "said"),
    [
        ("/u/x8Jq-mangled", "GET", "sv-SE,sv;q=0.9", "Länken fungerar inte"),
        ("/u/x8Jq-mangled?lang=en", "GET", "sv", "This link does not work"),
        ("/u/x8Jq-mangled", "POST", "en-GB", "This link does not work"),
        ("/u/x8Jq-mangled/preferences", "POST", "de", "Länken fungerar inte"),
    ],
)
async def test_a_mangled_link_shows_a_page_in_the_persons_language(
    client: httpx.AsyncClient, path: str, method: str, language: str, said: str
) -> None:
    response = await client.request(method, path, headers={"Accept-Language": language})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{said}</h1>" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_branding_patch_changes_only_the_fields_given(client: httpx.AsyncClient, tenant: Tenant) -> None:
    auth = tenant.auth()
    ok(await client.put("/v1/branding", json={
        "display_name": "Acme", "unsubscribe_mailto": "avregistrera@example.se", "primary_color": "#112233",
    }, headers=auth))  # fmt: skip
    patched = ok(await client.patch("/v1/branding", json={"primary_color": "#AABBCC", "logo_url": None}, headers=auth))
    assert patched.json() == {
        "display_name": "Acme", "logo_url": None, "primary_color": "#aabbcc", "privacy_policy_url": None,
        "unsubscribe_mailto": "avregistrera@example.se",
    }  # fmt: skip
    cleared = ok(await client.patch("/v1/branding", json={"unsubscribe_mailto": None}, headers=auth)).json()
    assert (cleared["unsubscribe_mailto"], cleared["display_name"]) == (None, "Acme")
    for field, bad_value in [("primary_color", "red"), ("unsubscribe_mailto", "a?cc=x@y.se")]:
        bad = await client.patch("/v1/branding", json={field: bad_value}, headers=auth)
        assert bad.status_code == 400, field
        assert bad.json()["errors"][0]["field"] == field
    unknown = await client.patch("/v1/branding", json={"colour": "#000000"}, headers=auth)
    assert unknown.status_code == 400
    assert (await client.get("/v1/branding", headers=auth)).json() == cleared  # nothing half-written


async def test_public_pages_are_limited_but_a_well_formed_one_click_never_is(
    still_client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    client = still_client
    await setup(client, tenant, "limits@example.se")
    url = path_of((await link(client, tenant, "limits@example.se", "newsletter"))["url"])
    # Links that do not verify, from one address: 60, then 429 with Retry-After.
    statuses = [(await client.get(f"/u/not-a-token-{i}")).status_code for i in range(60)]
    assert set(statuses) == {404}
    refused = await client.get("/u/not-a-token-60")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"].startswith("text/html")  # a person's browser: a page
    assert "Too many attempts" in refused.text or "För många försök" in refused.text
    # The address is spent for pages, even with a good link, and for malformed one-clicks ...
    assert (await client.get(url)).status_code == 429
    assert (await client.post(url, content=b"x", headers={"content-type": "text/plain"})).status_code == 429
    # ... but a one-click unsubscribe from it still goes through and is honoured:
    # mailbox providers click from shared addresses, and a refusal could lose an unsubscribe.
    assert (await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    assert not await allowed(client, tenant, "limits@example.se", "newsletter")
    # Repeats are never refused either: each finds the work done and writes nothing.
    repeats = [(await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code for _ in range(20)]
    assert repeats == [200] * 20
    async with ctx.pool.acquire() as conn:
        written = await conn.fetchval(
            "SELECT count(*) FROM events WHERE tenant_id = $1 AND source = 'unsubscribe'", tenant.id
        )
    assert written == 2  # one consent_withdrawn and one objection, from the first click


async def test_malformed_posts_never_use_up_a_link_s_one_click(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "spent@example.se")
    url = path_of((await link(client, tenant, "spent@example.se", "newsletter"))["url"])
    for _ in range(5):
        assert (await client.post(url, content=b"x", headers={"content-type": "text/plain"})).status_code == 415
    for _ in range(3):
        assert (await client.post(url, data={"List-Unsubscribe": "Yes"})).status_code == 400
    click = await client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert click.status_code == 200, click.text
    answer = (
        await client.get(
            "/v1/decisions",
            params={"purpose": "newsletter", "channel": "email", "email": "spent@example.se"},
            headers=tenant.auth("check"),
        )
    ).json()
    assert (answer["allowed"], answer["reason"]) == (False, "suppressed")


async def test_a_cross_origin_post_cannot_resubscribe_anyone(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    email = "csrf@example.se"
    await setup(client, tenant, email)
    url = path_of((await link(client, tenant, email))["url"])
    assert (await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    page = await client.get(url)
    back_in = {"purpose": ["newsletter", "events"], "action": "save", "nonce": nonce_of(page.text)}
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ):
        refused = await client.post(f"{url}/preferences", data=back_in, headers=headers)
        assert refused.status_code == 403, (headers, refused.status_code, refused.text)
        assert refused.headers["content-type"].startswith("text/html")
        assert "nothing was changed" in refused.text or "inget har ändrats" in refused.text
    assert not await allowed(client, tenant, email, "newsletter")
    assert not await allowed(client, tenant, email, "events")
    async with ctx.pool.acquire() as conn:
        written = await conn.fetchval(
            "SELECT count(*) FROM events WHERE tenant_id = $1 AND source = 'preference_center'", tenant.id
        )
    assert written == 0
    # A browser whose privacy settings blank the Origin still says same-origin in Sec-Fetch-Site.
    blank_origin = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    blank = await client.post(f"{url}/preferences", data=back_in, headers=blank_origin)
    assert blank.status_code == 200
    assert await allowed(client, tenant, email, "newsletter")


def _flipped(nonce: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


async def test_without_a_genuine_nonce_the_page_changes_nothing(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    email = "nonce@example.se"
    await setup(client, tenant, email)
    url = path_of((await link(client, tenant, email))["url"])
    assert (await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    nonce = nonce_of((await client.get(url)).text)
    assert nonce
    another_link = path_of((await link(client, tenant, "someone-else@example.se"))["url"])
    nonce_of_another_link = nonce_of((await client.get(another_link)).text)
    for bad in (None, "", "x", _flipped(nonce), nonce[:-3], nonce_of_another_link):
        data = {"purpose": ["newsletter"], "action": "save", "lang": "en"} | ({} if bad is None else {"nonce": bad})
        response = await client.post(f"{url}/preferences", data=data, headers=SAME_ORIGIN)
        assert response.status_code == 400, (bad, response.status_code)
        # The page comes back with a fresh form, so a person can simply send it again.
        assert "could not be checked" in response.text
        assert nonce_of(response.text)
    assert not await allowed(client, tenant, email, "newsletter")
    # A client that sends neither Origin nor Sec-Fetch-Site (curl) needs the nonce, and may use it.
    ok = await client.post(f"{url}/preferences", data={"purpose": ["newsletter"], "action": "save", "nonce": nonce})
    assert ok.status_code == 200
    assert await allowed(client, tenant, email, "newsletter")


@pytest.fixture
async def earlier_client(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """The same service with its clock 61 minutes behind: the pages it serves carry nonces that are stale now."""
    earlier = dataclasses.replace(ctx, clock=lambda: utcnow() - timedelta(minutes=61))
    transport = httpx.ASGITransport(app=create_app(earlier))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_a_stale_page_keeps_the_opt_outs_and_asks_again_before_resubscribing(
    client: httpx.AsyncClient, earlier_client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    email = "stale@example.se"
    await setup(client, tenant, email)
    events_link = path_of((await link(client, tenant, email, "events"))["url"])
    assert (await client.post(events_link, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    url = path_of((await link(client, tenant, email))["url"])
    stale = nonce_of((await earlier_client.get(url)).text)
    # An hour later, the person leaves the newsletter and turns events back on.
    choice = {"purpose": ["events"], "action": "save", "lang": "sv", "nonce": stale}
    response = await client.post(f"{url}/preferences", data=choice, headers=SAME_ORIGIN)
    assert response.status_code == 200, response.text
    assert "Sidan hade varit öppen länge" in response.text  # in the person's language
    assert not await allowed(client, tenant, email, "newsletter")  # the opt-out is never lost
    assert not await allowed(client, tenant, email, "events")  # the re-subscribe waits for a fresh submit
    assert re.search(r'value="events"\s+checked', response.text)  # the person's choice is kept on the page
    fresh = nonce_of(response.text)
    assert fresh
    assert fresh != stale
    again = await client.post(f"{url}/preferences", data={**choice, "nonce": fresh}, headers=SAME_ORIGIN)
    assert again.status_code == 200
    assert "Dina val är sparade." in again.text
    assert await allowed(client, tenant, email, "events")
    assert not await allowed(client, tenant, email, "newsletter")
    async with ctx.pool.acquire() as conn:
        proofs = await conn.fetch(
            "SELECT type, purpose, proof FROM events WHERE tenant_id = $1 "
            "AND source = 'preference_center' ORDER BY recorded_at",
            tenant.id,
        )
    assert [(p["type"], p["purpose"]) for p in proofs] == [
        ("consent_withdrawn", "newsletter"),
        ("objection", "newsletter"),
        ("consent_given", "events"),
    ]
    # The ASGI test client connects from 127.0.0.1: the proof keeps its /24, never the address.
    assert {p["proof"]["ip"] for p in proofs} == {"127.0.0.0/24"}


async def test_the_pages_carry_a_content_security_policy(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "csp@example.se")
    url = path_of((await link(client, tenant, "csp@example.se"))["url"])
    expected = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'; frame-ancestors 'none'"
    )
    for response in (
        await client.get(url),
        await save(client, url, {"purpose": ["newsletter"], "action": "save"}),
        await client.post(url, data={"List-Unsubscribe": "One-Click"}),
    ):
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == expected
        assert response.headers["referrer-policy"] == "same-origin"


async def test_branding_mailto_is_one_plain_address(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for bad in (
        "a?cc=attacker@evil.example",
        "a&cc=x@example.se",
        "a%40b@example.se",
        "a,b@example.se",
        "<a@example.se>",
        "a b@example.se",
        "a@example.se>",
        "a\tb@example.se",
    ):
        response = await client.put("/v1/branding", json={"unsubscribe_mailto": bad}, headers=tenant.auth())
        assert response.status_code == 400, bad
        assert response.json()["errors"][0]["field"] == "unsubscribe_mailto"
    assert (await client.get("/v1/branding", headers=tenant.auth())).json()["unsubscribe_mailto"] is None


def _mailto_of(headers: dict[str, str]) -> str:
    [mailto] = [t.strip().strip("<>") for t in headers["List-Unsubscribe"].split(", ") if "mailto:" in t]
    return mailto


async def test_list_unsubscribe_mailto_is_percent_encoded(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    address = "list=off/x#y@example.se"  # legal in an address, but '=', '/' and '#' mean something in a URI
    put = await client.put("/v1/branding", json={"unsubscribe_mailto": address}, headers=tenant.auth())
    assert put.status_code == 200, put.text
    out = await link(client, tenant, "enc@example.se")
    token = out["url"].rsplit("/", 1)[1]
    mailto = _mailto_of(out["headers"])
    assert mailto == f"mailto:list%3Doff%2Fx%23y@example.se?subject=unsubscribe%20{token}"
    parts = urlsplit(mailto)
    assert unquote(parts.path) == address
    assert parse_qs(parts.query) == {"subject": [f"unsubscribe {token}"]}
    # A value stored before the check existed still makes one recipient and no other header field.
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE tenants SET unsubscribe_mailto = $2 WHERE id = $1", tenant.id, "a?cc=attacker@evil.example"
        )
    parts = urlsplit(_mailto_of((await link(client, tenant, "enc@example.se"))["headers"]))
    assert parts.path == "a%3Fcc%3Dattacker@evil.example"
    assert set(parse_qs(parts.query)) == {"subject"}


async def test_links_warn_when_the_public_url_is_not_https(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "https@example.se")
    out = await link(client, tenant, "https@example.se")
    assert out["url"].startswith("http://")
    assert any("https" in w for w in out["warnings"])
    assert unsubscribe.public_url_warnings("https://consent.example.se") == []
    with capture_logs() as logs:
        unsubscribe.warn_if_public_url_not_https("http://consent.example.se")
        unsubscribe.warn_if_public_url_not_https("https://consent.example.se")
    assert [(e["log_level"], e["event"]) for e in logs] == [("warning", "public_url_not_https")]


async def test_an_https_public_url_gives_links_without_warnings(ctx: Context, tenant: Tenant) -> None:
    settings = dataclasses.replace(ctx.settings, public_url="https://consent.example.se")
    app = create_app(dataclasses.replace(ctx, settings=settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        response = await http.post(
            "/v1/unsubscribe-links", json={"email": "tls@example.se"}, headers=tenant.auth("record")
        )
    assert response.status_code == 201
    assert response.json()["url"].startswith("https://consent.example.se/u/")
    assert response.json()["warnings"] == []
