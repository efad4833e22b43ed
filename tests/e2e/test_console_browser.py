"""The console in a real headless Chromium against the real server (docs/console.md): a set-up link
from the CLI, sign-in, every page per role, CSRF refused, sign-in throttled, an officer's erasure;
axe-core on every page at desktop and phone size, and a screenshot of each kept in test-artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.browser import chromium
from tests.e2e.console_browser import axe_source, check_page, click_and_wait, create_user, sign_in, sign_out
from tests.e2e.server import Server, clean_env

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "a long console password"
ANNA = {"purpose": "newsletter", "channel": "email", "email": "anna@example.se"}


@pytest.fixture
def console_env(database: str) -> dict[str, str]:
    return clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="info",
    )


@pytest.fixture
def console_server(console_env: dict[str, str], workdir: Path) -> Iterator[Server]:
    server = Server(console_env, workdir)
    yield server
    server.stop()


def title(driver: object) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)  # type: ignore[attr-defined]


def test_the_console_for_each_role_in_chromium(
    console_server: Server, console_env: dict[str, str], workdir: Path, tenant: Tenant
) -> None:
    assert shutil.which("npm"), "the console's browser test injects axe-core, installed with npm"
    axe = axe_source()
    url = console_server.url
    with httpx.Client(base_url=url, headers=tenant.auth()) as api:
        assert api.put("/v1/purposes/newsletter", json=NEWSLETTER).status_code in (200, 201)
        proof = {"notice_version": "2026-03", "form_url": "https://example.se/nyhetsbrev"}
        recorded = api.post("/v1/events", json={
            "subject": {"email": "anna@example.se"}, "type": "consent_given", "purpose": "newsletter",
            "channels": ["email"], "proof": proof})  # fmt: skip
        assert recorded.status_code == 201, recorded.text
        subject_id = recorded.json()["subject_id"]

        setup_link = create_user(console_env, workdir, tenant.name, "admin@example.se", "admin", None)
        # The CLI does not know this server's port: the link names CONSENT_CONSOLE_URL, or the public url.
        assert setup_link.startswith("http://127.0.0.1:8000/console/setup/")
        setup_link = url + setup_link.removeprefix("http://127.0.0.1:8000")
        create_user(console_env, workdir, tenant.name, "officer@example.se", "officer", PASSWORD)
        create_user(console_env, workdir, tenant.name, "viewer@example.se", "viewer", PASSWORD)

        with chromium() as browser:
            # The admin's set-up link: choose a password, then sign in.
            browser.get(setup_link + "?lang=en")
            check_page(browser, axe, "setup")
            browser.find_element(By.ID, "password").send_keys(PASSWORD)
            browser.find_element(By.ID, "password_again").send_keys(PASSWORD)
            click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "main button[type=submit]"))
            assert "/console/login" in browser.current_url
            check_page(browser, axe, "login")
            sign_in(browser, url, tenant.name, "admin@example.se", PASSWORD)
            assert title(browser) == "Dashboard"
            check_page(browser, axe, "dashboard")
            browser.get(f"{url}/console/users")
            assert "officer@example.se" in browser.find_element(By.TAG_NAME, "table").text
            check_page(browser, axe, "users")
            # Swedish by the switch in the header, remembered.
            click_and_wait(browser, browser.find_element(By.LINK_TEXT, "På svenska"))
            assert title(browser) == "Användare"
            browser.get(f"{url}/console/audit")
            assert title(browser) == "Händelselogg"
            click_and_wait(browser, browser.find_element(By.LINK_TEXT, "In English"))
            assert "login" in browser.find_element(By.TAG_NAME, "table").text
            check_page(browser, axe, "audit")

            # CSRF: a form whose token was tampered with changes nothing.
            browser.get(f"{url}/console/users")
            browser.execute_script("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged');")
            browser.find_element(By.ID, "new-email").send_keys("mallory@example.se")
            click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form.narrow button[type=submit]"))
            assert title(browser) == "Not allowed"
            browser.get(f"{url}/console/users")
            assert "mallory@example.se" not in browser.find_element(By.TAG_NAME, "main").text
            sign_out(browser)

            # A viewer reads the dashboard, and nothing about people.
            sign_in(browser, url, tenant.name, "viewer@example.se", PASSWORD)
            nav = browser.find_element(By.CSS_SELECTOR, "header nav").text
            assert "Dashboard" in nav
            assert "People" not in nav
            browser.get(f"{url}/console/subjects/{subject_id}")
            assert title(browser) == "Not allowed"
            assert "anna@example.se" not in browser.page_source
            check_page(browser, axe, "forbidden")
            sign_out(browser)

            # The officer finds Anna, restricts processing, and erases her.
            sign_in(browser, url, tenant.name, "officer@example.se", PASSWORD)
            browser.get(f"{url}/console/subjects")
            assert title(browser) == "People"
            browser.find_element(By.ID, "q").send_keys("anna@example.se")
            click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form[role=search] button"))
            check_page(browser, axe, "people")
            click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, ".results a"))
            assert title(browser) == "Person"
            decisions = browser.find_element(By.TAG_NAME, "table").text
            assert "consent_active" in decisions
            assert "GDPR 6(1)(a)" in decisions
            assert "https://example.se/nyhetsbrev" in browser.page_source  # the proof, in the timeline
            check_page(browser, axe, "person")
            click_and_wait(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Restrict processing']"))
            assert "Processing is restricted" in browser.find_element(By.CSS_SELECTOR, "p.ok").text
            answer = api.get("/v1/decisions", params=ANNA).json()
            assert answer["reason"] == "restricted"
            browser.find_element(By.ID, "confirm").send_keys("anna@example.se")
            browser.find_element(By.ID, "reason").send_keys("Art 17 request by email")
            click_and_wait(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Erase this person']"))
            assert title(browser) == "The person is erased"
            receipt = browser.find_element(By.ID, "receipt").text
            assert "Suppression entries kept" in receipt
            check_page(browser, axe, "erased")
            sign_out(browser)

            # Five wrong passwords: the account is throttled, even with the right one.
            for _ in range(5):
                sign_in(browser, url, tenant.name, "officer@example.se", "not the right password")
                assert "not right" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
            sign_in(browser, url, tenant.name, "officer@example.se", PASSWORD)
            assert title(browser) == "That did not work"
            assert "too many failed sign-ins" in browser.find_element(By.TAG_NAME, "main").text

        assert api.get(f"/v1/subjects/{subject_id}").status_code == 404
        assert api.get("/v1/decisions", params=ANNA).json()["reason"] == "suppressed"
    log = console_server.log.read_text()
    assert "anna@example.se" not in log
    assert PASSWORD not in log
