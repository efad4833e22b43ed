"""Mailgun JSON webhooks: the HMAC-SHA256 signature block, the event examples of Mailgun's documentation."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from consent_svc.integrations import InboundRequest, MailgunSettings, VerificationFailed, receive

from .conftest import fixture

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
KEY = "key-7d1e6f1b6a5c4e3d2b1a0f9e8d7c6b5a"
SETTINGS = MailgunSettings(signing_key=KEY)


def signed(name: str, *, timestamp: int = T, key: str = KEY) -> dict[str, Any]:
    """The published payload with a real signature block: HMAC-SHA256(key, timestamp + token), hex."""
    payload = json.loads(fixture(name))
    token = payload["signature"]["token"]
    payload["signature"]["timestamp"] = str(timestamp)
    payload["signature"]["signature"] = hmac.new(
        key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    return dict(payload)


def request(payload: dict[str, Any]) -> InboundRequest:
    return InboundRequest(url="https://consent.example/in/3", headers={}, body=json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("name", "kind", "provider_event", "email", "event_id"),
    [
        (
            "mailgun_failed_permanent.json",
            "hard_bounce",
            "failed:permanent",
            "slava@mailgun.com",
            "pl271FzxTTmGRW8Uj3dUWw",
        ),
        ("mailgun_failed_temporary.json", "soft_bounce", "failed:temporary", "test@test.com", "xYrATi63Rke8EC_s7EoJeA"),
        ("mailgun_complained.json", "complaint", "complained", "foo@example.com", "ncV2XwymRUKbPek_MIM-Gw"),
        ("mailgun_unsubscribed.json", "unsubscribe", "unsubscribed", "recipient@example.com", "W3X4JOhFT-OZidZGKKr9iA"),
    ],
)
async def test_each_documented_event_maps_to_its_feedback(
    name: str, kind: str, provider_event: str, email: str, event_id: str
) -> None:
    payload = signed(name)
    inbound = await receive(SETTINGS, request(payload), now=NOW)
    (item,) = inbound.feedback
    assert (item.kind, item.provider_event, item.email, item.event_id) == (kind, provider_event, email, event_id)
    assert item.occurred_at == datetime.fromtimestamp(payload["event-data"]["timestamp"], UTC)
    assert item.group is None


async def test_an_event_without_consent_effect_is_ignored_with_a_reason() -> None:
    inbound = await receive(SETTINGS, request(signed("mailgun_opened.json")), now=NOW)
    assert inbound.feedback == ()
    assert inbound.ignored[0].reason == "Mailgun opened events carry no consent feedback"


async def test_a_mailing_list_unsubscribe_names_the_list() -> None:
    payload = signed("mailgun_unsubscribed.json")
    payload["event-data"]["mailing-list"] = {"address": "news@lists.example.com", "list-id": "news"}
    (item,) = (await receive(SETTINGS, request(payload), now=NOW)).feedback
    assert item.group == "news@lists.example.com"


async def test_a_wrong_key_a_tampered_signature_block_and_a_stale_timestamp_are_refused() -> None:
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(SETTINGS, request(signed("mailgun_complained.json", key="another-key")), now=NOW)
    payload = signed("mailgun_complained.json")
    payload["signature"]["token"] = "x" + payload["signature"]["token"][1:]
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(SETTINGS, request(payload), now=NOW)
    payload = signed("mailgun_complained.json")
    payload["signature"]["timestamp"] = str(T - 1)  # moved, not re-signed
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(SETTINGS, request(payload), now=NOW)
    with pytest.raises(VerificationFailed, match="older than 300 seconds"):
        await receive(SETTINGS, request(signed("mailgun_complained.json", timestamp=T - 301)), now=NOW)
    with pytest.raises(VerificationFailed, match="in the future"):
        await receive(SETTINGS, request(signed("mailgun_complained.json", timestamp=T + 301)), now=NOW)


async def test_the_documented_payload_as_published_is_refused() -> None:
    # Its signature block is Mailgun's example, made with a key we do not have, in 2018.
    body = fixture("mailgun_complained.json")
    with pytest.raises(VerificationFailed):
        await receive(SETTINGS, InboundRequest(url="https://consent.example/in/3", headers={}, body=body), now=NOW)


async def test_a_body_without_a_signature_is_refused() -> None:
    for body in (b"", b"not json", b"[]", b'{"event-data": {}}', b'{"signature": {"timestamp": "1"}}'):
        with pytest.raises(VerificationFailed):
            await receive(SETTINGS, InboundRequest(url="https://c.example/in/3", headers={}, body=body), now=NOW)


async def test_mailgun_signs_only_timestamp_and_token_so_event_data_is_not_covered() -> None:
    # A protocol limit, documented in docs/integrations.md: the HMAC covers timestamp + token,
    # not event-data. A captured signature block is good for another body within the 5 minutes;
    # what stops it acting twice is the event id (and, for the lead, remembering tokens).
    payload = signed("mailgun_complained.json")
    payload["event-data"]["recipient"] = "someone.else@example.com"
    (item,) = (await receive(SETTINGS, request(payload), now=NOW)).feedback
    assert item.email == "someone.else@example.com"
