"""A link for one purpose, in a real headless Chromium: one button takes the person out of it."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.conftest import Tenant
from tests.e2e.browser import chromium, screenshot
from tests.e2e.server import Server
from tests.e2e.test_preference_center_browser import subscribe

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_one_step_out_of_the_link_s_purpose(external_server: Server, tenant: Tenant) -> None:
    with httpx.Client(base_url=external_server.url, headers=tenant.auth()) as api:
        subscribe(api, "olle@example.se")
        url = api.post("/v1/unsubscribe-links", json={"email": "olle@example.se", "purpose": "events"}).json()["url"]

        def allowed(purpose: str) -> bool:
            params = {"purpose": purpose, "channel": "email", "email": "olle@example.se"}
            return bool(api.get("/v1/decisions", params=params).json()["allowed"])

        with chromium(390, 844) as phone:
            phone.get(url + "?lang=sv")
            button = phone.find_element(By.ID, "unsubscribe-purpose")
            assert button.text == "Avregistrera mig från ”Evenemang och seminarier”"
            button.click()
            notice = phone.find_element(By.CSS_SELECTOR, "[role=status]")
            assert notice.text == "Du är avregistrerad från ”Evenemang och seminarier”. Det gäller redan nu."
            screenshot(phone, "preference-center-one-purpose-phone")
            assert not phone.find_elements(By.ID, "unsubscribe-purpose")
        assert not allowed("events")
        assert allowed("newsletter")
