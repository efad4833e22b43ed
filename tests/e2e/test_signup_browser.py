"""Double opt-in in a real headless Chromium against the real server and a real SMTP server on
loopback: the docs' no-JavaScript form, the confirmation email, the page, and re-permission."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.browser import chromium, screenshot
from tests.e2e.server import REPO, Server, clean_env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DOI = {**NEWSLETTER, "channels": ["email"], "double_opt_in": True}


class Inbox:
    """What the local SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def wait_for(self, count: int, seconds: float = 15.0) -> list[EmailMessage]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{count} message(s) expected, {len(self.messages)} arrived")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def site() -> Iterator[dict[str, Any]]:
    """The tenant's website: serves ``holder["html"]`` on 127.0.0.1 (the form's origin) and on localhost (another)."""
    holder: dict[str, Any] = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = holder["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    holder["origin"] = f"http://127.0.0.1:{port}"
    holder["other"] = f"http://localhost:{port}"
    yield holder
    server.shutdown()
    server.server_close()


@pytest.fixture
def mailing_server(database: str, workdir: Path, smtp: tuple[Inbox, int]) -> Iterator[Server]:
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="info",
        CONSENT_SMTP_URL=f"smtp://127.0.0.1:{smtp[1]}",
        CONSENT_SMTP_FROM="Nyheter <nyheter@example.se>",
    )
    server = Server(env, workdir)
    yield server
    server.stop()


def embed_snippet(action: str) -> str:
    """The no-JavaScript snippet of docs/forms.md, as a tenant pastes it."""
    text = (REPO / "docs" / "forms.md").read_text(encoding="utf-8")
    block = text.split("<!-- embed:start -->", 1)[1].split("<!-- embed:end -->", 1)[0]
    snippet = block.split("```html", 1)[1].rsplit("```", 1)[0]
    assert "https://consent.example.se/f/FORM_KEY" in snippet
    return snippet.replace("https://consent.example.se/f/FORM_KEY", action)


def decision(api: httpx.Client, address: str) -> Any:
    return api.get("/v1/decisions", params={"purpose": "newsletter", "channel": "email", "email": address}).json()


def test_sign_up_by_the_form_confirm_by_the_email_in_chromium(
    mailing_server: Server, tenant: Tenant, smtp: tuple[Inbox, int], site: dict[str, Any]
) -> None:
    inbox, _ = smtp
    with httpx.Client(base_url=mailing_server.url, headers=tenant.auth()) as api:
        assert api.put("/v1/purposes/newsletter", json=DOI).status_code in (200, 201)
        api.put("/v1/branding", json={"display_name": "Exempel AB", "primary_color": "#1f4e79"}).raise_for_status()
        form = api.post("/v1/forms", json={"name": "Sidfot", "origins": [site["origin"]], "purposes": ["newsletter"],
                                           "language": "en"})  # fmt: skip
        assert form.status_code == 201, form.text
        action = form.json()["action_url"]
        site["html"] = f"<!doctype html><html><head><meta charset='utf-8'><title>Exempel</title></head><body>" \
                       f"{embed_snippet(action)}</body></html>"  # fmt: skip

        with chromium() as browser:
            # The form, without JavaScript on the site's page: type, press, land on the thank-you page.
            browser.get(site["origin"] + "/")
            browser.find_element(By.ID, "cs-email").send_keys("eva@example.se")
            browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            WebDriverWait(browser, 10).until(expected_conditions.title_contains("Check your inbox"))
            assert "/thanks" in browser.current_url
            screenshot(browser, "signup-thanks-en")

            waiting = decision(api, "eva@example.se")
            assert (waiting["allowed"], waiting["reason"]) == (False, "confirmation_pending")

            # The confirmation email arrives at the SMTP server: text and HTML, a Message-ID, no tracking.
            [mail] = inbox.wait_for(1)
            assert mail["To"] == "eva@example.se"
            assert mail["From"] == "Exempel AB <nyheter@example.se>"
            assert mail["Message-ID"]
            assert mail["Subject"] == "Confirm your subscription to Exempel AB"
            text = mail.get_body(preferencelist=("plain",))
            html = mail.get_body(preferencelist=("html",))
            assert text is not None
            assert html is not None
            assert "<img" not in html.get_content()
            found = re.search(r"(http://\S+/c/\S+)", text.get_content())
            assert found is not None
            link = found[1]
            assert link in html.get_content()

            # GET shows the button and changes nothing.
            browser.get(link)
            button = browser.find_element(By.CSS_SELECTOR, "button[value=confirm]")
            assert button.text == "Confirm"
            assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
            assert "Newsletter" in browser.find_element(By.TAG_NAME, "main").text
            screenshot(browser, "signup-confirm-en")
            assert decision(api, "eva@example.se")["reason"] == "confirmation_pending"

            button.click()
            status = WebDriverWait(browser, 10).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=status]"))
            )
            assert status.text == "Thank you! Your subscription is confirmed."
            screenshot(browser, "signup-confirmed-en")

            # Reused: a page that says so, not an error.
            browser.get(link)
            assert "used already" in browser.find_element(By.CSS_SELECTOR, "[role=status]").text

        answer = decision(api, "eva@example.se")
        assert (answer["allowed"], answer["reason"]) == (True, "consent_active")
        [subject] = api.get("/v1/subjects", params={"email": "eva@example.se"}).json()["items"]
        subject_id = subject["id"]
        export = api.get(f"/v1/subjects/{subject_id}/export").json()
        [consent] = [e for e in export["events"] if e["type"] == "consent_given"]
        assert answer["evidence"] == [consent["id"]]
        both = consent["proof"]["double_opt_in"]
        assert both["signup_ip_prefix"] == both["confirm_ip_prefix"] == "127.0.0.0/24"
        assert "Chrome" in both["signup_user_agent"]
        assert "Chrome" in both["confirm_user_agent"]
        assert both["form_url"] == site["origin"] + "/"
        [signup] = export["signups"]
        assert (signup["status"], signup["delivery"], signup["mail_status"]) == ("confirmed", "smtp", "sent")
        assert signup["message_id"] == mail["Message-ID"]
        assert len(inbox.messages) == 1
    # The address never reached a log line.
    assert "eva@example.se" not in mailing_server.log.read_text()


def test_a_page_on_another_origin_cannot_sign_anyone_up(
    external_server: Server, tenant: Tenant, site: dict[str, Any]
) -> None:
    with httpx.Client(base_url=external_server.url, headers=tenant.auth()) as api:
        assert api.put("/v1/purposes/newsletter", json=DOI).status_code in (200, 201)
        form = api.post("/v1/forms", json={"name": "x", "origins": [site["origin"]], "purposes": ["newsletter"]})
        action = form.json()["action_url"]
        site["html"] = f"""<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>
<p id="out">waiting</p><script>
fetch({action!r}, {{method: "POST", headers: {{"Content-Type": "application/json"}},
                    body: JSON.stringify({{email: location.hostname + "@example.se"}})}})
  .then(r => r.json().then(b => document.getElementById("out").textContent = "status " + r.status + " " + b.status))
  .catch(e => document.getElementById("out").textContent = "blocked");
</script></body></html>"""
        with chromium() as browser:
            browser.get(site["origin"] + "/")  # the form's own origin: CORS lets the page read the answer
            WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "out").text != "waiting")
            assert browser.find_element(By.ID, "out").text == "status 202 pending"
            browser.get(site["other"] + "/")  # another origin: refused, and the browser hides the answer
            WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "out").text != "waiting")
            assert browser.find_element(By.ID, "out").text == "blocked"
        assert decision(api, "127.0.0.1@example.se")["reason"] == "confirmation_pending"
        assert decision(api, "localhost@example.se")["reason"] == "no_consent"


def test_re_permission_in_chromium(external_server: Server, tenant: Tenant) -> None:
    with httpx.Client(base_url=external_server.url, headers=tenant.auth()) as api:
        assert api.put("/v1/purposes/newsletter", json=NEWSLETTER).status_code in (200, 201)
        api.post("/v1/events", json={"subject": {"email": "olle@example.se"}, "type": "consent_given",
                                     "purpose": "newsletter", "proof": {"notice_version": "2026-03"}}
                 ).raise_for_status()  # fmt: skip
        soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
        changed = {
            **NEWSLETTER,
            "notice_version": "2026-09",
            "reconsent_required_before": soon,
            "description": {"sv": "Nyheter och erbjudanden varje vecka.", "en": "News and offers every week."},
        }
        assert api.put("/v1/purposes/newsletter", json=changed).status_code == 200  # fmt: skip
        needed = api.get("/v1/purposes/newsletter/reconsent").json()["items"]
        assert len(needed) == 1
        link = api.post("/v1/reconsent-links", json={"email": "olle@example.se", "purpose": "newsletter"}).json()
        with chromium() as browser:
            browser.get(link["url"] + "?lang=sv")
            assert browser.find_element(By.TAG_NAME, "h1").text == "Vi har ändrat villkoren"
            assert "Nyheter och erbjudanden varje vecka." in browser.find_element(By.TAG_NAME, "main").text
            screenshot(browser, "reconsent-sv")
            browser.find_element(By.CSS_SELECTOR, "button[value=agree]").click()
            status = WebDriverWait(browser, 10).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=status]"))
            )
            assert status.text == "Tack! Ditt samtycke är sparat."
        assert api.get("/v1/purposes/newsletter/reconsent").json()["items"] == []
        answer = decision(api, "olle@example.se")
        assert answer["allowed"] is True
        assert answer["expires_at"] > soon  # on the new notice: no longer capped at the deadline
