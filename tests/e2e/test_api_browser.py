"""The API browser at /schema in a real headless Chromium: it renders every operation from the
service's own copy of Swagger UI, under the page's CSP, with no request to any other origin."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import chromium, screenshot
from tests.e2e.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Runs before any script of the page: every CSP violation is kept where the test can read it.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def test_the_viewer_renders_every_operation_from_its_own_origin(external_server: Server) -> None:
    doc = httpx.get(f"{external_server.url}/schema/openapi.json", timeout=10).json()
    operations = [
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) > 50
    with chromium() as browser:
        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
        browser.get(f"{external_server.url}/schema")
        WebDriverWait(browser, 30).until(
            lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock-summary")) == len(operations)
        )
        # Each operation is shown with its method and path, as the document has them.
        shown = browser.execute_script(
            "return Array.from(document.querySelectorAll('.opblock-summary')).map(function (s) {"
            "  return [s.querySelector('.opblock-summary-method').textContent.trim(),"
            "          s.querySelector('.opblock-summary-path').getAttribute('data-path')]; });"
        )
        assert sorted(map(tuple, shown)) == sorted(operations)
        assert "consent-svc" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
        # The stylesheet applied (Swagger UI's own colours on a GET block), and the Authorize button is there.
        get_block = browser.find_element(By.CSS_SELECTOR, ".opblock.opblock-get")
        assert get_block.value_of_css_property("border-color") != "rgb(0, 0, 0)"
        WebDriverWait(browser, 5).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".authorize"))
        )
        # An operation opens and shows its parameters.
        decide = next(
            s
            for s in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary")
            if s.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path") == "/v1/decisions"
        )
        decide.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
        WebDriverWait(browser, 10).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock.is-open .parameters-container tr[data-param-name]")
        )
        params = {
            row.get_attribute("data-param-name")
            for row in browser.find_elements(By.CSS_SELECTOR, ".opblock.is-open tr[data-param-name]")
        }
        assert {"purpose", "channel", "email"} <= params
        screenshot(browser, "api-browser")
        # Everything came from the service itself, and nothing was refused by the CSP.
        resources = browser.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; });"
        )
        assert resources
        assert [url for url in resources if not url.startswith(external_server.url + "/")] == []
        assert {url.split("?")[0].rsplit("/", 1)[-1] for url in resources} >= {
            "swagger-ui-bundle.js",
            "schema.js",
            "swagger-ui.css",
            "openapi.json",
        }
        assert browser.execute_script("return window.__violations;") == []
