"""Banner v2 in a real headless Chromium (issue 18): the first layer, focus and the persistent reopen
control, withdrawal deleting cookies, dismiss, stale versions, GPC over a stored choice, refusing
with the service down, languages, Google Consent Mode, blocking before consent, the Meta pixel,
no layout shift, and statistics that match the choices made."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import Tenant
from tests.e2e.browser import chromium, screenshot
from tests.e2e.server import Server
from tests.e2e.test_banner_browser import categories, ready, wait_banner

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TAGS_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Taggar</title>
<script src="{api}/v1/banner/{key}/banner.js"></script>
<script>window.dataLayer = window.dataLayer || []; function gtag() {{ dataLayer.push(arguments); }}
gtag("js", new Date()); gtag("config", "G-TEST");
window.fbq = function () {{ (window.fbqCalls = window.fbqCalls || []).push([].slice.call(arguments)); }};</script>
<script type="text/plain" data-consent-category="analytics">window.ran = (window.ran || []).concat("inline-1");</script>
<script type="text/plain" data-consent-category="analytics" src="/blocked.js"></script>
<script type="text/plain" data-consent-category="analytics">window.ran = (window.ran || []).concat("inline-2");</script>
<script type="text/plain" data-consent-category="marketing">window.ranMarketing = true;</script>
<script type="text/plain" data-consent-category="constructor">window.ranInherited = true;</script>
</head><body><h1>Taggar</h1>
<iframe data-consent-category="marketing" data-src="/video" width="320" height="180" title="Video"></iframe>
</body></html>"""

PLAIN_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Exempel</title>
<script>document.cookie = "_ga_TEST=1; Path=/"; document.cookie = "_gid=2; Path=/"; document.cookie = "keep=3; Path=/";
</script><script src="{api}/banner.js" data-site-key="{key}" defer></script></head>
<body><h1>Välkommen</h1><p><a href="#top" id="first-link">Till toppen</a></p></body></html>"""


@pytest.fixture
def pages(external_server: Server) -> Iterator[dict[str, Any]]:
    holder: dict[str, Any] = {"api": external_server.url}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            lang = parse_qs(url.query).get("lang", ["sv"])[0]
            fill = {"api": holder["api"], "key": holder.get("key", ""), "lang": lang}
            kind, body = "text/html", ""
            if url.path == "/tags":
                body = TAGS_PAGE.format(**fill)
            elif url.path == "/blocked.js":
                kind, body = "application/javascript", 'window.ran = (window.ran || []).concat("external");'
            elif url.path == "/video":
                body = "<p>video</p>"
            else:
                body = PLAIN_PAGE.format(**fill)
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    holder["origin"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield holder
    for client in holder.get("clients", []):
        client.close()
    server.shutdown()
    server.server_close()


def make_site(pages: dict[str, Any], tenant: Tenant, **extra: Any) -> tuple[httpx.Client, dict[str, Any]]:
    api = httpx.Client(base_url=pages["api"], headers=tenant.auth())
    pages.setdefault("clients", []).append(api)  # closed by the fixture
    cats = categories()
    cats[0] = {**cats[0], "third_parties": ["Google Ireland Ltd"], "lifetime": {"sv": "13 månader", "en": "13 months"},
               "cookies": ["_ga*", "_gid"]}  # fmt: skip
    site = {"name": "Exempel", "origins": [pages["origin"]], "categories": cats, "controller": "Exempel AB",
            "policy_url": pages["origin"] + "/integritet", **extra}  # fmt: skip
    created = api.post("/v1/sites", json=site)
    assert created.status_code == 201, created.text
    pages["key"] = created.json()["site_key"]
    return api, site


def receipt(pages: dict[str, Any], consent_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{pages['api']}/v1/banner/{pages['key']}/consents/{consent_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


LAYOUT_SHIFT = """var done = arguments[0], total = 0;
new PerformanceObserver(function (list) { list.getEntries().forEach(function (e) { total += e.value; }); })
  .observe({type: "layout-shift", buffered: true});
setTimeout(function () { done(total); }, 300);"""


def layout_shift(browser: Chrome) -> float:
    """The page's cumulative layout shift so far, as Chromium measures it."""
    return float(browser.execute_async_script(LAYOUT_SHIFT))


def test_the_layout_shift_measurement_sees_a_shift(pages: dict[str, Any], tenant: Tenant) -> None:
    """The measure the banner tests rely on: content pushed down the page is a shift."""
    make_site(pages, tenant)
    with chromium() as browser:
        browser.get(pages["origin"] + "/")
        wait_banner(browser, True)
        assert layout_shift(browser) == 0
        browser.execute_script(
            "var d = document.createElement('div'); d.style.height = '300px';"
            "document.body.insertBefore(d, document.body.firstChild);"
        )
        WebDriverWait(browser, 10).until(lambda b: layout_shift(b) > 0)


def active_id(browser: Chrome) -> str:
    return str(browser.execute_script("return document.activeElement.id"))


def inside_banner(browser: Chrome) -> bool:
    return bool(browser.execute_script("return !!document.activeElement.closest('#consent-svc-banner')"))


def click(browser: Chrome, css: str) -> None:
    browser.find_element(By.CSS_SELECTOR, css).click()


def choice_made(browser: Chrome) -> str:
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return window.consentSvc.consentId()"))
    return str(browser.execute_script("return window.consentSvc.consentId()"))


def test_first_layer_focus_reopen_withdrawal_and_consent_id(pages: dict[str, Any], tenant: Tenant) -> None:
    api, _ = make_site(pages, tenant, reopen={"position": "bottom-right"})
    with chromium() as browser:
        browser.get(pages["origin"] + "/")
        wait_banner(browser, True)
        banner = browser.find_element(By.ID, "consent-svc-banner")
        assert banner.get_attribute("aria-modal") == "true"
        assert active_id(browser) == "csvc-title"  # the heading, not "accept"
        assert "Personuppgiftsansvarig: Exempel AB." in banner.text
        assert "Statistik, Marknadsföring" in banner.text
        assert "återkalla ditt samtycke" in banner.text
        assert browser.find_element(By.ID, "csvc-policy").get_attribute("href") == pages["origin"] + "/integritet"
        # No layout shift: the banner is laid over the page.
        assert layout_shift(browser) == 0
        # Focus stays inside the modal dialog, both ways round.
        for _ in range(8):
            browser.switch_to.active_element.send_keys(Keys.TAB)
            assert inside_banner(browser)
        click(browser, "#csvc-title")
        browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
        assert browser.execute_script("return document.activeElement.getAttribute('data-action')") == "settings"
        settings = browser.find_element(By.CSS_SELECTOR, "[data-action=settings]")
        assert settings.get_attribute("aria-expanded") == "false"
        settings.click()
        assert settings.get_attribute("aria-expanded") == "true"
        panel = browser.find_element(By.ID, "csvc-settings")
        assert panel.find_element(By.TAG_NAME, "legend").text == "Kategorier"
        assert "Tredje parter: Google Ireland Ltd" in panel.text
        assert "Lagringstid: 13 månader" in panel.text
        screenshot(browser, "banner-v2-settings-sv")

        click(browser, "[data-action=accept_all]")
        wait_banner(browser, False)
        consent_id = choice_made(browser)
        # The persistent control to reopen the settings, reachable by keyboard, where the site put it.
        reopen = browser.find_element(By.ID, "consent-svc-reopen")
        assert reopen.text == "Cookie-inställningar"
        assert reopen.location["x"] > 640
        browser.execute_script("arguments[0].focus()", reopen)
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        wait_banner(browser, True)
        assert browser.find_element(By.ID, "csvc-id").text == f"Ditt samtyckes-id: {consent_id}"
        assert "_ga_TEST" in browser.execute_script("return document.cookie")
        click(browser, "#csvc-cat-analytics")  # withdraw analytics
        click(browser, "[data-action=settings]")
        wait_banner(browser, False)
        assert active_id(browser) == "consent-svc-reopen"  # focus comes back where it was
        cookies = browser.execute_script("return document.cookie")
        assert "_ga_TEST" not in cookies
        assert "_gid" not in cookies
        assert "keep=3" in cookies
        withdrawn = receipt(pages, choice_made(browser))
        assert withdrawn["categories"] == {"necessary": True, "analytics": False, "marketing": True}
        assert withdrawn["origin"] == pages["origin"]
        # The choice lives in localStorage, not in a cookie sent to the site.
        assert "csvc_" not in browser.execute_script("return document.cookie")
        assert browser.execute_script(f"return localStorage.getItem('csvc_{pages['key']}')")

        # A page in a language the site does not have gets the site's default (English here).
        changed = api.put(f"/v1/sites/{pages['key']}", json={**_site(api, pages), "default_language": "en"})
        assert changed.json()["default_language"] == "en"
        browser.execute_script("localStorage.clear()")  # a new visitor
        browser.get(pages["origin"] + "/?lang=fr")
        wait_banner(browser, True)
        assert browser.find_element(By.CSS_SELECTOR, "[data-action=accept_all]").text == "Accept all"
        assert browser.find_element(By.ID, "consent-svc-banner").get_attribute("lang") == "en"


def _site(api: httpx.Client, pages: dict[str, Any]) -> dict[str, Any]:
    current = api.get(f"/v1/sites/{pages['key']}").json()
    keep = ("name", "origins", "categories", "policy_url", "controller", "reopen", "languages", "texts")
    return {k: current[k] for k in keep}


def test_dismiss_stale_version_and_gpc_over_a_stored_choice(pages: dict[str, Any], tenant: Tenant) -> None:
    api, site = make_site(pages, tenant)
    with chromium() as browser:
        browser.get(pages["origin"] + "/")
        wait_banner(browser, True)
        browser.switch_to.active_element.send_keys(Keys.ESCAPE)  # closing is never consent
        wait_banner(browser, False)
        dismissed = receipt(pages, choice_made(browser))
        assert (dismissed["action"], dismissed["categories"]) == (
            "dismiss", {"necessary": True, "analytics": False, "marketing": False}
        )  # fmt: skip

        # The texts change while the page is open: the choice names the old version, is refused, and
        # banner.js loads the new texts and asks again.
        bumped = api.put(f"/v1/sites/{pages['key']}", json={**site, "texts": {"sv": {"title": "Nya villkor"}}})
        assert bumped.json()["banner_version"] == 2, bumped.text
        browser.execute_script("window.consentSvc.open()")
        wait_banner(browser, True)
        click(browser, "[data-action=accept_all]")
        WebDriverWait(browser, 10).until(
            lambda b: b.execute_script("return document.getElementById('csvc-title').textContent") == "Nya villkor"
        )
        click(browser, "[data-action=accept_all]")
        wait_banner(browser, False)
        accepted = receipt(pages, choice_made(browser))
        assert (accepted["banner_version"], accepted["gpc"]) == (2, False)

        # Global Privacy Control turned on later overrides the stored choice, with a new receipt.
        browser.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"},
        )
        browser.refresh()
        ready(browser)
        WebDriverWait(browser, 10).until(
            lambda b: b.execute_script("return window.consentSvc.consentId()") != accepted["consent_id"]
        )
        assert not browser.find_elements(By.ID, "consent-svc-banner")
        assert browser.execute_script("return window.consentSvc.get('marketing')") is False
        overridden = receipt(pages, choice_made(browser))
        assert overridden["gpc"] is True
        assert overridden["categories"] == {"necessary": True, "analytics": True, "marketing": False}


def test_refusal_works_with_the_service_down(pages: dict[str, Any], tenant: Tenant) -> None:
    make_site(pages, tenant, languages=["en", "sv"], reopen={"own_link": True})
    with chromium() as browser:
        browser.get(pages["origin"] + "/?lang=en")
        wait_banner(browser, True)
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/consents"]})
        click(browser, "[data-action=reject_all]")
        wait_banner(browser, False)
        notice = browser.find_element(By.ID, "consent-svc-notice")
        assert notice.is_displayed()
        assert "Your refusal already applies" in notice.text  # no silent failure
        assert browser.execute_script("return window.consentSvc.get('analytics')") is False
        assert browser.execute_script("return window.consentSvc.consentId()") is None
        assert "_ga_TEST" not in browser.execute_script("return document.cookie")
        screenshot(browser, "banner-v2-offline-en")
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        browser.refresh()  # the queued refusal goes out when the service answers
        sent = receipt(pages, choice_made(browser))
        assert (sent["action"], sent["language"]) == ("reject_all", "en")
        assert not browser.find_elements(By.ID, "consent-svc-notice")
        assert not browser.find_elements(By.ID, "consent-svc-banner")
        # The site said its pages carry their own [data-consent-svc-open] link: no control of ours.
        assert not browser.find_elements(By.ID, "consent-svc-reopen")


def data_layer(browser: Chrome) -> list[Any]:
    return list(
        browser.execute_script(
            "return window.dataLayer.map(function (x) { return Array.isArray(x) || !('length' in x) ? x : "
            "Array.prototype.slice.call(x); })"
        )
    )


def consent_commands(layer: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(x[1], x[2]) for x in layer if isinstance(x, list) and x and x[0] == "consent"]


def test_google_consent_mode_blocking_meta_pixel_and_stats(pages: dict[str, Any], tenant: Tenant) -> None:
    api, _ = make_site(pages, tenant, google_consent_mode={"region": ["SE"], "wait_for_update": 700}, meta_pixel=True)
    with chromium() as browser:
        browser.get(pages["origin"] + "/tags")
        wait_banner(browser, True)
        layer = data_layer(browser)
        assert layer[0] == [
            "consent", "default",
            {"security_storage": "granted", "analytics_storage": "denied", "ad_storage": "denied",
             "ad_user_data": "denied", "ad_personalization": "denied", "functionality_storage": "denied",
             "personalization_storage": "denied", "wait_for_update": 700, "region": ["SE"]},
        ]  # fmt: skip  # every signal, mapped or not: an unset signal is not a denied one
        assert layer[1][0] == "js"  # the page's own tag comes after the default
        # Blocked until consent: no script ran, the iframe has no src, a placeholder in the page's language.
        assert browser.execute_script("return window.ran === undefined && window.ranMarketing === undefined")
        frame = browser.find_element(By.TAG_NAME, "iframe")
        assert frame.get_attribute("src") in (None, "")
        placeholder = browser.find_element(By.CLASS_NAME, "consent-svc-placeholder")
        assert "blockerat tills du godkänner kategorin Marknadsföring" in placeholder.text
        click(browser, "[data-action=settings]")
        click(browser, "#csvc-cat-analytics")
        click(browser, "[data-action=settings]")  # custom: analytics only
        wait_banner(browser, False)
        WebDriverWait(browser, 10).until(lambda b: b.execute_script("return (window.ran || []).length === 3"))
        assert browser.execute_script("return window.ran") == ["inline-1", "external", "inline-2"]
        assert browser.execute_script("return window.ranMarketing") is None
        update = consent_commands(data_layer(browser))[-1]
        assert update == ("update", {"security_storage": "granted", "analytics_storage": "granted",
                                     "ad_storage": "denied", "ad_user_data": "denied",
                                     "ad_personalization": "denied", "functionality_storage": "denied",
                                     "personalization_storage": "denied"})  # fmt: skip
        event = [x for x in data_layer(browser) if isinstance(x, dict) and x.get("event") == "consent_svc_update"][-1]
        # The categories only: the consent id is the visitor's identifier, and no tag needs it.
        assert event["consent_svc"] == {"categories": {"necessary": True, "analytics": True, "marketing": False}}
        assert browser.execute_script("return window.fbqCalls") == [["consent", "revoke"]]

        # The placeholder's button opens the settings; accepting marketing loads the iframe.
        browser.find_element(By.CSS_SELECTOR, ".consent-svc-placeholder button").click()
        wait_banner(browser, True)
        click(browser, "[data-action=accept_all]")
        wait_banner(browser, False)
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.TAG_NAME, "iframe").get_attribute("src"))
        assert browser.find_element(By.TAG_NAME, "iframe").get_attribute("src") == pages["origin"] + "/video"
        assert not browser.find_elements(By.CLASS_NAME, "consent-svc-placeholder")
        assert browser.execute_script("return window.ranMarketing") is True
        assert browser.execute_script("return window.ran.length") == 3  # each script ran once
        assert consent_commands(data_layer(browser))[-1][1]["ad_storage"] == "granted"
        assert browser.execute_script("return window.fbqCalls")[-1] == ["consent", "grant"]
        # A category name every object inherits ("constructor") is not a granted category.
        assert browser.execute_script("return window.ranInherited") is None

        # Withdrawn from the reopen control: the third party's frame is unloaded, not only hidden.
        click(browser, "#consent-svc-reopen")
        wait_banner(browser, True)
        click(browser, "[data-action=reject_all]")
        wait_banner(browser, False)
        WebDriverWait(browser, 10).until(
            lambda b: b.find_element(By.TAG_NAME, "iframe").get_attribute("src") == "about:blank"
        )
        assert browser.find_elements(By.CLASS_NAME, "consent-svc-placeholder")
        click(browser, "#consent-svc-reopen")
        wait_banner(browser, True)
        click(browser, "[data-action=accept_all]")
        wait_banner(browser, False)
        WebDriverWait(browser, 10).until(
            lambda b: b.find_element(By.TAG_NAME, "iframe").get_attribute("src") == pages["origin"] + "/video"
        )

        # A later page load: default, then the stored choice's update, before the page's own tags.
        browser.refresh()
        wait_banner(browser, False)
        layer = data_layer(browser)
        assert [x[:2] for x in layer[:2]] == [["consent", "default"], ["consent", "update"]]
        assert layer[1][2]["ad_storage"] == "granted"
        assert layer[2] == {"event": "consent_svc_update", "consent_svc": layer[2]["consent_svc"]}
        assert layer[3][0] == "js"

    with chromium() as browser:
        browser.get(pages["origin"] + "/tags")
        wait_banner(browser, True)
        click(browser, "[data-action=reject_all]")
        wait_banner(browser, False)
        choice_made(browser)
        assert set(consent_commands(data_layer(browser))[-1][1].values()) == {"denied", "granted"}
        assert consent_commands(data_layer(browser))[-1][1]["analytics_storage"] == "denied"
        assert browser.execute_script("return window.ran") is None

    with chromium() as browser:  # Global Privacy Control forces the ad signals denied
        browser.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"},
        )
        browser.get(pages["origin"] + "/tags")
        wait_banner(browser, True)
        click(browser, "[data-action=accept_all]")
        wait_banner(browser, False)
        choice_made(browser)
        forced = consent_commands(data_layer(browser))[-1][1]
        assert (forced["analytics_storage"], forced["ad_storage"], forced["ad_user_data"]) == (
            "granted", "denied", "denied"
        )  # fmt: skip

    # The statistics count exactly the choices made above.
    today = str(datetime.now(UTC).date())
    [item] = api.get(f"/v1/sites/{pages['key']}/stats", params={"from": today, "to": today}).json()["items"]
    assert (item["total"], item["accept_all"], item["reject_all"], item["custom"], item["gpc"]) == (6, 3, 2, 1, 1)
    assert item["by_category"] == {"necessary": 6, "analytics": 4, "marketing": 2}
