"""The values the integrations package takes and returns (frozen msgspec Structs).

Inbound: an ``InboundRequest`` (the raw request as the provider sent it) goes
in; an ``Inbound`` comes out, holding one ``Feedback`` per event that maps to
a consent effect and one ``Ignored`` per event that does not. Nothing here
holds the raw body: only its SHA-256 (``payload_sha256``), which every
feedback item carries as proof.

Feedback items hold a normalized address (``email`` or ``phone``): personal
data. Their ``repr`` masks it, so a traceback or a log line never shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import msgspec

Provider = Literal["ses", "sendgrid", "postmark", "mailgun", "twilio"]
PROVIDERS: tuple[Provider, ...] = ("ses", "sendgrid", "postmark", "mailgun", "twilio")

FeedbackKind = Literal[
    "hard_bounce",  # permanent delivery failure: suppression ``hard_bounce``, scope all
    "soft_bounce",  # temporary failure: counted, never suppressed
    "complaint",  # marked as spam: suppression ``complaint`` and an objection
    "unsubscribe",  # a provider-side unsubscribe, for a group or for everything
    "resubscribe",  # a provider-side resubscribe: lifts what this integration created
    "sms_stop",  # an SMS opt-out keyword (STOP, STOPP ...)
    "sms_start",  # an SMS opt-in keyword (START, UNSTOP)
]
FEEDBACK_KINDS: tuple[FeedbackKind, ...] = (
    "hard_bounce",
    "soft_bounce",
    "complaint",
    "unsubscribe",
    "resubscribe",
    "sms_stop",
    "sms_start",
)


class Feedback(msgspec.Struct, frozen=True, kw_only=True):
    """One provider event that has a consent effect, normalized.

    ``event_id`` is the idempotency key within the provider (SNS MessageId,
    ``sg_event_id``, Mailgun event id, Postmark MessageID + type, Twilio
    MessageSid; unique per item: an SES notification naming several recipients
    gives ``<MessageId>:<n>`` for each). ``group`` is the provider's group,
    stream or list id the event concerns (SendGrid ``asm_group_id``, Postmark
    ``MessageStream``, SES configuration set, Mailgun mailing list, Twilio
    Messaging Service), or None. ``provider_event`` is the provider's own name
    for what happened (for the proof, never an address).
    """

    provider: Provider
    event_id: str
    occurred_at: datetime
    kind: FeedbackKind
    provider_event: str
    payload_sha256: str
    email: str | None = None
    phone: str | None = None
    group: str | None = None

    def __repr__(self) -> str:  # the address is personal data: keep it out of logs and tracebacks
        who = "email=***" if self.email is not None else "phone=***" if self.phone is not None else "no address"
        return (
            f"Feedback(provider={self.provider!r}, event_id={self.event_id!r}, kind={self.kind!r}, "
            f"provider_event={self.provider_event!r}, group={self.group!r}, {who})"
        )

    __str__ = __repr__


class Ignored(msgspec.Struct, frozen=True, kw_only=True):
    """An event in a verified payload that has no consent effect, and why (never an address)."""

    provider: Provider
    reason: str
    event_id: str | None = None
    provider_event: str | None = None


class Inbound(msgspec.Struct, frozen=True, kw_only=True):
    """What a verified payload says.

    ``subscribe_url``: for an SNS SubscriptionConfirmation only, the URL to GET
    to confirm the subscription (``sns.confirm_subscription`` does it); already
    checked to be on an ``sns.<region>.amazonaws.com`` host over https.
    ``replay_token``: Mailgun only, the signature's token: Mailgun signs the
    timestamp and the token, not the event, so the receiver must let each token
    vouch for one payload only (a captured signature with another body is a forgery).
    """

    provider: Provider
    payload_sha256: str
    feedback: tuple[Feedback, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    subscribe_url: str | None = None
    replay_token: str | None = None


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A request as it reached ``POST /in/{integration_id}``.

    ``url``: the full URL the provider was told to call, with its query string
    (Twilio signs it; it is the integration's ``inbound_url``). ``headers``:
    any mapping; names are matched without regard to case. ``body``: the raw
    bytes, exactly as received (signatures cover them).
    """

    url: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        if value is not None:
            return value
        wanted = name.lower()
        for key, item in self.headers.items():
            if key.lower() == wanted:
                return item
        return None


# ---------------------------------------------------------------------------
# Settings, one Struct per provider. Inbound fields first; the fields after
# "suppressions out" are needed only with ``sync_suppressions``.
# ``settings.validate_settings`` builds them from the API's JSON and says
# which fields are secret (write-only).
# ---------------------------------------------------------------------------


class SesSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    topic_arns: tuple[str, ...]
    signing_certificate_pem: str | None = None  # pinned: verify against this, fetch nothing
    # suppressions out (SES v2 account-level suppression list)
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    api_base_url: str | None = None

    def __repr__(self) -> str:
        return f"SesSettings(topic_arns={self.topic_arns!r}, region={self.region!r}, ***)"


class SendGridSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    verification_key: str  # the Event Webhook's public key, base64 DER as the console shows it
    # suppressions out
    api_key: str | None = None
    api_base_url: str | None = None

    def __repr__(self) -> str:
        return "SendGridSettings(***)"


class MailgunSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    signing_key: str  # the HTTP webhook signing key
    # suppressions out
    api_key: str | None = None
    domain: str | None = None
    api_base_url: str | None = None

    def __repr__(self) -> str:
        return f"MailgunSettings(domain={self.domain!r}, ***)"


class TwilioSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    auth_token: str

    def __repr__(self) -> str:
        return "TwilioSettings(***)"


class PostmarkSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Basic-auth credentials generated by consent-svc (postmark.generate_credentials);
    # only the SHA-256 of the password is kept.
    username: str
    password_sha256: str
    # suppressions out
    server_token: str | None = None
    api_base_url: str | None = None

    def __repr__(self) -> str:
        return f"PostmarkSettings(username={self.username!r}, ***)"


Settings = SesSettings | SendGridSettings | MailgunSettings | TwilioSettings | PostmarkSettings

SETTINGS_TYPES: dict[Provider, type[Settings]] = {
    "ses": SesSettings,
    "sendgrid": SendGridSettings,
    "mailgun": MailgunSettings,
    "twilio": TwilioSettings,
    "postmark": PostmarkSettings,
}
