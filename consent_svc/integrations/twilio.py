"""Twilio inbound SMS: verify ``X-Twilio-Signature``, read an opt-out or opt-in keyword.

Webhook security (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
the signature is the base64 HMAC-SHA1, keyed with the account's auth token, of
the full URL Twilio called (with its query string) followed by every POST
parameter, sorted by name, each as name then value with no separator. Twilio's
own validators also accept the URL with the default port added or removed
(https :443), since what Twilio signs depends on how the URL was configured;
so does this one. The request carries no timestamp, so there is no staleness
check: the idempotency key (``MessageSid``) is what stops a replay from acting
twice.

The request (https://www.twilio.com/docs/messaging/guides/webhook-request) is
form-encoded. Its ``Body``, trimmed and compared without regard to case, is an
opt-out keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, and the Swedish
STOPP) -> sms_stop, or an opt-in keyword (START, UNSTOP) -> sms_start, for the
number in ``From``. Any other text is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from consent_svc.integrations.common import phone_or_none, sha256_hex
from consent_svc.integrations.errors import VerificationFailed
from consent_svc.integrations.model import Feedback, FeedbackKind, Ignored, Inbound, InboundRequest, TwilioSettings

SIGNATURE_HEADER = "X-Twilio-Signature"
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOPP"})
START_KEYWORDS = frozenset({"START", "UNSTOP"})


def signature_for(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """A repeated parameter counts once per distinct value, its values sorted: what Twilio's
    own validators do (the documentation describes single-valued parameters only)."""
    data = url + "".join(name + value for name, value in sorted(set(params)))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, and with its scheme's default port added or removed."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or parts.hostname is None:
        return [url]
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port is None:
        other = urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default}"))
    elif port == default:
        other = urlunsplit(parts._replace(netloc=userinfo + host.rsplit(":", 1)[0]))
    else:
        return [url]
    return [url, other]


def parse_form(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationFailed("the body is not a UTF-8 form") from None
    return parse_qsl(text, keep_blank_values=True)


def verify(request: InboundRequest, settings: TwilioSettings) -> list[tuple[str, str]]:
    """The verified form parameters."""
    given = request.header(SIGNATURE_HEADER)
    if not given:
        raise VerificationFailed(f"{SIGNATURE_HEADER} is required")
    params = parse_form(request.body)
    for url in url_variants(request.url):
        expected = signature_for(settings.auth_token, url, params)
        if hmac.compare_digest(expected.encode(), given.strip().encode()):
            return params
    raise VerificationFailed("the Twilio signature does not match")


def receive(request: InboundRequest, settings: TwilioSettings, now: datetime) -> Inbound:
    """``now`` is the event's time: an inbound SMS webhook carries none of its own."""
    params = verify(request, settings)
    digest = sha256_hex(request.body)
    fields = dict(params)
    sid = fields.get("MessageSid") or fields.get("SmsSid") or None
    keyword = fields.get("Body", "").strip().upper()
    kind: FeedbackKind
    if keyword in STOP_KEYWORDS:
        kind = "sms_stop"
    elif keyword in START_KEYWORDS:
        kind = "sms_start"
    else:
        # The text of an ordinary message is the sender's: never echo it.
        return _ignore(digest, sid, None, "the message is not an opt-out or opt-in keyword")
    if sid is None:
        return _ignore(digest, None, keyword, "the request has no MessageSid")
    sender = fields.get("From", "")
    if ":" in sender:  # whatsapp:+46..., messenger:...: another channel than SMS
        return _ignore(digest, sid, keyword, f"the sender is on {sender.split(':', 1)[0]:.20}, not SMS")
    phone = phone_or_none(sender)
    if phone is None:
        return _ignore(digest, sid, keyword, "From is not a valid phone number")
    feedback = Feedback(
        provider="twilio",
        event_id=sid,
        occurred_at=now,
        kind=kind,
        provider_event=keyword,
        payload_sha256=digest,
        phone=phone,
        group=fields.get("MessagingServiceSid") or None,
    )
    return Inbound(provider="twilio", payload_sha256=digest, feedback=(feedback,))


def _ignore(digest: str, sid: str | None, keyword: str | None, reason: str) -> Inbound:
    item = Ignored(provider="twilio", event_id=sid, provider_event=keyword, reason=reason)
    return Inbound(provider="twilio", payload_sha256=digest, ignored=(item,))
