"""SendGrid Event Webhook: ECDSA P-256 signatures made here with a real key, the published sample batch."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from consent_svc.domain.errors import InvalidInput
from consent_svc.integrations import InboundRequest, SendGridSettings, VerificationFailed, receive
from tests.integrations.conftest import SendGridSigner, fixture

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


def request(body: bytes, headers: dict[str, str]) -> InboundRequest:
    return InboundRequest(url="https://consent.example/in/2", headers=headers, body=body)


def settings(signer: SendGridSigner) -> SendGridSettings:
    return SendGridSettings(verification_key=signer.verification_key)


def unique_ids(body: bytes) -> bytes:
    """The published sample with an sg_event_id of its own for each event (in the sample all are equal)."""
    events = json.loads(body)
    for index, event in enumerate(events):
        event["sg_event_id"] = f"evt-{index}"
    return json.dumps(events).encode()


async def test_each_kind_of_the_published_sample_maps_to_its_feedback(sendgrid_signer: SendGridSigner) -> None:
    body = unique_ids(fixture("sendgrid_events.json"))
    inbound = await receive(settings(sendgrid_signer), request(body, sendgrid_signer.headers(body, T)), now=NOW)
    assert [(f.event_id, f.kind, f.group, f.provider_event) for f in inbound.feedback] == [
        ("evt-5", "hard_bounce", None, "bounce:bounce"),
        ("evt-7", "complaint", None, "spamreport"),
        ("evt-8", "unsubscribe", None, "unsubscribe"),
        ("evt-9", "unsubscribe", "10", "group_unsubscribe"),
        ("evt-10", "resubscribe", "10", "group_resubscribe"),
    ]
    assert {f.email for f in inbound.feedback} == {"example@test.com"}
    assert {f.occurred_at for f in inbound.feedback} == {datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)}
    # processed, deferred, delivered, open, click, dropped: no consent effect, each said why.
    assert [i.provider_event for i in inbound.ignored] == [
        "processed",
        "deferred",
        "delivered",
        "open",
        "click",
        "dropped",
    ]
    assert all(i.reason.endswith("carry no consent feedback") for i in inbound.ignored)


async def test_the_sample_as_published_repeats_one_event_id_and_only_the_first_counts(
    sendgrid_signer: SendGridSigner,
) -> None:
    body = fixture("sendgrid_events.json")
    inbound = await receive(settings(sendgrid_signer), request(body, sendgrid_signer.headers(body, T)), now=NOW)
    assert [(f.event_id, f.kind) for f in inbound.feedback] == [("sg_event_id", "hard_bounce")]
    repeats = [i for i in inbound.ignored if "repeats" in i.reason]
    assert [i.provider_event for i in repeats] == [
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
    ]


async def test_a_blocked_bounce_is_soft(sendgrid_signer: SendGridSigner) -> None:
    body = fixture("sendgrid_blocked.json")
    inbound = await receive(settings(sendgrid_signer), request(body, sendgrid_signer.headers(body, T)), now=NOW)
    assert [(f.kind, f.provider_event, f.email) for f in inbound.feedback] == [
        ("soft_bounce", "bounce:blocked", "noemail@this.does.not.exist.tld")
    ]


async def test_a_tampered_body_is_refused(sendgrid_signer: SendGridSigner) -> None:
    body = unique_ids(fixture("sendgrid_events.json"))
    headers = sendgrid_signer.headers(body, T)
    tampered = body.replace(b"example@test.com", b"victim@test.com", 1)
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(settings(sendgrid_signer), request(tampered, headers), now=NOW)
    # The timestamp is signed too: moving it breaks the signature.
    moved = {**headers, "X-Twilio-Email-Event-Webhook-Timestamp": str(T + 1)}
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(settings(sendgrid_signer), request(body, moved), now=NOW)


async def test_a_signature_by_another_key_is_refused(sendgrid_signer: SendGridSigner) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = SendGridSigner(ec.generate_private_key(ec.SECP256R1()))
    body = fixture("sendgrid_events.json")
    with pytest.raises(VerificationFailed, match="does not match"):
        await receive(settings(sendgrid_signer), request(body, other.headers(body, T)), now=NOW)


async def test_a_stale_timestamp_is_refused(sendgrid_signer: SendGridSigner) -> None:
    body = fixture("sendgrid_events.json")
    for at in (T - 301, T + 301):
        with pytest.raises(VerificationFailed, match="Timestamp"):
            await receive(settings(sendgrid_signer), request(body, sendgrid_signer.headers(body, at)), now=NOW)
    edge = await receive(settings(sendgrid_signer), request(body, sendgrid_signer.headers(body, T - 300)), now=NOW)
    assert edge.feedback


async def test_missing_headers_or_garbage_are_refused(sendgrid_signer: SendGridSigner) -> None:
    body = fixture("sendgrid_events.json")
    with pytest.raises(VerificationFailed, match="required"):
        await receive(settings(sendgrid_signer), request(body, {}), now=NOW)
    bad = {"X-Twilio-Email-Event-Webhook-Signature": "!!!", "X-Twilio-Email-Event-Webhook-Timestamp": str(T)}
    with pytest.raises(VerificationFailed, match="base64"):
        await receive(settings(sendgrid_signer), request(body, bad), now=NOW)
    lower = {k.lower(): v for k, v in sendgrid_signer.headers(body, T).items()}  # header names in any case
    assert (await receive(settings(sendgrid_signer), request(body, lower), now=NOW)).feedback


async def test_a_signed_body_that_is_not_a_batch_is_invalid_input(sendgrid_signer: SendGridSigner) -> None:
    body = b'{"event": "bounce"}'
    with pytest.raises(InvalidInput):
        await receive(settings(sendgrid_signer), request(body, sendgrid_signer.headers(body, T)), now=NOW)


async def test_malformed_events_are_ignored_one_by_one(sendgrid_signer: SendGridSigner) -> None:
    body = json.dumps(
        [
            {"event": "spamreport", "sg_event_id": "a", "email": "not an address", "timestamp": T},
            {"event": "group_unsubscribe", "sg_event_id": "b", "email": "x@example.com", "timestamp": T},
            {"event": "unsubscribe", "email": "x@example.com", "timestamp": T},
            {"event": 7},
            "not an object",
            {"event": "spamreport", "sg_event_id": "c", "email": " X@Example.COM ", "timestamp": T},
        ]
    ).encode()
    inbound = await receive(settings(sendgrid_signer), request(body, sendgrid_signer.headers(body, T)), now=NOW)
    assert [(f.event_id, f.email) for f in inbound.feedback] == [("c", "x@example.com")]
    assert [i.reason for i in inbound.ignored] == [
        "the event's email is not a valid email address",
        "group_unsubscribe without asm_group_id",
        "event without sg_event_id",
        "not a SendGrid event object",
        "not a SendGrid event object",
    ]
    assert "not an address" not in repr(inbound)


def batch(size: int) -> bytes:
    kinds = ["bounce", "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe", "delivered", "open"]
    events = []
    for i in range(size):
        event = {
            "email": f"person{i}@example.com",
            "timestamp": T,
            "event": kinds[i % len(kinds)],
            "sg_event_id": f"{i:08d}-evt",
            "sg_message_id": f"msg-{i}",
            "category": "cat facts",
        }
        if event["event"] == "bounce":
            event["type"] = "bounce"
        if str(event["event"]).startswith("group_"):
            event["asm_group_id"] = 10 + i % 3
        events.append(event)
    return json.dumps(events).encode()


async def test_a_batch_of_1000_events_is_verified_and_read_whole(sendgrid_signer: SendGridSigner) -> None:
    body = batch(1000)
    started = time.perf_counter()
    inbound = await receive(settings(sendgrid_signer), request(body, sendgrid_signer.headers(body, T)), now=NOW)
    elapsed = time.perf_counter() - started
    assert len(inbound.feedback) + len(inbound.ignored) == 1000
    assert len(inbound.feedback) == 715  # 5 of every 7 kinds carry feedback
    assert len({f.event_id for f in inbound.feedback}) == 715
    assert elapsed < 2.0, f"1,000 events took {elapsed:.3f} s"  # measured ~10 ms: see docs/performance.md
