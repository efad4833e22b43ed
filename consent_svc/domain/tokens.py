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
from typing import Literal
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


# Form nonces: the preference page's form carries one, so that a re-subscribe is
# sent by a page the service served for this link not long ago. No server state:
#
#     nonce = base64url( 0x01 || expires (unix seconds, 8 bytes big-endian) || HMAC-SHA256(key, ...)[:16] )
#
# The MAC covers the token as well, so a nonce read off one link's page is no
# good for another link. Signed with the first token key, verified with any.
NONCE_VERSION = b"\x01"
NONCE_SECONDS = 3600
_NONCE_BYTES = 1 + 8 + MAC_BYTES

NonceState = Literal["valid", "expired", "invalid"]


def _nonce_mac(key: bytes, token: str, head: bytes) -> bytes:
    return hmac.digest(key, b"consent-svc form nonce v1|" + head + b"|" + token.encode(), "sha256")[:MAC_BYTES]


def sign_nonce(keys: Sequence[bytes], token: str, now: int, seconds: int = NONCE_SECONDS) -> str:
    """A nonce for ``token``'s form, good until ``now + seconds`` (unix seconds)."""
    head = NONCE_VERSION + (now + seconds).to_bytes(8, "big")
    return base64.urlsafe_b64encode(head + _nonce_mac(keys[0], token, head)).decode().rstrip("=")


def check_nonce(keys: Sequence[bytes], token: str, nonce: str | None, now: int) -> NonceState:
    """``valid``; ``expired`` (genuine, for this token, but too old); or ``invalid``
    (missing, altered, or another link's)."""
    if not nonce or len(nonce) > 64:
        return "invalid"
    try:
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    except (binascii.Error, ValueError):
        return "invalid"
    if len(raw) != _NONCE_BYTES or raw[:1] != NONCE_VERSION:
        return "invalid"
    head, mac = raw[:9], raw[9:]
    if not any(hmac.compare_digest(_nonce_mac(key, token, head), mac) for key in keys):
        return "invalid"
    return "valid" if now < int.from_bytes(head[1:], "big") else "expired"


# Links that record a consent: the double opt-in confirmation (``/c/``) and the
# re-permission link (``/r/``). Signed like the unsubscribe tokens, but each kind with
# a MAC domain of its own (a token of one kind is no good as another), and expiring:
#
#     token = base64url( payload || HMAC-SHA256(key, kind || payload)[:16] )
#     payload = 0x01 || tenant id (16 bytes) || link id (16 bytes) || expires (unix seconds, 8 bytes)
#
# Single use is the store's business (the sign-up's status, the link's ``used_at``);
# the expiry is in the token too, so an expired link is told apart from an unknown one
# even after the store forgot it.
LinkKind = Literal["confirm", "reconsent"]
_LINK_PAYLOAD = 1 + 16 + 16 + 8


@dataclass(frozen=True, slots=True)
class LinkClaims:
    tenant_id: UUID
    id: UUID
    expires: int  # unix seconds


def _link_mac(key: bytes, kind: LinkKind, payload: bytes) -> bytes:
    return hmac.digest(key, f"consent-svc {kind} link v1|".encode() + payload, "sha256")[:MAC_BYTES]


def sign_link(keys: Sequence[bytes], kind: LinkKind, claims: LinkClaims) -> str:
    payload = VERSION + claims.tenant_id.bytes + claims.id.bytes + claims.expires.to_bytes(8, "big")
    return base64.urlsafe_b64encode(payload + _link_mac(keys[0], kind, payload)).rstrip(b"=").decode()


def verify_link(keys: Sequence[bytes], kind: LinkKind, token: str) -> LinkClaims | None:
    """The claims of a genuine token of ``kind`` (expired or not: the caller compares), or None."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _LINK_PAYLOAD + MAC_BYTES or raw[:1] != VERSION:
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not any(hmac.compare_digest(_link_mac(key, kind, payload), mac) for key in keys):
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        return None
    return LinkClaims(UUID(bytes=payload[1:17]), UUID(bytes=payload[17:33]), int.from_bytes(payload[33:41], "big"))
