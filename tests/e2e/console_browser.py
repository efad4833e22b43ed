"""Helpers of the console's browser tests: axe-core injected into a page, screenshots at desktop and
phone size, signing in."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import screenshot
from tests.e2e.server import BIN

AXE_DIR = Path(__file__).resolve().parent / "axe"
DESKTOP = (1280, 900)
PHONE = (390, 844)


def axe_source() -> str:
    """axe-core as package-lock.json pins it (npm ci in tests/e2e/axe, again when the lock is newer)."""
    marker = AXE_DIR / "node_modules" / ".package-lock.json"
    if not marker.exists() or (AXE_DIR / "package-lock.json").stat().st_mtime > marker.stat().st_mtime:
        npm = shutil.which("npm")
        assert npm, "the console's browser tests inject axe-core, installed with npm (Node.js 18 or newer)"
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, capture_output=True, text=True,
                              timeout=600, check=False)  # fmt: skip
        assert done.returncode == 0, f"npm ci in {AXE_DIR} failed:\n{done.stdout}\n{done.stderr}"
    return (AXE_DIR / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")


def serious_violations(driver: Any, source: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A and AA rules)."""
    driver.execute_script(source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', "
        "'best-practice']}}).then(r => done(r.violations.map(v => [v.impact, v.id, v.nodes.length, "
        "v.nodes.slice(0, 3).map(n => n.target.join(' '))])));"
    )
    return [f"{impact} {rule} x{count} {targets}" for impact, rule, count, targets in result
            if impact in ("serious", "critical")]  # fmt: skip


def size(driver: Any, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def check_page(driver: Any, source: str, name: str) -> None:
    """axe-core finds nothing serious at desktop and phone size; a screenshot of each is kept; the page
    does not scroll sideways on a phone."""
    size(driver, *DESKTOP)
    found = serious_violations(driver, source)
    assert found == [], (name, found)
    screenshot(driver, f"console-{name}-desktop")
    size(driver, *PHONE)
    found = serious_violations(driver, source)
    assert found == [], (f"{name} (phone)", found)
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name}: the page is {overflow}px wider than a phone"
    screenshot(driver, f"console-{name}-phone")
    size(driver, *DESKTOP)


def replaced(old: Any) -> Callable[[Any], bool]:
    """A wait condition: the page holding ``old`` has been replaced. Chromium reports a node of a
    replaced document either as stale or as one that "does not belong to the document": both say
    the navigation happened."""

    def gone(_driver: Any) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return gone


def click_and_wait(driver: Any, locator: tuple[str, str]) -> None:
    """Press the button (or link) ``locator`` finds, and wait until the next page has replaced this
    one. Found afresh at the moment of the click: Chromium may still be settling the page that the
    previous form loaded (its node ids change), and a click on a stale node is refused."""
    old = driver.find_element(By.TAG_NAME, "html")
    for attempt in range(5):
        try:
            driver.find_element(*locator).click()
            break
        except (StaleElementReferenceException, WebDriverException) as exc:
            if attempt == 4 or ("document" not in str(exc) and not isinstance(exc, StaleElementReferenceException)):
                raise
            time.sleep(0.2)
    WebDriverWait(driver, 15).until(replaced(old))
    WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))


def type_into(driver: Any, element_id: str, text: str) -> None:
    """Type into the field ``element_id``, found afresh (as in :func:`click_and_wait`): right after a
    navigation Chromium may still be replacing the document, and a node of the old one is refused."""
    for attempt in range(5):
        try:
            field = WebDriverWait(driver, 15).until(
                expected_conditions.presence_of_element_located((By.ID, element_id))
            )
            field.clear()
            field.send_keys(text)
            return
        except (StaleElementReferenceException, WebDriverException) as exc:
            if attempt == 4 or ("document" not in str(exc) and not isinstance(exc, StaleElementReferenceException)):
                raise
            time.sleep(0.2)


def sign_in(driver: Any, url: str, tenant: str, email: str, password: str) -> None:
    driver.get(f"{url}/console/login?lang=en")
    type_into(driver, "tenant", tenant)
    type_into(driver, "email", email)
    type_into(driver, "password", password)
    click_and_wait(driver, (By.CSS_SELECTOR, "main button[type=submit]"))


def sign_out(driver: Any) -> None:
    click_and_wait(driver, (By.CSS_SELECTOR, "header form button"))
    assert "/console/login" in driver.current_url


def create_user(env: dict[str, str], cwd: Path, tenant: str, email: str, role: str, password: str | None) -> str:
    """``consent-svc users create``: the set-up link, or (with a password on stdin) the user's id."""
    args = [str(BIN), "users", "create", "--tenant", tenant, "--email", email, "--role", role]
    if password is not None:
        args.append("--password-stdin")
    done = subprocess.run(args, env=env, cwd=cwd, input=(password or "") + "\n", capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
