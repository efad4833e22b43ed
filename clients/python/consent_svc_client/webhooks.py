"""Verifying consent-svc webhook deliveries (docs/webhooks.md).

Every delivery carries ``Consent-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 of ``"<t>." + body`` with the webhook's secret. :func:`verify` checks it against the
raw body (before any JSON parsing), refuses a timestamp more than ``tolerance`` seconds away (a
replay), and answers the parsed message.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

import msgspec

from consent_svc_client.errors import WebhookSignatureError
from consent_svc_client.models import WebhookMessage

SIGNATURE_HEADER = "Consent-Signature"
TOLERANCE_SECONDS = 300
_decoder = msgspec.json.Decoder(WebhookMessage)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> WebhookMessage:
    """Check a delivery's signature and age; answer its message or raise WebhookSignatureError.

    ``headers`` is any mapping of the request's headers (looked up without regard to case);
    ``body`` the raw bytes as received."""
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header")
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    try:
        t = int(timestamps[0])
    except (IndexError, ValueError):
        raise WebhookSignatureError("no timestamp in the signature header") from None
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        raise WebhookSignatureError("the signature is too old or from the future (possible replay)")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates):
        raise WebhookSignatureError("the signature does not match")
    try:
        return _decoder.decode(body)
    except msgspec.MsgspecError as exc:
        raise WebhookSignatureError(f"the signed body is not a webhook message: {exc}") from None
