"""SendGrid Event Webhook: verify the ECDSA signature, read the batch of events.

Signed Event Webhook Requests
(https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features):
``X-Twilio-Email-Event-Webhook-Signature`` is a base64 DER ECDSA signature
(P-256, SHA-256) over the ``X-Twilio-Email-Event-Webhook-Timestamp`` value
followed by the raw body, verifiable with the webhook's public key, which the
console shows as base64 DER (SubjectPublicKeyInfo). A timestamp more than 5
minutes away from now is refused.

The body is a JSON array of events (up to about 1,000). Mapping
(https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event):
``bounce`` with ``type`` bounce (or no type, as in older payloads) ->
hard_bounce, with ``type`` blocked -> soft_bounce; ``spamreport`` ->
complaint; ``unsubscribe`` -> unsubscribe (every group); ``group_unsubscribe``
/ ``group_resubscribe`` -> unsubscribe / resubscribe for ``asm_group_id``.
Each event is read on its own: one malformed event is ignored, not the batch.
The idempotency key is ``sg_event_id``; a repeat within one batch is ignored.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from functools import lru_cache

import msgspec
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from consent_svc.domain.errors import InvalidInput
from consent_svc.integrations.common import check_fresh, email_or_none, from_unix, sha256_hex
from consent_svc.integrations.errors import VerificationFailed
from consent_svc.integrations.model import Feedback, FeedbackKind, Ignored, Inbound, InboundRequest, SendGridSettings

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def load_verification_key(text: str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key from its console form (base64 DER), or a PEM ``PUBLIC KEY``.

    Raises ``ValueError`` when it is neither, or not a P-256 key.
    """
    return _load_key(text.strip())


@lru_cache(maxsize=256)
def _load_key(text: str) -> ec.EllipticCurvePublicKey:
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        raise ValueError("not a base64 DER (or PEM) public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an ECDSA P-256 public key")
    return key


def verify(request: InboundRequest, settings: SendGridSettings, now: datetime) -> None:
    signature_b64 = request.header(SIGNATURE_HEADER)
    timestamp = request.header(TIMESTAMP_HEADER)
    if not signature_b64 or not timestamp:
        raise VerificationFailed(f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise VerificationFailed(f"{TIMESTAMP_HEADER} is not a Unix time")
    check_fresh(from_unix(int(timestamp)), now, what=TIMESTAMP_HEADER)
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except binascii.Error:
        raise VerificationFailed(f"{SIGNATURE_HEADER} is not base64") from None
    try:
        key = load_verification_key(settings.verification_key)
    except ValueError:
        raise VerificationFailed("the integration's verification key is not a P-256 public key") from None
    try:
        key.verify(signature, timestamp.encode() + request.body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VerificationFailed("the SendGrid signature does not match") from None


class _Event(msgspec.Struct):
    event: str
    sg_event_id: str | None = None
    email: str | None = None
    timestamp: int | float | None = None
    type: str | None = None  # bounce events: "bounce" or "blocked"
    asm_group_id: int | str | None = None


_events = msgspec.json.Decoder(list[msgspec.Raw])
_event = msgspec.json.Decoder(_Event)

_KINDS: dict[str, FeedbackKind] = {
    "spamreport": "complaint",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
    "group_resubscribe": "resubscribe",
}


def receive(request: InboundRequest, settings: SendGridSettings, now: datetime) -> Inbound:
    verify(request, settings, now)
    return parse(request.body)


def parse(body: bytes) -> Inbound:
    """The feedback in a (verified) SendGrid batch."""
    digest = sha256_hex(body)
    try:
        raws = _events.decode(body)
    except msgspec.DecodeError:
        raise InvalidInput("a SendGrid Event Webhook body is a JSON array of events") from None
    feedback: list[Feedback] = []
    ignored: list[Ignored] = []
    seen: set[str] = set()
    for raw in raws:
        try:
            event = _event.decode(raw)
        except msgspec.DecodeError:
            ignored.append(Ignored(provider="sendgrid", reason="not a SendGrid event object"))
            continue
        item = _map(event, digest)
        if isinstance(item, Ignored):
            ignored.append(item)
        elif item.event_id in seen:
            ignored.append(
                Ignored(
                    provider="sendgrid",
                    event_id=item.event_id,
                    provider_event=item.provider_event,
                    reason="sg_event_id repeats an earlier event of this batch",
                )
            )
        else:
            seen.add(item.event_id)
            feedback.append(item)
    return Inbound(provider="sendgrid", payload_sha256=digest, feedback=tuple(feedback), ignored=tuple(ignored))


def _map(event: _Event, digest: str) -> Feedback | Ignored:
    name = event.event
    kind: FeedbackKind
    if name == "bounce":
        bounce_type = event.type or "bounce"
        provider_event = f"bounce:{bounce_type}"
        if bounce_type == "bounce":
            kind = "hard_bounce"
        elif bounce_type == "blocked":
            kind = "soft_bounce"
        else:
            return _ignored(event, f"bounce of type {bounce_type:.40}: neither bounce nor blocked", provider_event)
    elif name in _KINDS:
        kind = _KINDS[name]
        provider_event = name
    else:
        return _ignored(event, f"SendGrid {name:.40} events carry no consent feedback", name)
    if not event.sg_event_id:
        return _ignored(event, "event without sg_event_id", provider_event)
    group: str | None = None
    if name in ("group_unsubscribe", "group_resubscribe"):
        if event.asm_group_id is None or str(event.asm_group_id) == "":
            return _ignored(event, f"{name} without asm_group_id", provider_event)
        group = str(event.asm_group_id)
    if event.timestamp is None:
        return _ignored(event, "event without timestamp", provider_event)
    address = email_or_none(event.email)
    if address is None:
        return _ignored(event, "the event's email is not a valid email address", provider_event)
    return Feedback(
        provider="sendgrid",
        event_id=event.sg_event_id,
        occurred_at=from_unix(event.timestamp),
        kind=kind,
        provider_event=provider_event,
        payload_sha256=digest,
        email=address,
        group=group,
    )


def _ignored(event: _Event, reason: str, provider_event: str) -> Ignored:
    return Ignored(provider="sendgrid", event_id=event.sg_event_id, provider_event=provider_event, reason=reason)
