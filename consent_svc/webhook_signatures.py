"""Webhook signatures, for consent-svc and for the services that receive its webhooks.

Every delivery carries ``Consent-Signature: t=<unix seconds>,v1=<hex>`` where
``hex`` is HMAC-SHA256 of ``f"{t}.{body}"`` with the webhook's secret, and
``Consent-Event-Id``, the message id (the same on every retry: deduplicate on
it). A receiver checks the signature and the age, for example with Starlette
or litestar::

    from consent_svc.webhook_signatures import SignatureError, verify

    async def receive(request):
        body = await request.body()
        try:
            verify(SECRET, request.headers.get("Consent-Signature", ""), body)
        except SignatureError:
            return Response(status_code=400)
        message = json.loads(body)
        if already_seen(message["id"]):
            return Response(status_code=200)   # a retry of something handled
        handle(message)                        # e.g. suppress message["data"]["email"]
        return Response(status_code=200)

This module has no dependencies beyond the standard library, so a receiver can
copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature is missing, malformed, wrong, or too old (a possible replay)."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Consent-Signature`` header value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = TOLERANCE_SECONDS
) -> int:
    """Check a ``Consent-Signature`` header; return its timestamp or raise :class:`SignatureError`.

    Rejects signatures older (or newer) than ``tolerance`` seconds, so a captured
    request cannot be replayed later.
    """
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("no timestamp in the signature header") from None
    current = time.time() if now is None else now
    if abs(current - t) > tolerance:
        raise SignatureError("the signature is too old or from the future (possible replay)")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("the signature does not match")
    return t
