"""Postmark webhooks: check the basic-auth credentials, read the record.

Postmark signs nothing; a webhook is authenticated by HTTP basic auth, with
credentials put in the webhook URL (``https://user:password@host/...``) or in
the webhook's "Basic auth credentials" fields. consent-svc generates them
(``generate_credentials``) and keeps only the SHA-256 of the password (it is 32
random bytes, so a plain hash is enough); ``check_credentials`` compares in
constant time. Postmark requests carry no timestamp to check for staleness.

Mapping (https://postmarkapp.com/developer/webhooks/bounce-webhook,
/spam-complaint-webhook, /subscription-change-webhook), one record a request:
``Bounce`` of ``Type`` HardBounce -> hard_bounce, SoftBounce or Transient ->
soft_bounce; ``SpamComplaint`` -> complaint; ``SubscriptionChange`` with
``SuppressSending`` true -> unsubscribe (or hard_bounce / complaint when its
``SuppressionReason`` says so), false -> resubscribe. ``group`` is the
``MessageStream``. The idempotency key is ``MessageID`` and the record type
(``<MessageID>:<Type>``); a subscription change adds its direction and time,
since one message can be unsubscribed from and resubscribed to more than once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import msgspec

from consent_svc.domain.errors import InvalidInput
from consent_svc.integrations.common import email_or_none, parse_iso, sha256_hex
from consent_svc.integrations.errors import VerificationFailed
from consent_svc.integrations.model import Feedback, FeedbackKind, Ignored, Inbound, InboundRequest, PostmarkSettings

_NO_MESSAGE = {"", "00000000-0000-0000-0000-000000000000"}


@dataclass(frozen=True, slots=True)
class Credentials:
    """Generated basic-auth credentials: show the password once, keep ``password_sha256``."""

    username: str
    password: str = field(repr=False)

    @property
    def password_sha256(self) -> str:
        return hashlib.sha256(self.password.encode()).hexdigest()

    def webhook_url(self, inbound_url: str) -> str:
        """``inbound_url`` with the credentials in it, to paste into Postmark's Webhook URL field."""
        parts = urlsplit(inbound_url)
        netloc = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@{parts.netloc}"
        return urlunsplit(parts._replace(netloc=netloc))


def generate_credentials() -> Credentials:
    """A fresh username and a 256-bit password (URL-safe, so they fit in a URL unescaped)."""
    return Credentials(username="postmark-" + secrets.token_hex(6), password=secrets.token_urlsafe(32))


def check_credentials(authorization: str | None, settings: PostmarkSettings) -> None:
    """Refuse unless ``authorization`` is ``Basic`` with this integration's credentials (constant time)."""
    if not authorization:
        raise VerificationFailed("basic-auth credentials are required")
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise VerificationFailed("the Authorization header is not basic auth")
    try:
        username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise VerificationFailed("the basic-auth credentials are not base64 of user:password") from None
    user_ok = hmac.compare_digest(username.encode(), settings.username.encode())
    digest = hashlib.sha256(password.encode()).hexdigest()
    password_ok = hmac.compare_digest(digest.encode(), settings.password_sha256.lower().encode())
    if not (sep and user_ok and password_ok):
        raise VerificationFailed("the basic-auth credentials do not match")


def receive(request: InboundRequest, settings: PostmarkSettings) -> Inbound:
    check_credentials(request.header("Authorization"), settings)
    digest = sha256_hex(request.body)
    try:
        record = msgspec.json.decode(request.body)
    except msgspec.DecodeError:
        raise InvalidInput("a Postmark webhook body is a JSON object") from None
    if not isinstance(record, dict):
        raise InvalidInput("a Postmark webhook body is a JSON object")
    item = _map(record, digest)
    if isinstance(item, Ignored):
        return Inbound(provider="postmark", payload_sha256=digest, ignored=(item,))
    return Inbound(provider="postmark", payload_sha256=digest, feedback=(item,))


def _map(record: dict[str, Any], digest: str) -> Feedback | Ignored:
    record_type = record.get("RecordType")
    message_id = record.get("MessageID") if isinstance(record.get("MessageID"), str) else None
    stream = record.get("MessageStream") if isinstance(record.get("MessageStream"), str) else None
    kind: FeedbackKind
    if record_type in ("Bounce", "SpamComplaint"):
        bounce_type = record.get("Type")
        provider_event = f"{record_type}:{bounce_type}"
        if bounce_type == "HardBounce":
            kind = "hard_bounce"
        elif bounce_type in ("SoftBounce", "Transient"):
            kind = "soft_bounce"
        elif bounce_type == "SpamComplaint":
            kind = "complaint"
        else:
            return Ignored(
                provider="postmark",
                event_id=message_id,
                provider_event=provider_event[:60],
                reason=f"Postmark bounce type {bounce_type!s:.40} is not a hard bounce, soft bounce or complaint",
            )
        address = email_or_none(record.get("Email"))
        at = parse_iso(record["BouncedAt"]) if isinstance(record.get("BouncedAt"), str) else None
        bounce_id = record.get("ID")
        fallback = f"bounce-{bounce_id}" if isinstance(bounce_id, int) and not isinstance(bounce_id, bool) else None
        event_id = f"{_anchor(message_id, address, fallback)}:{bounce_type}"
    elif record_type == "SubscriptionChange":
        suppress = record.get("SuppressSending")
        reason = record.get("SuppressionReason")
        origin = record.get("Origin")
        provider_event = f"SubscriptionChange:{'suppress' if suppress else 'reactivate'}:{reason}:{origin}"[:80]
        if not isinstance(suppress, bool):
            return Ignored(
                provider="postmark",
                provider_event=provider_event,
                reason="SubscriptionChange without a boolean SuppressSending",
            )
        if not suppress:
            kind = "resubscribe"
        elif reason == "HardBounce":
            kind = "hard_bounce"
        elif reason == "SpamComplaint":
            kind = "complaint"
        else:
            kind = "unsubscribe"
        address = email_or_none(record.get("Recipient"))
        changed = record.get("ChangedAt")
        at = parse_iso(changed) if isinstance(changed, str) else None
        # One message can be unsubscribed from and resubscribed to again: the direction and
        # the time are part of the key. Without a message (a manual change), the address's
        # SHA-256 stands in for it, so two people changed at the same instant stay apart.
        direction = "suppress" if suppress else "reactivate"
        event_id = f"{_anchor(message_id, address, None)}:SubscriptionChange:{direction}:{changed}"
    else:
        return Ignored(
            provider="postmark",
            event_id=message_id,
            provider_event=str(record_type)[:40],
            reason=f"Postmark {record_type!s:.40} records carry no consent feedback",
        )
    if address is None:
        return Ignored(
            provider="postmark",
            event_id=event_id,
            provider_event=provider_event,
            reason="the record's address is not a valid email address",
        )
    if at is None:
        return Ignored(provider="postmark", event_id=event_id, provider_event=provider_event, reason="no valid time")
    return Feedback(
        provider="postmark",
        event_id=event_id,
        occurred_at=at,
        kind=kind,
        provider_event=provider_event,
        payload_sha256=digest,
        email=address,
        group=stream,
    )


def _anchor(message_id: str | None, address: str | None, fallback: str | None) -> str:
    """What an event id starts with: the MessageID, or (a manual change, the all-zero id of
    a test record) the bounce ID, or the SHA-256 of the address (never the address itself)."""
    if message_id and message_id not in _NO_MESSAGE:
        return message_id
    if fallback is not None:
        return fallback
    if address is not None:
        return "address-" + hashlib.sha256(address.encode()).hexdigest()[:32]
    return "no-message"
