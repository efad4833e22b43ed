"""The preference center in a real headless Chromium, as a recipient uses it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import NEWSLETTER, Tenant
from tests.e2e.browser import chromium, screenshot
from tests.e2e.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

EVENTS = {
    **NEWSLETTER,
    "channels": ["email"],
    "title": {"sv": "Evenemang och seminarier", "en": "Events and seminars"},
    "description": {"sv": "Inbjudningar till våra frukostseminarier.", "en": "Invitations to our breakfast seminars."},
}


CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'; frame-ancestors 'none'"


def subscribe(api: httpx.Client, email: str) -> str:
    """Two purposes the person has consented to; their unsubscribe link."""
    for key, body in (("newsletter", NEWSLETTER), ("events", EVENTS)):
        assert api.put(f"/v1/purposes/{key}", json=body).status_code in (200, 201)
        api.post(
            "/v1/events",
            json={
                "subject": {"email": email},
                "type": "consent_given",
                "purpose": key,
                "proof": {"notice_version": "2026-03"},
            },
        ).raise_for_status()
    api.put(
        "/v1/branding",
        json={
            "display_name": "Exempel AB",
            "primary_color": "#1f4e79",
            "privacy_policy_url": "https://example.se/integritetspolicy",
        },
    ).raise_for_status()
    return str(api.post("/v1/unsubscribe-links", json={"email": email}).json()["url"])


def test_a_recipient_manages_their_purposes(external_server: Server, tenant: Tenant) -> None:
    with httpx.Client(base_url=external_server.url, headers=tenant.auth()) as api:
        url = subscribe(api, "eva@example.se")
        assert httpx.get(url).headers["content-security-policy"] == CSP  # on in every page below

        def allowed(purpose: str) -> bool:
            params = {"purpose": purpose, "channel": "email", "email": "eva@example.se"}
            return bool(api.get("/v1/decisions", params=params).json()["allowed"])

        with chromium() as browser:
            browser.get(url + "?lang=sv")
            assert browser.find_element(By.TAG_NAME, "h1").text == "Dina utskick"
            assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv"
            labels = [label.text for label in browser.find_elements(By.CSS_SELECTOR, ".choice label")]
            assert labels == ["Evenemang och seminarier", "Nyhetsbrev"]
            assert (
                browser.find_element(By.CSS_SELECTOR, "button[value=unsubscribe_all]").text
                == "Avregistrera mig från allt"
            )
            # Every checkbox has a label, and both start as subscribed.
            boxes = browser.find_elements(By.CSS_SELECTOR, "input[type=checkbox]")
            for box in boxes:
                assert browser.find_element(By.CSS_SELECTOR, f"label[for={box.get_attribute('id')}]")
                assert box.is_selected()
            screenshot(browser, "preference-center-sv-desktop")

            # Keyboard: Tab walks the choices, then Save, then Unsubscribe from everything.
            browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
            order = []
            for _ in range(4):
                active = browser.switch_to.active_element
                order.append(active.get_attribute("id") or active.get_attribute("value"))
                active.send_keys(Keys.TAB)
            assert order == ["p0", "p1", "save", "unsubscribe_all"]

            browser.get(url + "?lang=en")
            assert browser.find_element(By.TAG_NAME, "h1").text == "Your email preferences"
            # Leave the newsletter, keep the events; save.
            newsletter = browser.find_element(By.CSS_SELECTOR, "input[value=newsletter]")
            newsletter.click()
            assert not newsletter.is_selected()
            browser.find_element(By.CSS_SELECTOR, "button[value=save]").click()
            status = WebDriverWait(browser, 10).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=status]"))
            )
            assert status.text == "Your choices are saved."
            assert not browser.find_element(By.CSS_SELECTOR, "input[value=newsletter]").is_selected()
            screenshot(browser, "preference-center-en-saved-desktop")

        # The API sees it at once: the decision is now a deny whose evidence is the
        # objection the page recorded.
        params = {"purpose": "newsletter", "channel": "email", "email": "eva@example.se"}
        answer = api.get("/v1/decisions", params=params).json()
        assert (answer["allowed"], answer["reason"]) == (False, "suppressed")
        entries = api.get("/v1/suppressions", params={"email": "eva@example.se"}).json()["items"]
        assert [(e["scope"], e["reason"], e["source"]) for e in entries] == [
            ("newsletter", "unsubscribe", "preference_center")
        ]
        assert answer["evidence"] == [entries[0]["id"]]
        assert allowed("events")
        # The proof of what the page recorded: the browser's user agent and its address cut to a /24.
        subject_id = api.get("/v1/subjects", params={"email": "eva@example.se"}).json()["items"][0]["id"]
        export = api.get(f"/v1/subjects/{subject_id}/export").json()
        proofs = [e["proof"] for e in export["events"] if e["source"] == "preference_center"]
        assert len(proofs) == 2
        assert all(p["ip"] == "127.0.0.0/24" and "Chrome" in p["user_agent"] for p in proofs)

        with chromium(390, 844) as phone:  # a phone-sized screen
            phone.get(url + "?lang=sv")
            assert phone.execute_script("return window.innerWidth") == 390
            assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
            save = phone.find_element(By.CSS_SELECTOR, "button[value=save]")
            assert save.size["height"] >= 44  # a comfortable touch target
            screenshot(phone, "preference-center-sv-phone")


@pytest.fixture
def other_site() -> Iterator[dict[str, Any]]:
    """A page on another site (``localhost`` rather than ``127.0.0.1``) that posts a form to consent-svc."""
    holder: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in holder["form"])
            html = f"""<!doctype html><html><head><meta charset="utf-8"><title>Win a prize</title></head>
<body><form id="f" method="post" action="{escape(holder["action"])}">{fields}</form>
<script>document.getElementById("f").submit();</script></body></html>"""
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
    holder["url"] = f"http://localhost:{server.server_address[1]}/"
    yield holder
    server.shutdown()
    server.server_close()


def test_another_site_cannot_resubscribe_a_recipient_through_their_browser(
    external_server: Server, tenant: Tenant, other_site: dict[str, Any]
) -> None:
    with httpx.Client(base_url=external_server.url, headers=tenant.auth()) as api:
        url = subscribe(api, "olle@example.se")
        assert httpx.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # out of everything
        # Someone who holds the link reads a fresh nonce off the page, then makes the
        # person's own browser send the re-subscribe from their site.
        found = re.search(r'name="nonce" value="([^"]*)"', httpx.get(url).text)
        nonce = found[1] if found else ""
        other_site["action"] = f"{url}/preferences"
        other_site["form"] = [("purpose", "newsletter"), ("purpose", "events"), ("action", "save"), ("nonce", nonce)]
        with chromium() as browser:
            browser.get(other_site["url"])
            # The answer the browser got: a page saying nothing was changed (403).
            refused = ("nothing was changed", "inget har ändrats")
            WebDriverWait(browser, 10).until(
                lambda b: (
                    "/preferences" in b.current_url
                    and any(words in b.find_element(By.TAG_NAME, "body").text for words in refused)
                )
            )
        for purpose in ("newsletter", "events"):
            params = {"purpose": purpose, "channel": "email", "email": "olle@example.se"}
            assert api.get("/v1/decisions", params=params).json()["allowed"] is False
