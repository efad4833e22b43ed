"""The console in a real headless Chromium against the real server (docs/console.md): a set-up link
from the CLI, sign-in, every page per role, CSRF refused, sign-in throttled, an officer's erasure;
axe-core on every page at desktop and phone size, and a screenshot of each kept in test-artifacts/."""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.browser import chromium
from tests.e2e.console_browser import (
    axe_source,
    check_page,
    click_and_wait,
    create_user,
    replaced,
    sign_in,
    sign_out,
    type_into,
)
from tests.e2e.server import REPO, Server, clean_env

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
        CONSENT_WEBHOOK_ALLOW_PRIVATE="1",  # a webhook to a closed loopback port: its messages wait, failing
        CONSENT_WEBHOOK_RETRY_BASE_SECONDS="3600",
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

        site = json.loads((REPO / "docs" / "examples" / "site.json").read_text(encoding="utf-8"))
        made = api.post("/v1/sites", json=site)
        assert made.status_code == 201, made.text
        site_key = made.json()["site_key"]
        assert site_key.startswith("site_")
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["suppression.added"]}
        assert api.post("/v1/webhooks", json=hook).status_code == 201
        assert api.post("/v1/suppressions", json={"email": "blocked@example.se", "reason": "complaint"}).is_success

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
            click_and_wait(browser, (By.CSS_SELECTOR, "main button[type=submit]"))
            assert "/console/login" in browser.current_url
            assert "Your password is saved" in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
            check_page(browser, axe, "login")
            sign_in(browser, url, tenant.name, "admin@example.se", PASSWORD)
            assert title(browser) == "Dashboard"
            check_page(browser, axe, "dashboard")
            browser.get(f"{url}/console/users")
            assert "officer@example.se" in browser.find_element(By.TAG_NAME, "table").text
            check_page(browser, axe, "users")
            # Swedish by the switch in the header, remembered.
            click_and_wait(browser, (By.LINK_TEXT, "På svenska"))
            assert title(browser) == "Användare"
            browser.get(f"{url}/console/audit")
            assert title(browser) == "Händelselogg"
            click_and_wait(browser, (By.LINK_TEXT, "In English"))
            assert "login" in browser.find_element(By.TAG_NAME, "table").text
            check_page(browser, axe, "audit")

            # The admin's other pages.
            browser.get(f"{url}/console/purposes")
            check_page(browser, axe, "purposes")
            click_and_wait(browser, (By.LINK_TEXT, "Newsletter"))
            assert "newsletter" in title(browser)
            check_page(browser, axe, "purpose")
            browser.get(f"{url}/console/sites")
            frame = browser.find_element(By.CSS_SELECTOR, f"iframe[src^='/console/sites/{site_key}/preview']")
            browser.switch_to.frame(frame)
            WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[data-action]"))
            browser.find_element(By.CSS_SELECTOR, "button[data-action]").click()  # refused: not the site's origin
            browser.switch_to.default_content()
            check_page(browser, axe, "sites")
            browser.get(f"{url}/console/")
            banner_table = browser.find_element(By.XPATH, "//table[caption[contains(., 'Banner choices')]]")
            assert "None" in banner_table.text  # the preview recorded no choice
            browser.get(f"{url}/console/webhooks")
            assert "suppression.added" in browser.find_element(By.TAG_NAME, "main").text
            check_page(browser, axe, "webhooks")
            click_and_wait(browser, (By.XPATH, "//button[normalize-space()='Redeliver']"))
            assert "queued to be delivered again" in browser.find_element(By.CSS_SELECTOR, "p.ok").text

            # CSRF: a form whose token was tampered with changes nothing.
            browser.get(f"{url}/console/users")
            browser.execute_script("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged');")
            browser.find_element(By.ID, "new-email").send_keys("mallory@example.se")
            click_and_wait(browser, (By.CSS_SELECTOR, "form.narrow button[type=submit]"))
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
            click_and_wait(browser, (By.LINK_TEXT, "viewer@example.se"))
            assert title(browser) == "Your account"
            check_page(browser, axe, "account")
            sign_out(browser)

            # The officer finds Anna, restricts processing, and erases her.
            sign_in(browser, url, tenant.name, "officer@example.se", PASSWORD)
            browser.get(f"{url}/console/suppressions")
            type_into(browser, "q", "blocked@example.se")
            click_and_wait(browser, (By.CSS_SELECTOR, "form[role=search] button"))
            assert "blocked@example.se" not in browser.current_url  # a search is a POST
            assert "complaint" in browser.find_element(By.ID, "entries").text
            check_page(browser, axe, "suppressions")
            browser.get(f"{url}/console/subjects")
            assert title(browser) == "People"
            browser.find_element(By.ID, "q").send_keys("anna@example.se")
            click_and_wait(browser, (By.CSS_SELECTOR, "form[role=search] button"))
            check_page(browser, axe, "people")
            click_and_wait(browser, (By.CSS_SELECTOR, ".results a"))
            assert title(browser) == "Person"
            decisions = browser.find_element(By.TAG_NAME, "table").text
            assert "consent_active" in decisions
            assert "GDPR 6(1)(a)" in decisions
            assert "https://example.se/nyhetsbrev" in browser.page_source  # the proof, in the timeline
            check_page(browser, axe, "person")
            click_and_wait(browser, (By.XPATH, "//button[normalize-space()='Restrict processing']"))
            assert "Processing is restricted" in browser.find_element(By.CSS_SELECTOR, "p.ok").text
            answer = api.get("/v1/decisions", params=ANNA).json()
            assert answer["reason"] == "restricted"
            browser.find_element(By.ID, "confirm").send_keys("anna@example.se")
            browser.find_element(By.ID, "reason").send_keys("Art 17 request by email")
            click_and_wait(browser, (By.XPATH, "//button[normalize-space()='Erase this person']"))
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


def test_washing_a_100000_row_csv_in_chromium_matches_the_batch_api(
    console_server: Server, console_env: dict[str, str], workdir: Path, tenant: Tenant
) -> None:
    rows = 100_000
    addresses = [f"person{i}@example.se" for i in range(rows)]
    for i in range(0, rows, 997):
        addresses[i] = f"not an address {i}"
    with httpx.Client(base_url=console_server.url, headers=tenant.auth(), timeout=120) as api:
        assert api.put("/v1/purposes/newsletter", json=NEWSLETTER).status_code in (200, 201)
        proof = {"notice_version": "2026-03"}
        consents = [{"subject": {"email": f"person{i}@example.se"}, "type": "consent_given", "purpose": "newsletter",
                     "channels": ["email"], "proof": proof} for i in range(1, 3001)]  # fmt: skip
        objections = [{"subject": {"email": f"person{i}@example.se"}, "type": "objection", "purpose": "newsletter"}
                      for i in range(1, 501)]  # fmt: skip
        for events in (consents, objections):
            assert api.post("/v1/events/batch", json={"events": events}).status_code in (200, 201)
        complaint = {"email": "person2000@example.se", "reason": "complaint"}
        assert api.post("/v1/suppressions", json=complaint).is_success
        csv_path = workdir / "send-list.csv"
        with csv_path.open("w", encoding="utf-8", newline="") as out:
            out.write('namn;"e-post";kommentar\r\n')
            for i, address in enumerate(addresses):
                out.write(f'"Person {i}";{address};"säger ""hej""; och hejdå"\r\n')
        create_user(console_env, workdir, tenant.name, "marketer@example.se", "marketer", PASSWORD)
        downloads = workdir / "downloads"
        downloads.mkdir()
        server = psutil.Process(console_server.proc.pid)
        rss_before = server.memory_info().rss

        with chromium() as browser:
            browser.execute_cdp_cmd(
                "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
            )
            sign_in(browser, console_server.url, tenant.name, "marketer@example.se", PASSWORD)
            nav = browser.find_element(By.CSS_SELECTOR, "header nav").text
            assert "List washing" in nav
            assert "People" not in nav
            browser.get(f"{console_server.url}/console/wash")
            browser.find_element(By.ID, "wash-file").send_keys(str(csv_path))
            WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#wash-column option"))
            assert browser.find_element(By.ID, "wash-column").get_attribute("value") == "1"  # e-post, guessed
            check_page(browser, axe_source(), "wash")
            started = time.monotonic()
            browser.find_element(By.ID, "wash-start").click()
            WebDriverWait(browser, 600).until(lambda d: d.find_element(By.ID, "wash-result").is_displayed())
            seconds = time.monotonic() - started
            assert browser.find_element(By.ID, "wash-result").get_attribute("data-rows") == str(rows)
            summary = {
                r.find_element(By.TAG_NAME, "th").text: int(r.find_element(By.TAG_NAME, "td").text)
                for r in browser.find_elements(By.CSS_SELECTOR, "#wash-summary tr")
            }
            check_page(browser, axe_source(), "wash-done")
            browser.find_element(By.ID, "wash-download").click()
            deadline = time.monotonic() + 60
            washed = downloads / "send-list-washed.csv"
            while not washed.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert washed.exists(), list(downloads.iterdir())
        rss_after = server.memory_info().rss

        with washed.open("rb") as raw:
            assert raw.read(3) == b"\xef\xbb\xbf"  # a byte-order mark first, for Excel
        with washed.open(encoding="utf-8-sig", newline="") as handle:
            table = list(csv.reader(handle, delimiter=";"))  # the file's own delimiter
        assert table[0] == ["namn", "e-post", "kommentar", "allowed", "reason", "rule", "expires_at"]
        assert len(table) == rows + 1
        assert table[1][:3] == ["Person 0", "not an address 0", 'säger "hej"; och hejdå']
        answer = api.post("/v1/decisions/batch", json={"purpose": "newsletter", "channel": "email",
                                                       "recipients": [{"email": a} for a in addresses]})  # fmt: skip
        assert answer.status_code == 200, answer.text[:300]
        expected = [
            ["true" if r["allowed"] else "false", r["reason"], r.get("rule") or "", r.get("expires_at") or ""]
            for r in answer.json()["results"]
        ]
        assert [row[3:] for row in table[1:]] == expected
        counted: dict[str, int] = {}
        for row in expected:
            counted[row[1]] = counted.get(row[1], 0) + 1
        assert summary == counted
        assert counted["consent_active"] > 2000
        assert counted["invalid_identifier"] == len(range(0, rows, 997))
    growth = (rss_after - rss_before) / 1_048_576
    print(f"washed {rows} rows in {seconds:.1f} s; server RSS {rss_before / 1_048_576:.0f} -> "
          f"{rss_after / 1_048_576:.0f} MB")  # fmt: skip
    assert growth < 150, f"the server grew by {growth:.0f} MB washing the list"


def test_importing_a_mailchimp_export_in_chromium_dry_run_then_record(
    console_server: Server, console_env: dict[str, str], workdir: Path, tenant: Tenant
) -> None:
    export = workdir / "members_export.csv"
    export.write_text(
        "Email Address,First Name,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP\r\n"
        "eva@example.se,Eva,2025-03-01 09:00:00,192.0.2.10,2025-03-01 09:05:00,192.0.2.10\r\n"
        "bo@example.se,Bo,,,,\r\n",
        encoding="utf-8",
    )
    create_user(console_env, workdir, tenant.name, "marketer@example.se", "marketer", PASSWORD)
    eva = {"purpose": "newsletter", "channel": "email", "email": "eva@example.se"}
    with httpx.Client(base_url=console_server.url, headers=tenant.auth()) as api:
        assert api.put("/v1/purposes/newsletter", json=NEWSLETTER).status_code in (200, 201)
        with chromium() as browser:
            sign_in(browser, console_server.url, tenant.name, "marketer@example.se", PASSWORD)
            browser.get(f"{console_server.url}/console/import")
            check_page(browser, axe_source(), "import")
            browser.find_element(By.ID, "import-file").send_keys(str(export))
            Select(browser.find_element(By.ID, "import-format")).select_by_value("mailchimp")
            click_and_wait(browser, (By.CSS_SELECTOR, "button[value=dry_run]"))
            assert title(browser) == "Import"
            report = browser.find_element(By.ID, "import-report").text
            assert "Dry run: nothing was recorded" in report
            assert browser.find_element(By.ID, "events-new").text == "1"
            assert browser.find_element(By.ID, "skipped").text == "1"
            assert "cannot be dated" in report
            check_page(browser, axe_source(), "import-dry-run")
            assert api.get("/v1/decisions", params=eva).json()["reason"] == "no_consent"

            browser.find_element(By.ID, "import-file").send_keys(str(export))  # a file input is empty again
            click_and_wait(browser, (By.CSS_SELECTOR, "button[value=record]"))
            assert "Recorded" in browser.find_element(By.ID, "import-report").text
            assert browser.find_element(By.ID, "events-new").text == "1"
            assert api.get("/v1/decisions", params=eva).json()["reason"] == "consent_active"

            browser.find_element(By.ID, "import-file").send_keys(str(export))
            click_and_wait(browser, (By.CSS_SELECTOR, "button[value=record]"))
            assert browser.find_element(By.ID, "events-new").text == "0"  # the same file: nothing twice
            assert browser.find_element(By.ID, "events-already").text == "1"


def test_the_console_works_from_the_keyboard_alone(
    console_server: Server, console_env: dict[str, str], workdir: Path, tenant: Tenant
) -> None:
    create_user(console_env, workdir, tenant.name, "keys@example.se", "viewer", PASSWORD)
    with chromium() as browser:
        browser.get(f"{console_server.url}/console/login?lang=en")
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        first = browser.switch_to.active_element
        assert first.text == "Skip to content"  # the first stop: straight to the page's content
        first.send_keys(Keys.ENTER)
        for _ in range(10):  # on from the content to the first field
            if browser.switch_to.active_element.get_attribute("id") == "tenant":
                break
            browser.switch_to.active_element.send_keys(Keys.TAB)
        assert browser.switch_to.active_element.get_attribute("id") == "tenant"
        browser.switch_to.active_element.send_keys(tenant.name, Keys.TAB)
        browser.switch_to.active_element.send_keys("keys@example.se", Keys.TAB)
        old = browser.find_element(By.TAG_NAME, "html")
        browser.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
        WebDriverWait(browser, 15).until(replaced(old))
        assert title(browser) == "Dashboard"
        # Every control has a visible focus outline.
        button = browser.find_element(By.XPATH, "//button[normalize-space()='Verify the ledger now']")
        browser.execute_script("arguments[0].focus()", button)
        outline = browser.execute_script("return getComputedStyle(arguments[0]).outlineStyle", button)
        assert outline not in ("none", "")
        old = browser.find_element(By.TAG_NAME, "html")
        button.send_keys(Keys.ENTER)
        WebDriverWait(browser, 15).until(replaced(old))
        assert "hash chain of" in browser.find_element(By.ID, "ledger").text
