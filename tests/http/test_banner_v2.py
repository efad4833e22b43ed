"""Banner v2 over HTTP (issue 18): dismiss is never consent, receipts prove what was shown, the
first layer's texts per language, choice statistics, and unlinked receipts leaving with the sweep."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from consent_svc.domain import banner as banner_texts
from consent_svc.http.banner import BANNER_JS
from consent_svc.service import retention
from consent_svc.service.context import Context
from tests.conftest import Tenant, ok
from tests.http.test_banner import ORIGIN, SITE, choice, site, text


def post_choice(client: httpx.AsyncClient, key: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/v1/banner/{key}/consents", json=body, headers={"Origin": ORIGIN, **headers})


async def test_dismiss_with_categories_true_is_stored_as_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    dismissed = ok(await post_choice(client, key, choice("dismiss", analytics=True, marketing=True))).json()
    assert dismissed["action"] == "dismiss"
    assert dismissed["categories"] == {"necessary": True, "analytics": False, "marketing": False}


async def test_receipt_names_the_shown_texts_and_a_stale_version_is_refused(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    key = (await site(client, tenant))["site_key"]
    receipt = ok(await post_choice(client, key, choice("accept_all"))).json()
    assert receipt["origin"] == ORIGIN
    version = ok(await client.get(f"/v1/sites/{key}/versions/1", headers=tenant.auth())).json()
    sv = version["shown"]["sv"]
    assert sv["controller"] == "Exempel AB"
    assert sv["policy_url"] == "https://www.example.se/integritet"
    assert [c["key"] for c in sv["categories"]] == ["necessary", "analytics", "marketing"]
    # The hash is the SHA-256 of the language's document as canonical JSON: anyone can check it.
    canonical = json.dumps(sv, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert receipt["texts_hash"] == version["texts_hash"]["sv"] == hashlib.sha256(canonical).hexdigest()

    changed = {**SITE, "texts": {"sv": {"title": "Cookies på Exempel"}}}
    assert ok(await client.put(f"/v1/sites/{key}", json=changed, headers=tenant.auth())).json()["banner_version"] == 2
    stale = await post_choice(client, key, choice("accept_all"))
    assert stale.status_code == 409
    assert "version shown now (2)" in stale.json()["detail"]
    # Version 1 is kept as it was; version 2 has the new title.
    assert ok(await client.get(f"/v1/sites/{key}/versions/1", headers=tenant.auth())).json() == version
    v2 = ok(await client.get(f"/v1/sites/{key}/versions/2", headers=tenant.auth())).json()
    assert v2["shown"]["sv"]["texts"]["title"] == "Cookies på Exempel"
    assert (await client.get(f"/v1/sites/{key}/versions/3", headers=tenant.auth())).status_code == 404
    async with ctx.pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await conn.execute("UPDATE banner_versions SET shown = '{}' WHERE site_key = $1", key)
    # The same configuration again is the same version.
    assert ok(await client.put(f"/v1/sites/{key}", json=changed, headers=tenant.auth())).json()["banner_version"] == 2


async def test_first_layer_texts_come_from_the_site(client: httpx.AsyncClient, tenant: Tenant) -> None:
    categories = [
        {**SITE["categories"][0], "third_parties": ["Google Ireland Ltd"], "lifetime": text("13 månader", "13 months"),
         "cookies": ["_ga*", "_gid"]},
        SITE["categories"][1],
    ]  # fmt: skip
    created = ok(await client.post("/v1/sites", json={**SITE, "categories": categories}, headers=tenant.auth())).json()
    assert created["policy_url"] == "https://www.example.se/integritet"
    config = ok(await client.get(f"/v1/banner/{created['site_key']}/config")).json()
    assert config["policy_url"] == "https://www.example.se/integritet"
    assert (config["languages"], config["default_language"]) == (["sv", "en"], "sv")
    sv = config["texts"]["sv"]
    assert sv["controller"] == "Personuppgiftsansvarig: Exempel AB."
    assert "Statistik, Marknadsföring" in sv["purposes"]
    assert "när som helst" in sv["withdraw"]
    assert config["texts"]["en"]["consent_id"] == "Your consent id:"
    analytics = config["categories"][1]
    assert analytics["third_parties"] == ["Google Ireland Ltd"]
    assert analytics["lifetime"] == {"sv": "13 månader", "en": "13 months"}
    assert analytics["cookies"] == ["_ga*", "_gid"]
    assert config["reopen"] == {"position": "bottom-left", "own_link": False}
    assert config["google_consent_mode"] is None
    missing = {k: v for k, v in SITE.items() if k != "policy_url"}
    refused = await client.post("/v1/sites", json=missing, headers=tenant.auth())
    assert refused.status_code == 400
    assert "policy_url" in refused.text


async def test_languages_beyond_sv_and_en_bring_their_texts(client: httpx.AsyncClient, tenant: Tenant) -> None:
    three = {**SITE, "languages": ["sv", "en", "de"], "default_language": "en"}
    refused = await client.post("/v1/sites", json=three, headers=tenant.auth())
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "categories[0].title"
    de_categories = [
        {"key": "necessary", "title": {"sv": "N", "en": "N", "de": "Notwendig"},
         "description": {"sv": "N", "en": "N", "de": "Notwendig."}},
        {**SITE["categories"][0], "title": {"sv": "S", "en": "A", "de": "Statistik"},
         "description": {"sv": "S", "en": "A", "de": "Statistik."}},
    ]  # fmt: skip
    no_texts = await client.post("/v1/sites", json={**three, "categories": de_categories}, headers=tenant.auth())
    assert no_texts.json()["errors"][0]["field"] == "texts.de"
    de_texts = {k: f"de {k}" for k in ("title", "purposes", "withdraw", "controller", "policy", "accept", "reject",
                                       "settings", "save", "legend", "gpc", "consent_id", "third_parties",
                                       "lifetime", "reopen", "offline", "failed", "placeholder",
                                       "placeholder_button")}  # fmt: skip
    created = ok(
        await client.post(
            "/v1/sites", json={**three, "categories": de_categories, "texts": {"de": de_texts}}, headers=tenant.auth()
        )
    ).json()
    config = ok(await client.get(f"/v1/banner/{created['site_key']}/config")).json()
    assert config["default_language"] == "en"
    assert config["texts"]["de"]["accept"] == "de accept"
    german = {**choice("reject_all"), "language": "de"}
    assert ok(await post_choice(client, created["site_key"], german)).json()["language"] == "de"
    finnish = await post_choice(client, created["site_key"], {**german, "language": "fi"})
    assert finnish.status_code == 400
    assert finnish.json()["errors"][0]["field"] == "language"


async def test_google_consent_mode_options(client: httpx.AsyncClient, tenant: Tenant) -> None:
    gcm = {**SITE, "google_consent_mode": {"enabled": True, "region": ["SE"]}, "meta_pixel": True}
    created = ok(await client.post("/v1/sites", json=gcm, headers=tenant.auth())).json()
    config = ok(await client.get(f"/v1/banner/{created['site_key']}/config")).json()
    assert config["google_consent_mode"] == {
        "enabled": True, "region": ["SE"], "wait_for_update": 500,
        "mapping": {"necessary": ["security_storage"], "analytics": ["analytics_storage"],
                    "marketing": ["ad_storage", "ad_user_data", "ad_personalization"]},
    }  # fmt: skip
    assert config["meta_pixel"] is True
    script = ok(await client.get(f"/v1/banner/{created['site_key']}/banner.js"))
    assert script.text.startswith("window.consentSvcConfig={")
    assert created["site_key"] in script.text.split(";\n", 1)[0]
    wrong = {**SITE, "google_consent_mode": {"mapping": {"tracking": ["ad_storage"]}}}
    refused = await client.post("/v1/sites", json=wrong, headers=tenant.auth())
    assert refused.json()["errors"][0]["field"] == "google_consent_mode.mapping"


async def test_stats_count_the_choices(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    for body in [choice("accept_all"), choice("accept_all"), choice("reject_all"), choice("save", analytics=True),
                 choice("dismiss", marketing=True)]:  # fmt: skip
        ok(await post_choice(client, key, body))
    ok(await post_choice(client, key, choice("accept_all"), **{"Sec-GPC": "1"}))
    today = datetime.now(UTC).date()
    params = {"from": str(today - timedelta(days=89)), "to": str(today)}
    [item] = ok(await client.get(f"/v1/sites/{key}/stats", params=params, headers=tenant.auth())).json()["items"]
    assert item == {
        "period": str(today), "banner_version": 1, "total": 6, "accept_all": 3, "reject_all": 1, "custom": 1,
        "dismiss": 1, "gpc": 1, "by_category": {"necessary": 6, "analytics": 4, "marketing": 2},
    }  # fmt: skip
    weekly = ok(
        await client.get(f"/v1/sites/{key}/stats", params={**params, "interval": "week"}, headers=tenant.auth())
    ).json()["items"]
    assert weekly[0]["period"] == str(today - timedelta(days=today.weekday()))
    assert weekly[0]["total"] == 6
    # A new version counts apart.
    ok(await client.put(f"/v1/sites/{key}", json={**SITE, "texts": {"en": {"accept": "OK"}}}, headers=tenant.auth()))
    ok(await post_choice(client, key, {**choice("reject_all"), "banner_version": 2}))
    first = ok(await client.get(f"/v1/sites/{key}/stats", params={**params, "limit": 1}, headers=tenant.auth())).json()
    assert [i["banner_version"] for i in first["items"]] == [1]
    rest = ok(
        await client.get(
            f"/v1/sites/{key}/stats", params={**params, "cursor": first["next_cursor"]}, headers=tenant.auth()
        )
    ).json()
    assert [(i["banner_version"], i["reject_all"]) for i in rest["items"]] == [(2, 1)]
    assert rest["next_cursor"] is None
    backwards = await client.get(
        f"/v1/sites/{key}/stats", params={"from": str(today), "to": str(today - timedelta(days=1))},
        headers=tenant.auth(),
    )  # fmt: skip
    assert backwards.status_code == 400
    assert backwards.json()["errors"][0]["field"] == "to"
    missing = await client.get(f"/v1/sites/{key}/stats", params={"to": str(today)}, headers=tenant.auth())
    assert missing.status_code == 400
    assert "from" in missing.text


async def test_sweep_deletes_unlinked_receipts_after_their_expiry(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant
) -> None:
    key = (await site(client, tenant))["site_key"]
    unlinked = ok(await post_choice(client, key, choice("accept_all"))).json()
    linked = ok(await post_choice(client, key, choice("reject_all"))).json()
    ok(
        await client.post(
            f"/v1/sites/{key}/consents/{linked['consent_id']}/subject",
            json={"subject": {"email": "kvar@example.se"}}, headers=tenant.auth("record"),
        )
    )  # fmt: skip
    expires = datetime.fromisoformat(unlinked["expires_at"])
    keep = timedelta(days=ctx.settings.banner_receipt_retention_days)
    early = dataclasses.replace(ctx, clock=lambda: expires + keep - timedelta(days=1))
    assert "banner_receipts/expired" not in (await retention.sweep_tenant(early, tenant.id, tenant.name,
                                                                           dry_run=False)).counts  # fmt: skip
    later = dataclasses.replace(ctx, clock=lambda: expires + keep + timedelta(days=1))
    dry = await retention.sweep_tenant(later, tenant.id, tenant.name, dry_run=True)
    assert dry.counts["banner_receipts/expired"] == 1
    assert (await client.get(f"/v1/banner/{key}/consents/{unlinked['consent_id']}")).status_code == 200
    real = await retention.sweep_tenant(later, tenant.id, tenant.name, dry_run=False)
    assert real.counts["banner_receipts/expired"] == 1
    assert (await client.get(f"/v1/banner/{key}/consents/{unlinked['consent_id']}")).status_code == 404
    assert (await client.get(f"/v1/banner/{key}/consents/{linked['consent_id']}")).status_code == 200
    runs = ok(await client.get("/v1/retention/runs", headers=tenant.auth())).json()["items"]
    assert runs[0]["counts"]["banner_receipts/expired"] == 1
    # The statistics keep counting what was chosen.
    today = datetime.now(UTC).date()
    span = {"from": str(today - timedelta(days=1)), "to": str(today)}
    stats = ok(await client.get(f"/v1/sites/{key}/stats", params=span, headers=tenant.auth())).json()
    assert sum(i["total"] for i in stats["items"]) == 2


def test_banner_js_stays_small_and_self_contained() -> None:
    source = BANNER_JS.read_bytes()
    assert len(gzip.compress(source, 9)) < 6 * 1024
    assert not re.search(rb"\bimport\b|\brequire\(|https?://(?!consent\.example)", source)  # no dependencies


async def test_a_stale_choice_is_a_409_that_banner_js_can_read(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    ok(await client.put(f"/v1/sites/{key}", json={**SITE, "controller": "Nytt AB"}, headers=tenant.auth()))
    stale = await post_choice(client, key, choice("reject_all"))
    assert stale.status_code == 409
    assert stale.headers["access-control-allow-origin"] == ORIGIN


async def test_a_reworded_default_changes_no_saved_site(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = (await site(client, tenant))["site_key"]
    before = ok(await client.get(f"/v1/banner/{key}/config")).json()
    monkeypatch.setitem(banner_texts.DEFAULT_TEXTS["sv"], "title", "En ny standardtitel")
    after = ok(await client.get(f"/v1/banner/{key}/config")).json()
    assert after["texts"]["sv"]["title"] == "Vi värnar om din integritet"
    assert after["texts_hash"] == before["texts_hash"]
    # Saved again, the site takes the new default, as a new version.
    saved = ok(await client.put(f"/v1/sites/{key}", json=SITE, headers=tenant.auth())).json()
    assert (saved["banner_version"], saved["texts"]["sv"]["title"]) == (2, "En ny standardtitel")


async def test_necessary_may_grant_no_consent_mode_signal_but_security_storage(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """'necessary' is always on: a signal mapped to it would be granted before any choice."""
    wrong = {**SITE, "google_consent_mode": {"mapping": {"necessary": ["security_storage", "ad_storage"]}}}
    refused = await client.post("/v1/sites", json=wrong, headers=tenant.auth())
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["field"] == "google_consent_mode.mapping.necessary"
    assert "ad_storage would be granted without consent" in error["message"]


async def test_kept_versions_cannot_be_deleted(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    key = (await site(client, tenant))["site_key"]
    ok(await post_choice(client, key, choice("reject_all")))
    async with ctx.pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await conn.execute("DELETE FROM banner_versions WHERE site_key = $1", key)
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            async with conn.transaction():
                await conn.execute("TRUNCATE banner_versions CASCADE")


async def test_a_site_from_before_versions_gets_a_new_one_when_its_defaults_are_reworded(
    client: httpx.AsyncClient, ctx: Context, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site saved before migration 0014 has no texts of its own: it shows the release's defaults.
    When a release rewords one, its kept version no longer proves what is shown: the next choice
    makes a new version and is asked again (409), so every receipt names the texts it was given."""
    key = (await site(client, tenant))["site_key"]
    async with ctx.pool.acquire() as conn, conn.transaction():  # as such a site looks after the migration
        await conn.execute("UPDATE sites SET options = '{}' WHERE site_key = $1", key)
        await conn.execute("ALTER TABLE banner_versions DISABLE TRIGGER banner_versions_no_update")
        await conn.execute("DELETE FROM banner_versions WHERE site_key = $1", key)
        await conn.execute("ALTER TABLE banner_versions ENABLE TRIGGER banner_versions_no_update")
    first = ok(await post_choice(client, key, choice("accept_all"))).json()
    monkeypatch.setitem(banner_texts.DEFAULT_TEXTS["sv"], "title", "En ny standardtitel")
    asked_again = await post_choice(client, key, choice("accept_all"))
    assert asked_again.status_code == 409
    assert "have changed since it was kept" in asked_again.json()["detail"]
    config = ok(await client.get(f"/v1/banner/{key}/config")).json()
    assert (config["banner_version"], config["texts"]["sv"]["title"]) == (2, "En ny standardtitel")
    second = ok(await post_choice(client, key, {**choice("accept_all"), "banner_version": 2})).json()
    assert second["texts_hash"] == config["texts_hash"]["sv"] != first["texts_hash"]
    v1 = ok(await client.get(f"/v1/sites/{key}/versions/1", headers=tenant.auth())).json()
    assert v1["texts_hash"]["sv"] == first["texts_hash"]  # version 1 still proves what it showed


async def test_the_per_site_script_keeps_configuration_text_inert(client: httpx.AsyncClient, tenant: Tenant) -> None:
    texts = {"sv": {"title": "</script><script>alert(1)</script><!-- \u2028"}}
    created = ok(await client.post("/v1/sites", json={**SITE, "texts": texts}, headers=tenant.auth())).json()
    script = ok(await client.get(f"/v1/banner/{created['site_key']}/banner.js")).content
    preset = script.split(b";\n", 1)[0]
    assert b"<" not in preset
    assert b">" not in preset
    assert "\u2028".encode() not in preset
    decoded = json.loads(preset.removeprefix(b"window.consentSvcConfig="))
    assert decoded["texts"]["sv"]["title"] == texts["sv"]["title"]  # the same text, only escaped
