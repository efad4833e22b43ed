"""Unsubscribe links and the preference center over HTTP, as mail clients and people use them."""

from __future__ import annotations

import base64

import httpx
import pytest

from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, make_tenant

EVENTS = {**NEWSLETTER, "title": {"sv": "Evenemang", "en": "Events"},
          "description": {"sv": "Inbjudningar till seminarier.", "en": "Invitations to seminars."}}  # fmt: skip


async def setup(client: httpx.AsyncClient, tenant: Tenant, email: str) -> None:
    for key, body in (("newsletter", NEWSLETTER), ("events", EVENTS)):
        assert (await client.put(f"/v1/purposes/{key}", json=body, headers=tenant.auth())).status_code in (200, 201)
        consent = {"subject": {"email": email}, "type": "consent_given", "purpose": key,
                   "proof": {"notice_version": "2026-03"}}  # fmt: skip
        assert (await client.post("/v1/events", json=consent, headers=tenant.auth())).status_code == 201


async def link(client: httpx.AsyncClient, tenant: Tenant, email: str, purpose: str | None = None) -> dict:
    body = {"email": email} | ({"purpose": purpose} if purpose else {})
    response = await client.post("/v1/unsubscribe-links", json=body, headers=tenant.auth("record"))
    assert response.status_code == 201, response.text
    return response.json()


async def allowed(client: httpx.AsyncClient, tenant: Tenant, email: str, purpose: str) -> bool:
    params = {"purpose": purpose, "channel": "email", "email": email}
    return bool((await client.get("/v1/decisions", params=params, headers=tenant.auth("check"))).json()["allowed"])


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver")


async def test_link_and_headers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "h@example.se")
    out = await link(client, tenant, "h@example.se")
    assert out["url"].startswith("http://testserver/u/")
    assert out["headers"]["List-Unsubscribe"] == f"<{out['url']}>"
    assert out["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "h@example.se" not in out["url"]
    await client.put("/v1/branding", json={"unsubscribe_mailto": "Avregistrera@Example.se"}, headers=tenant.auth())
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
    kwargs = {"data": {"List-Unsubscribe": "One-Click"}}
    if encoding == "multipart":
        kwargs["files"] = {"unused": ("", b"")}  # forces multipart/form-data
    first = await client.post(url, **kwargs)
    assert first.status_code == 200, first.text
    assert "set-cookie" not in first.headers and "location" not in first.headers
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
    await client.put("/v1/branding", json={"display_name": "Exempel AB <script>", "primary_color": "#FFD700",
                     "privacy_policy_url": "https://example.se/integritet"}, headers=tenant.auth())  # fmt: skip
    url = path_of((await link(client, tenant, "page@example.se"))["url"])
    sv = await client.get(url, headers={"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"})
    assert sv.status_code == 200 and sv.headers["content-type"].startswith("text/html")
    assert 'lang="sv"' in sv.text and "Spara mina val" in sv.text and "Nyhetsbrev" in sv.text
    assert "Exempel AB &lt;script&gt;" in sv.text and "<script>" not in sv.text
    assert "color: #000000" in sv.text  # dark text on a light brand colour
    en = await client.get(url, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in en.text and "Save my choices" in en.text
    assert 'lang="en"' in (await client.get(url + "?lang=en", headers={"Accept-Language": "sv"})).text
    # Keep events, drop the newsletter.
    saved = await client.post(f"{url}/preferences", data={"purpose": ["events"], "action": "save", "lang": "en"})
    assert saved.status_code == 200 and "Your choices are saved." in saved.text
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
    await client.post(url, data={"List-Unsubscribe": "One-Click"})  # out of everything
    back = await client.post(f"{url}/preferences", data={"purpose": ["newsletter"], "action": "save"})
    assert back.status_code == 200
    assert await allowed(client, tenant, "re@example.se", "newsletter")
    assert not await allowed(client, tenant, "re@example.se", "events")  # still out
    async with ctx.pool.acquire() as conn:
        consent = await conn.fetchrow("SELECT proof FROM events WHERE tenant_id = $1 AND type = 'consent_given' "
                                      "AND source = 'preference_center'", tenant.id)  # fmt: skip
        active = await conn.fetch(
            "SELECT scope, reason FROM suppressions WHERE tenant_id = $1 AND lifted_at IS NULL", tenant.id
        )
    assert consent["proof"]["notice_version"] == "2026-03"
    assert [(r["scope"], r["reason"]) for r in active] == [("events", "unsubscribe")]
    # A complaint is never lifted by the page.
    await client.post("/v1/suppressions", json={"email": "re@example.se", "reason": "complaint", "scope": "events"},
                      headers=tenant.auth("record"))  # fmt: skip
    page = await client.post(f"{url}/preferences", data={"purpose": ["newsletter", "events"], "action": "save"})
    assert page.status_code == 200
    assert not await allowed(client, tenant, "re@example.se", "events")
    async with ctx.pool.acquire() as conn:
        complaint = await conn.fetchval("SELECT count(*) FROM suppressions WHERE tenant_id = $1 AND reason = 'complaint' "
                                        "AND lifted_at IS NULL", tenant.id)  # fmt: skip
    assert complaint == 1


async def test_mailto_unsubscribe_by_address(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "mail@example.se")
    response = await client.post("/v1/unsubscribes", json={"email": "Mail@Example.se"}, headers=tenant.auth("record"))
    assert response.json() == {"unsubscribed": True, "already": False}
    assert not await allowed(client, tenant, "mail@example.se", "newsletter")
    again = await client.post("/v1/unsubscribes", json={"email": "mail@example.se"}, headers=tenant.auth("record"))
    assert again.json() == {"unsubscribed": True, "already": True}


async def test_branding_validation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for body, field in [({"primary_color": "red"}, "primary_color"), ({"logo_url": "javascript:alert(1)"}, "logo_url"),
                        ({"unsubscribe_mailto": "nope"}, "unsubscribe_mailto")]:  # fmt: skip
        response = await client.put("/v1/branding", json=body, headers=tenant.auth())
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field


async def test_public_pages_are_limited_but_a_first_one_click_never_is(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await setup(client, tenant, "limits@example.se")
    url = path_of((await link(client, tenant, "limits@example.se", "newsletter"))["url"])
    # Links that do not verify, from one address: 60, then 429 with Retry-After.
    statuses = [(await client.get(f"/u/not-a-token-{i}")).status_code for i in range(60)]
    assert set(statuses) == {404}
    refused = await client.get("/u/not-a-token-60")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"].startswith("application/problem+json")
    # The address is spent for pages, even with a good link ...
    assert (await client.get(url)).status_code == 429
    # ... but a one-click unsubscribe from it still goes through and is honoured:
    # mailbox providers click from shared addresses, and a refusal could lose an unsubscribe.
    assert (await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    assert not await allowed(client, tenant, "limits@example.se", "newsletter")
    # Repeats of one link are limited; they change nothing, the first click was recorded.
    repeats = [(await client.post(url, data={"List-Unsubscribe": "One-Click"})).status_code for _ in range(5)]
    assert repeats == [200, 200, 200, 200, 429]
    assert not await allowed(client, tenant, "limits@example.se", "newsletter")
