"""The embeddable banner in a real headless Chromium, on a test page of another origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import Tenant
from tests.e2e.browser import chromium, screenshot
from tests.e2e.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def categories(marketing_text: str = "Annonser som följer dig.") -> list[dict[str, Any]]:
    return [
        {
            "key": "analytics",
            "title": {"sv": "Statistik", "en": "Analytics"},
            "description": {"sv": "Hjälper oss förstå hur sidan används.", "en": "Helps us understand use."},
        },
        {
            "key": "marketing",
            "sale_or_share": True,
            "title": {"sv": "Marknadsföring", "en": "Marketing"},
            "description": {"sv": marketing_text, "en": "Ads that follow you."},
        },
    ]


@pytest.fixture
def page_server(external_server: Server) -> Iterator[dict[str, Any]]:
    holder: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            html = f"""<!doctype html><html lang="sv"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Exempel</title>
<script src="{external_server.url}/banner.js" data-site-key="{holder["key"]}" defer></script></head>
<body><h1>Välkommen</h1><p><a href="#" data-consent-svc-open>Cookie-inställningar</a></p></body></html>"""
            data = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    holder["origin"] = f"http://127.0.0.1:{server.server_address[1]}"
    holder["api"] = external_server.url
    yield holder
    server.shutdown()
    server.server_close()


def wait_banner(browser: Chrome, present: bool) -> None:
    condition = (
        expected_conditions.visibility_of_element_located((By.ID, "consent-svc-banner"))
        if present
        else expected_conditions.invisibility_of_element_located((By.ID, "consent-svc-banner"))
    )
    WebDriverWait(browser, 10).until(condition)


def ready(browser: object) -> None:
    browser.execute_async_script("var done = arguments[0]; window.consentSvc.ready.then(function () { done(); });")  # type: ignore[attr-defined]


def test_banner_reject_reload_bump_and_gpc(page_server: dict[str, Any], tenant: Tenant) -> None:
    api = httpx.Client(base_url=page_server["api"], headers=tenant.auth())
    site = {"name": "Exempel", "origins": [page_server["origin"]], "categories": categories(),
            "policy_url": page_server["origin"] + "/integritet", "controller": "Exempel AB"}  # fmt: skip
    created = api.post("/v1/sites", json=site)
    assert created.status_code == 201, created.text
    page_server["key"] = key = created.json()["site_key"]

    with chromium() as browser:
        browser.get(page_server["origin"] + "/")
        wait_banner(browser, True)
        buttons = browser.find_elements(By.CSS_SELECTOR, "#consent-svc-banner button")
        assert [b.text for b in buttons] == ["Acceptera alla", "Avvisa alla", "Inställningar"]
        sizes = {(b.size["height"], b.value_of_css_property("font-size")) for b in buttons}
        assert len(sizes) == 1  # equal weight: rejecting is as easy as accepting
        screenshot(browser, "banner-sv-desktop")

        browser.find_element(By.CSS_SELECTOR, "[data-action=reject_all]").click()
        wait_banner(browser, False)
        consent_id = browser.execute_script("return window.consentSvc.consentId()")
        assert browser.execute_script("return window.consentSvc.get('analytics')") is False
        receipt = httpx.get(f"{page_server['api']}/v1/banner/{key}/consents/{consent_id}").json()
        assert receipt["categories"] == {"necessary": True, "analytics": False, "marketing": False}
        assert receipt["action"] == "reject_all"

        browser.refresh()  # the choice is remembered: no banner
        ready(browser)
        assert not browser.find_elements(By.ID, "consent-svc-banner")
        assert browser.execute_script("return window.consentSvc.consentId()") == consent_id

        # Reopen from the page's own link.
        browser.find_element(By.CSS_SELECTOR, "[data-consent-svc-open]").click()
        wait_banner(browser, True)
        assert browser.find_element(By.ID, "csvc-settings").is_displayed()
        screenshot(browser, "banner-settings-sv-desktop")

        # New texts: banner_version goes up and the banner asks again.
        bumped = api.put(f"/v1/sites/{key}", json={**site, "categories": categories("Nya annonstexter.")})
        assert bumped.json()["banner_version"] == 2
        browser.refresh()
        wait_banner(browser, True)

    with chromium(390, 844) as phone:
        # Global Privacy Control on: the browser sends Sec-GPC and exposes navigator.globalPrivacyControl.
        phone.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"},
        )
        phone.execute_cdp_cmd("Network.enable", {})
        phone.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Sec-GPC": "1"}})
        phone.get(page_server["origin"] + "/")
        wait_banner(phone, True)
        screenshot(phone, "banner-gpc-phone")
        phone.find_element(By.CSS_SELECTOR, "[data-action=accept_all]").click()
        wait_banner(phone, False)
        consent_id = phone.execute_script("return window.consentSvc.consentId()")
        receipt = httpx.get(f"{page_server['api']}/v1/banner/{key}/consents/{consent_id}").json()
        assert receipt["gpc"] is True
        assert receipt["categories"] == {"necessary": True, "analytics": True, "marketing": False}
