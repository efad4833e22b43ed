"""Amazon SES feedback through Amazon SNS: verify the SNS message, read the SES notification.

SNS posts a JSON document (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
Its ``Signature`` is an RSA PKCS#1 v1.5 signature (``SignatureVersion`` 1:
SHA1withRSA; 2: SHA256withRSA) over the "string to sign": for each of these
keys present in the message, in this (byte) order, the key, a newline, the
value, a newline:

- Notification: Message, MessageId, Subject (only when present), Timestamp, TopicArn, Type
- SubscriptionConfirmation / UnsubscribeConfirmation: Message, MessageId,
  SubscribeURL, Timestamp, Token, TopicArn, Type

The public key is in the X.509 certificate at ``SigningCertURL``, which must be
an https URL on an ``sns.<region>.amazonaws.com`` host (``.amazonaws.com.cn``
in the China regions) of the topic's own region; ``SnsCertificates`` fetches it
through the injected httpx client and keeps it by URL. An integration may pin
a certificate (PEM) instead: then nothing is fetched.

Checks run cheapest first, so an unknown topic or a foreign certificate host is
refused before any network request: message shape, ``TopicArn`` in the allowed
list, certificate URL host, ``Timestamp`` within 5 minutes, then the signature.

The SES notification is the ``Message`` (a JSON string): ``Bounce`` with
``bounceType`` Permanent (-> hard_bounce) or Transient (-> soft_bounce) for each
of ``bouncedRecipients``; ``Complaint`` (-> complaint) for each of
``complainedRecipients``, unless its feedback type is ``not-spam``. SES event
publishing (``eventType`` instead of ``notificationType``) has the same shape.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections import OrderedDict
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from consent_svc.integrations.common import check_fresh, email_or_none, parse_iso, sha256_hex
from consent_svc.integrations.errors import CertificateUnavailable, VerificationFailed
from consent_svc.integrations.model import Feedback, FeedbackKind, Ignored, Inbound, InboundRequest, SesSettings

MessageType = Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")

# sns.<region>.amazonaws.com, or .amazonaws.com.cn in the China regions. A region is
# letters-dash-letters...-digits: us-east-1, eu-north-1, us-gov-west-1, cn-north-1.
_SNS_HOST = re.compile(r"sns\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?")
_TOPIC_ARN = re.compile(
    r"arn:aws(?:-cn|-us-gov)?:sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:[A-Za-z0-9_.-]{1,256}"
)
_MAX_CERTIFICATE_BYTES = 32_768


def topic_region(topic_arn: str) -> str | None:
    match = _TOPIC_ARN.fullmatch(topic_arn)
    return match["region"] if match else None


def sns_host_region(url: str) -> str | None:
    """The region of an https URL on an SNS host (``sns.<region>.amazonaws.com``), else None.

    Refuses anything a URL parser could read two ways: user info, a port other
    than 443, backslashes, whitespace or other non-printable characters.
    """
    if not url.isascii() or not url.isprintable() or "\\" in url or " " in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or "@" in parts.netloc or port not in (None, 443) or parts.hostname is None:
        return None
    match = _SNS_HOST.fullmatch(parts.hostname)
    return match["region"] if match else None


def certificate_url_ok(url: str, region: str) -> bool:
    """An SNS signing-certificate URL of ``region``: https, an SNS host, a ``.pem`` path, no query."""
    if sns_host_region(url) != region:
        return False
    parts = urlsplit(url)
    return parts.path.endswith(".pem") and not parts.query and not parts.fragment


def string_to_sign(message: dict[str, Any], message_type: MessageType) -> bytes:
    keys = NOTIFICATION_KEYS if message_type == "Notification" else CONFIRMATION_KEYS
    parts: list[str] = []
    for key in keys:
        value = message.get(key)
        if value is None and key == "Subject":
            continue
        if not isinstance(value, str):
            raise VerificationFailed(f"SNS message has no {key}")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode()


def load_certificate(pem: bytes, now: datetime) -> RSAPublicKey:
    """The RSA public key of a PEM certificate that is valid at ``now``."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise VerificationFailed("the SNS signing certificate is not a PEM X.509 certificate") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise VerificationFailed("the SNS signing certificate is not valid at this time")
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise VerificationFailed("the SNS signing certificate does not hold an RSA key")
    return key


class SnsCertificates:
    """SNS signing certificates, fetched through ``client`` and kept by URL.

    One fetch per URL: concurrent requests for the same certificate share it.
    Only https URLs on an SNS host are fetched (the caller checks, and so does
    this class); redirects are not followed; at most 32 KB is read. A fetch
    that fails raises ``CertificateUnavailable`` and is tried again next time.
    A certificate past its validity is fetched again.
    """

    def __init__(self, client: httpx.AsyncClient, *, max_entries: int = 64, timeout: float = 5.0) -> None:
        self._client = client
        self._max_entries = max_entries
        self._timeout = timeout
        self._pem: OrderedDict[str, bytes] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        self.fetches = 0  # how many certificates were fetched (tests and metrics)

    async def public_key(self, url: str, now: datetime) -> RSAPublicKey:
        if sns_host_region(url) is None:
            raise VerificationFailed("SigningCertURL is not an https URL on an SNS host")
        pem = self._pem.get(url)
        if pem is not None:
            try:
                return load_certificate(pem, now)
            except VerificationFailed:
                self._pem.pop(url, None)  # expired: fetch it again
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.ensure_future(self._fetch(url))
            self._inflight[url] = task
            task.add_done_callback(lambda _t: self._inflight.pop(url, None))
        pem = await asyncio.shield(task)
        key = load_certificate(pem, now)
        self._pem[url] = pem
        self._pem.move_to_end(url)
        while len(self._pem) > self._max_entries:
            self._pem.popitem(last=False)
        return key

    async def _fetch(self, url: str) -> bytes:
        self.fetches += 1
        try:
            async with self._client.stream("GET", url, timeout=self._timeout, follow_redirects=False) as response:
                if response.status_code != 200:
                    raise CertificateUnavailable(f"SNS answered {response.status_code} for the signing certificate")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_CERTIFICATE_BYTES:
                        raise CertificateUnavailable("the SNS signing certificate is larger than 32 KB")
                return body
        except httpx.HTTPError as exc:
            raise CertificateUnavailable(f"could not fetch the SNS signing certificate: {type(exc).__name__}") from None


def _decode(body: bytes) -> dict[str, Any]:
    try:
        message = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise VerificationFailed("the body is not an SNS message (not JSON)") from None
    if not isinstance(message, dict):
        raise VerificationFailed("the body is not an SNS message")
    return message


async def verify(
    request: InboundRequest,
    settings: SesSettings,
    now: datetime,
    certificates: SnsCertificates | None,
) -> tuple[dict[str, Any], MessageType]:
    """The verified SNS message and its type; ``VerificationFailed`` otherwise."""
    message = _decode(request.body)
    message_type = message.get("Type")
    if message_type not in ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"):
        raise VerificationFailed("the body is not an SNS message (unknown Type)")
    header = request.header("x-amz-sns-message-type")
    if header is not None and header != message_type:
        raise VerificationFailed("x-amz-sns-message-type does not match the message's Type")
    topic = message.get("TopicArn")
    if not isinstance(topic, str) or topic not in settings.topic_arns:
        raise VerificationFailed("TopicArn is not one of this integration's topics")
    region = topic_region(topic)
    if region is None:
        raise VerificationFailed("TopicArn is not an SNS topic ARN")
    cert_url = message.get("SigningCertURL")
    if not isinstance(cert_url, str) or not certificate_url_ok(cert_url, region):
        raise VerificationFailed("SigningCertURL is not an https .pem URL on the topic region's SNS host")
    timestamp = message.get("Timestamp")
    at = parse_iso(timestamp) if isinstance(timestamp, str) else None
    if at is None:
        raise VerificationFailed("SNS message has no valid Timestamp")
    check_fresh(at, now, what="SNS Timestamp")
    version = message.get("SignatureVersion")
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is SHA1withRSA by definition
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise VerificationFailed("SignatureVersion is neither 1 nor 2")
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (binascii.Error, TypeError):
        raise VerificationFailed("Signature is not base64") from None
    data = string_to_sign(message, message_type)
    if settings.signing_certificate_pem is not None:
        key = load_certificate(settings.signing_certificate_pem.encode(), now)
    elif certificates is not None:
        key = await certificates.public_key(cert_url, now)
    else:
        raise VerificationFailed("no SNS certificate source (neither pinned nor fetchable)")
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise VerificationFailed("the SNS signature does not match") from None
    return message, message_type


async def receive(
    request: InboundRequest,
    settings: SesSettings,
    now: datetime,
    certificates: SnsCertificates | None,
) -> Inbound:
    message, message_type = await verify(request, settings, now, certificates)
    digest = sha256_hex(request.body)
    message_id = message.get("MessageId")
    event_id = message_id if isinstance(message_id, str) else None
    if message_type == "SubscriptionConfirmation":
        url = message.get("SubscribeURL")
        region = topic_region(message["TopicArn"])
        if not isinstance(url, str) or region is None or sns_host_region(url) != region:
            raise VerificationFailed("SubscribeURL is not an https URL on the topic region's SNS host")
        return Inbound(provider="ses", payload_sha256=digest, subscribe_url=url)
    if message_type == "UnsubscribeConfirmation":
        ignored = Ignored(
            provider="ses",
            event_id=event_id,
            provider_event=message_type,
            reason="SNS confirms that this endpoint was unsubscribed from the topic",
        )
        return Inbound(provider="ses", payload_sha256=digest, ignored=(ignored,))
    assert event_id is not None  # part of the signed string
    feedback, ignored_items = parse_notification(message, event_id, digest)
    return Inbound(provider="ses", payload_sha256=digest, feedback=feedback, ignored=ignored_items)


def parse_notification(
    envelope: dict[str, Any], message_id: str, digest: str
) -> tuple[tuple[Feedback, ...], tuple[Ignored, ...]]:
    """The feedback in an SES notification carried by a verified SNS Notification."""

    def ignore(reason: str, provider_event: str | None = None) -> tuple[tuple[Feedback, ...], tuple[Ignored, ...]]:
        return (), (Ignored(provider="ses", event_id=message_id, provider_event=provider_event, reason=reason),)

    try:
        notification = msgspec.json.decode(envelope["Message"])
    except msgspec.DecodeError:
        return ignore("the SNS message is not an SES notification (not JSON)")
    if not isinstance(notification, dict):
        return ignore("the SNS message is not an SES notification")
    kind_name = notification.get("notificationType") or notification.get("eventType")
    if not isinstance(kind_name, str):
        return ignore("the SNS message is not an SES notification (no notificationType)")
    mail = notification.get("mail")
    group = _configuration_set(mail) if isinstance(mail, dict) else None
    sns_at = parse_iso(envelope["Timestamp"])
    assert sns_at is not None  # verified
    kind: FeedbackKind
    if kind_name == "Bounce":
        detail = notification.get("bounce")
        if not isinstance(detail, dict):
            return ignore("SES bounce without a bounce object", kind_name)
        bounce_type = detail.get("bounceType")
        provider_event = f"Bounce:{bounce_type}:{detail.get('bounceSubType')}"
        if bounce_type == "Permanent":
            kind = "hard_bounce"
        elif bounce_type == "Transient":
            kind = "soft_bounce"
        else:
            return ignore(f"SES bounce of type {bounce_type!s:.40}: neither Permanent nor Transient", provider_event)
        recipients = detail.get("bouncedRecipients")
    elif kind_name == "Complaint":
        detail = notification.get("complaint")
        if not isinstance(detail, dict):
            return ignore("SES complaint without a complaint object", kind_name)
        feedback_type = detail.get("complaintFeedbackType")
        provider_event = f"Complaint:{feedback_type}" if feedback_type else "Complaint"
        if feedback_type == "not-spam":
            return ignore("the recipient reported the message as not spam", provider_event)
        kind = "complaint"
        recipients = detail.get("complainedRecipients")
    else:
        return ignore(f"SES {kind_name:.40} notifications carry no consent feedback", kind_name)
    at = parse_iso(detail["timestamp"]) if isinstance(detail.get("timestamp"), str) else None
    occurred_at = at or sns_at
    if not isinstance(recipients, list) or not recipients:
        return ignore("SES notification names no recipients", provider_event)
    addresses: list[str | None] = []
    for recipient in recipients:
        raw = recipient.get("emailAddress") if isinstance(recipient, dict) else None
        addresses.append(email_or_none(raw))
    feedback: list[Feedback] = []
    ignored: list[Ignored] = []
    seen: set[str] = set()
    for index, address in enumerate(addresses):
        item_id = message_id if len(addresses) == 1 else f"{message_id}:{index}"
        if address is None:
            ignored.append(
                Ignored(
                    provider="ses",
                    event_id=item_id,
                    provider_event=provider_event,
                    reason="the recipient is not a valid email address",
                )
            )
            continue
        if address in seen:
            continue
        seen.add(address)
        feedback.append(
            Feedback(
                provider="ses",
                event_id=item_id,
                occurred_at=occurred_at,
                kind=kind,
                provider_event=provider_event,
                payload_sha256=digest,
                email=address,
                group=group,
            )
        )
    return tuple(feedback), tuple(ignored)


def _configuration_set(mail: dict[str, Any]) -> str | None:
    tags = mail.get("tags")
    if isinstance(tags, dict):
        names = tags.get("ses:configuration-set")
        if isinstance(names, list) and names and isinstance(names[0], str):
            return names[0]
    return None


async def confirm_subscription(client: httpx.AsyncClient, subscribe_url: str) -> None:
    """Confirm an SNS subscription: GET its SubscribeURL (checked again to be on an SNS host).

    ``VerificationFailed`` for a URL off SNS; ``httpx.HTTPError``, or
    ``RuntimeError`` for an answer other than 200, when the confirmation did
    not go through (SNS sends the SubscriptionConfirmation again later).
    """
    if sns_host_region(subscribe_url) is None:
        raise VerificationFailed("SubscribeURL is not an https URL on an SNS host")
    response = await client.get(subscribe_url, timeout=10.0, follow_redirects=False)
    if response.status_code != 200:
        raise RuntimeError(f"SNS answered {response.status_code} to the subscription confirmation")
