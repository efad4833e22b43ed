"""The preference center for a link made for one purpose (issue 18): one step out of that purpose,
and confirmations that say the change applies now (it does: the decision changes at once)."""

from __future__ import annotations

import httpx

from tests.conftest import Tenant
from tests.http.test_unsubscribe import SAME_ORIGIN, allowed, link, path_of, setup


async def test_a_purpose_link_offers_one_step_out_of_that_purpose(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "ett@example.se")
    url = path_of((await link(client, tenant, "ett@example.se", "newsletter"))["url"])
    page = await client.get(url, params={"lang": "sv"})
    assert "Avregistrera mig från ”Nyhetsbrev”" in page.text
    # One step: the button alone, no nonce needed to take a person out.
    done = await client.post(
        f"{url}/preferences", data={"action": "unsubscribe_purpose", "lang": "sv"}, headers=SAME_ORIGIN
    )
    assert done.status_code == 200, done.text
    assert "Du är avregistrerad från ”Nyhetsbrev”. Det gäller redan nu." in done.text
    assert "två dagar" not in done.text
    assert "Avregistrera mig från ”Nyhetsbrev”" not in done.text  # nothing left to leave
    assert not await allowed(client, tenant, "ett@example.se", "newsletter")
    assert await allowed(client, tenant, "ett@example.se", "events")  # only the link's purpose


async def test_a_link_for_everything_has_no_purpose_button(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "alla@example.se")
    url = path_of((await link(client, tenant, "alla@example.se"))["url"])
    page = await client.get(url, params={"lang": "en"})
    assert "unsubscribe_purpose" not in page.text
    refused = await client.post(
        f"{url}/preferences", data={"action": "unsubscribe_purpose", "lang": "en"}, headers=SAME_ORIGIN
    )
    assert refused.status_code == 400
    assert await allowed(client, tenant, "alla@example.se", "newsletter")


async def test_one_click_confirmations_say_it_applies_now(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await setup(client, tenant, "klick@example.se")
    one = path_of((await link(client, tenant, "klick@example.se", "newsletter"))["url"])
    answer = await client.post(one, data={"List-Unsubscribe": "One-Click"}, headers={"Accept-Language": "en"})
    assert "You are unsubscribed from “Newsletter”. This applies now." in answer.text
    assert "two days" not in answer.text
    everything = path_of((await link(client, tenant, "klick@example.se"))["url"])
    answer = await client.post(everything, data={"List-Unsubscribe": "One-Click"}, headers={"Accept-Language": "sv"})
    assert "Det gäller redan nu." in answer.text
    assert "två dagar" not in answer.text
