"""Twilio inbound SMS: X-Twilio-Signature (HMAC-SHA1 of URL + sorted fields), opt-out/opt-in keywords."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import pytest

from consent_svc.integrations import InboundRequest, TwilioSettings, VerificationFailed, receive
from consent_svc.integrations.twilio import signature_for

from .conftest import fixture

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN = "f3b1c2d4e5f60718293a4b5c6d7e8f90"
SETTINGS = TwilioSettings(auth_token=TOKEN)
URL = "https://consent.example/in/4"


def sign(url: str, body: bytes, token: str = TOKEN) -> str:
    """This test's own reading of Twilio's documentation: URL, then each field sorted by name, name then value."""
    fields = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    data = url + "".join(name + value for name, value in fields)
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def with_body(text: str) -> bytes:
    fields = parse_qsl(fixture("twilio_inbound_sms.txt").decode().strip(), keep_blank_values=True)
    return urlencode([(k, text if k == "Body" else v) for k, v in fields]).encode()


def request(body: bytes, signature: str, url: str = URL) -> InboundRequest:
    return InboundRequest(url=url, headers={"X-Twilio-Signature": signature}, body=body)


def test_the_signature_matches_twilios_published_examples() -> None:
    # The example of Twilio's webhook security documentation and its SDKs' tests.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    assert signature_for("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    # Repeated parameters, as the twilio-python tests have them: each distinct value once, sorted.
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert signature_for("12345", url, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


async def test_the_documented_request_replying_stopp_is_an_sms_stop() -> None:
    body = fixture("twilio_inbound_sms.txt").strip()
    inbound = await receive(SETTINGS, request(body, sign(URL, body)), now=NOW)
    (item,) = inbound.feedback
    assert (item.kind, item.phone, item.event_id, item.group, item.provider_event) == (
        "sms_stop",
        "+46701740605",
        "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "MG9752274e9e519418a7406176694466fa",
        "STOPP",
    )
    assert item.occurred_at == NOW
    assert item.email is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("STOP", "sms_stop"),
        ("stop", "sms_stop"),
        ("  Stop\n", "sms_stop"),
        ("STOPALL", "sms_stop"),
        ("unsubscribe", "sms_stop"),
        ("Cancel", "sms_stop"),
        ("END", "sms_stop"),
        ("quit", "sms_stop"),
        ("Stopp", "sms_stop"),
        ("START", "sms_start"),
        ("start", "sms_start"),
        ("UnStop", "sms_start"),
    ],
)
async def test_keywords_are_matched_trimmed_and_without_regard_to_case(text: str, kind: str) -> None:
    body = with_body(text)
    (item,) = (await receive(SETTINGS, request(body, sign(URL, body)), now=NOW)).feedback
    assert item.kind == kind


@pytest.mark.parametrize("text", ["STOP please", "Hej! Sluta skicka", "", "STO P", "YES", "HELP"])
async def test_other_messages_are_ignored_without_echoing_them(text: str) -> None:
    body = with_body(text)
    inbound = await receive(SETTINGS, request(body, sign(URL, body)), now=NOW)
    assert inbound.feedback == ()
    assert inbound.ignored[0].reason == "the message is not an opt-out or opt-in keyword"
    assert inbound.ignored[0].provider_event is None


async def test_a_tampered_body_a_wrong_token_and_a_wrong_url_are_refused() -> None:
    body = with_body("STOP")
    signature = sign(URL, body)
    tampered = body.replace(b"%2B46701740605", b"%2B46701740606")
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(SETTINGS, request(tampered, signature), now=NOW)
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(SETTINGS, request(body, sign(URL, body, token="another-token")), now=NOW)
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(SETTINGS, request(body, signature, url="https://consent.example/in/5"), now=NOW)
    with pytest.raises(VerificationFailed, match="required"):
        await receive(SETTINGS, InboundRequest(url=URL, headers={}, body=body), now=NOW)


async def test_the_url_is_accepted_with_or_without_the_default_port() -> None:
    body = with_body("STOP")
    signed_with_port = sign("https://consent.example:443/in/4", body)
    assert (await receive(SETTINGS, request(body, signed_with_port), now=NOW)).feedback
    signed_without = sign(URL, body)
    assert (
        await receive(SETTINGS, request(body, signed_without, url="https://consent.example:443/in/4"), now=NOW)
    ).feedback


async def test_a_query_string_is_part_of_what_is_signed() -> None:
    body = with_body("STOP")
    url = URL + "?tenant=acme"
    assert (await receive(SETTINGS, request(body, sign(url, body), url=url), now=NOW)).feedback
    with pytest.raises(VerificationFailed):
        await receive(SETTINGS, request(body, sign(url, body), url=URL), now=NOW)


async def test_a_whatsapp_sender_is_not_an_sms_opt_out() -> None:
    fields = parse_qsl(with_body("STOP").decode(), keep_blank_values=True)
    body = urlencode([(k, "whatsapp:+46701740605" if k == "From" else v) for k, v in fields]).encode()
    inbound = await receive(SETTINGS, request(body, sign(URL, body)), now=NOW)
    assert inbound.feedback == ()
    assert inbound.ignored[0].reason == "the sender is on whatsapp, not SMS"
