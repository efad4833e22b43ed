"""Mailgun webhooks (JSON): verify the HMAC in the body, read ``event-data``.

"Securing Webhooks" in Mailgun's user manual (github.com/mailgun/documentation,
source/user_manual.rst; payloads: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads):
the body holds ``signature: {timestamp, token, signature}``; ``signature`` is
the hex HMAC-SHA256, keyed with the webhook signing key, of ``timestamp``
followed by ``token``. A timestamp more than 5 minutes away from now is refused.

Mapping of ``event-data`` (one event a request): ``failed`` with ``severity``
permanent -> hard_bounce, temporary -> soft_bounce; ``complained`` ->
complaint; ``unsubscribed`` -> unsubscribe. The idempotency key is
``event-data.id``. ``group``: the mailing list address when the event names
one (``mailing-list.address``), else None.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, cast

import msgspec

from consent_svc.domain.errors import InvalidInput
from consent_svc.integrations.common import check_fresh, email_or_none, from_unix, sha256_hex
from consent_svc.integrations.errors import VerificationFailed
from consent_svc.integrations.model import Feedback, FeedbackKind, Ignored, Inbound, InboundRequest, MailgunSettings


def signature_for(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify(body: bytes, settings: MailgunSettings, now: datetime) -> dict[str, Any]:
    """The decoded, verified payload."""
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise VerificationFailed("the body is not a Mailgun JSON webhook (no signature)") from None
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict):
        raise VerificationFailed("the body has no Mailgun signature object")
    timestamp, token, given = signature.get("timestamp"), signature.get("token"), signature.get("signature")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not (isinstance(timestamp, str) and isinstance(token, str) and isinstance(given, str)):
        raise VerificationFailed("signature.timestamp, signature.token and signature.signature are required")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise VerificationFailed("signature.timestamp is not a Unix time")
    check_fresh(from_unix(int(timestamp)), now, what="signature.timestamp")
    expected = signature_for(settings.signing_key, timestamp, token)
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise VerificationFailed("the Mailgun signature does not match")
    return cast(dict[str, Any], payload)


def receive(request: InboundRequest, settings: MailgunSettings, now: datetime) -> Inbound:
    payload = verify(request.body, settings, now)
    digest = sha256_hex(request.body)
    token = str(payload["signature"]["token"])
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise InvalidInput("a Mailgun webhook carries its event in event-data")
    item = _map(data, digest)
    if isinstance(item, Ignored):
        return Inbound(provider="mailgun", payload_sha256=digest, ignored=(item,), replay_token=token)
    return Inbound(provider="mailgun", payload_sha256=digest, feedback=(item,), replay_token=token)


def _map(data: dict[str, Any], digest: str) -> Feedback | Ignored:
    name = data.get("event")
    event_id = data.get("id") if isinstance(data.get("id"), str) else None
    if not isinstance(name, str):
        return Ignored(provider="mailgun", event_id=event_id, reason="event-data has no event name")
    kind: FeedbackKind
    provider_event = name
    if name == "failed":
        severity = data.get("severity")
        provider_event = f"failed:{severity}"
        if severity == "permanent":
            kind = "hard_bounce"
        elif severity == "temporary":
            kind = "soft_bounce"
        else:
            return Ignored(
                provider="mailgun",
                event_id=event_id,
                provider_event=provider_event,
                reason="failed event whose severity is neither permanent nor temporary",
            )
    elif name == "complained":
        kind = "complaint"
    elif name == "unsubscribed":
        kind = "unsubscribe"
    else:
        return Ignored(
            provider="mailgun",
            event_id=event_id,
            provider_event=name[:40],
            reason=f"Mailgun {name:.40} events carry no consent feedback",
        )
    if event_id is None:
        return Ignored(provider="mailgun", provider_event=provider_event, reason="event-data has no id")
    timestamp = data.get("timestamp")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        return Ignored(provider="mailgun", event_id=event_id, provider_event=provider_event, reason="no timestamp")
    address = email_or_none(data.get("recipient"))
    if address is None:
        return Ignored(
            provider="mailgun",
            event_id=event_id,
            provider_event=provider_event,
            reason="the recipient is not a valid email address",
        )
    mailing_list = data.get("mailing-list")
    group = mailing_list.get("address") if isinstance(mailing_list, dict) else None
    return Feedback(
        provider="mailgun",
        event_id=event_id,
        occurred_at=from_unix(timestamp),
        kind=kind,
        provider_event=provider_event,
        payload_sha256=digest,
        email=address,
        group=group if isinstance(group, str) else None,
    )
