"""Unsubscribe tokens: opaque, signed, rotatable, and without any plaintext identifier.

    token = base64url( payload || HMAC-SHA256(key, payload)[:16] )
    payload = 0x01 || tenant id (16 bytes) || subject id (16 bytes) || purpose key (UTF-8, may be empty)

The first key signs; every configured key verifies, so keys can be rotated
while old emails keep working. Tokens do not expire: an unsubscribe link in a
years-old email must still work. Any change to a token (a flipped byte, a cut)
makes it unknown, and an unknown token reveals nothing about why.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

VERSION = b"\x01"
MAC_BYTES = 16
MAX_TOKEN_CHARS = 200


@dataclass(frozen=True, slots=True)
class TokenClaims:
    tenant_id: UUID
    subject_id: UUID
    purpose: str | None


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.digest(key, b"consent-svc unsubscribe v1|" + payload, "sha256")[:MAC_BYTES]


def sign(keys: Sequence[bytes], claims: TokenClaims) -> str:
    payload = VERSION + claims.tenant_id.bytes + claims.subject_id.bytes + (claims.purpose or "").encode()
    raw = payload + _mac(keys[0], payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def verify(keys: Sequence[bytes], token: str) -> TokenClaims | None:
    """The claims of a genuine token, or None for anything else."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 1 + 32 + MAC_BYTES or raw[:1] != VERSION:
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not any(hmac.compare_digest(_mac(key, payload), mac) for key in keys):
        return None
    # A signed token is ours, but re-encode to refuse non-canonical spellings of it.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        return None
    try:
        purpose = payload[33:].decode() or None
    except UnicodeDecodeError:
        return None
    return TokenClaims(UUID(bytes=payload[1:17]), UUID(bytes=payload[17:33]), purpose)
