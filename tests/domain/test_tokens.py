"""Unsubscribe tokens: round trip, rotation, tampering, no plaintext."""

from __future__ import annotations

import base64
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from consent_svc.domain.tokens import (
    NONCE_SECONDS,
    LinkClaims,
    LinkKind,
    TokenClaims,
    check_nonce,
    sign,
    sign_link,
    sign_nonce,
    verify,
    verify_link,
)

OLD, NEW = b"o" * 32, b"n" * 32
CLAIMS = TokenClaims(uuid.uuid4(), uuid.uuid4(), "newsletter")


def test_round_trip_with_and_without_purpose() -> None:
    assert verify([OLD], sign([OLD], CLAIMS)) == CLAIMS
    bare = TokenClaims(CLAIMS.tenant_id, CLAIMS.subject_id, None)
    assert verify([OLD], sign([OLD], bare)) == bare


def test_rotation_old_tokens_keep_working() -> None:
    old_token = sign([OLD], CLAIMS)
    assert verify([NEW, OLD], old_token) == CLAIMS  # during rotation
    assert verify([NEW], old_token) is None  # after the old key is dropped
    assert verify([NEW, OLD], sign([NEW, OLD], CLAIMS)) == CLAIMS


def test_every_flipped_byte_and_every_cut_is_refused() -> None:
    token = sign([OLD], CLAIMS)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            changed = bytearray(raw)
            changed[i] ^= bit
            forged = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
            assert verify([OLD], forged) is None, i
    for cut in range(len(token)):
        assert verify([OLD], token[:cut]) is None


@settings(max_examples=500)
@given(st.text(max_size=120))
def test_random_strings_are_never_tokens(text: str) -> None:
    assert verify([OLD], text) is None


def test_no_plaintext_in_the_token() -> None:
    token = sign([OLD], CLAIMS)
    assert "newsletter" not in token
    assert "@" not in token


def test_form_nonce_expires_after_an_hour_to_the_second() -> None:
    token = sign([OLD], CLAIMS)
    nonce = sign_nonce([OLD], token, now=1_000_000)
    assert check_nonce([OLD], token, nonce, now=1_000_000) == "valid"
    assert check_nonce([OLD], token, nonce, now=1_000_000 + NONCE_SECONDS - 1) == "valid"
    assert check_nonce([OLD], token, nonce, now=1_000_000 + NONCE_SECONDS) == "expired"
    assert check_nonce([NEW, OLD], token, nonce, now=1_000_000) == "valid"  # during a key rotation
    assert check_nonce([NEW], token, nonce, now=1_000_000) == "invalid"


def test_form_nonce_is_bound_to_its_link_and_refuses_any_change() -> None:
    token = sign([OLD], CLAIMS)
    other = sign([OLD], TokenClaims(CLAIMS.tenant_id, CLAIMS.subject_id, None))
    nonce = sign_nonce([OLD], token, now=0)
    assert check_nonce([OLD], other, nonce, now=0) == "invalid"
    raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    for i in range(len(raw)):  # a later expiry, or any other change, breaks the MAC
        changed = bytearray(raw)
        changed[i] ^= 0x01
        flipped = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
        assert check_nonce([OLD], token, flipped, now=0) == "invalid"
    for bad in (None, "", "x", nonce[:-1], nonce + "AAAA", "é" * 30, "A" * 1000):
        assert check_nonce([OLD], token, bad, now=0) == "invalid"


# --- links that record a consent: double opt-in confirmation and re-permission (issue 17) ---

LINK = LinkClaims(uuid.uuid4(), uuid.uuid4(), 1_900_000_000)


def test_link_round_trip_and_rotation() -> None:
    kinds: tuple[LinkKind, ...] = ("confirm", "reconsent")
    for kind in kinds:
        token = sign_link([OLD], kind, LINK)
        assert verify_link([OLD], kind, token) == LINK
        assert verify_link([NEW, OLD], kind, token) == LINK
        assert verify_link([NEW], kind, token) is None


def test_a_link_of_one_kind_is_no_good_as_another_nor_as_an_unsubscribe_token() -> None:
    confirm = sign_link([OLD], "confirm", LINK)
    assert verify_link([OLD], "reconsent", confirm) is None
    assert verify([OLD], confirm) is None
    assert verify_link([OLD], "confirm", sign([OLD], CLAIMS)) is None


def test_every_flipped_byte_and_every_cut_of_a_link_is_refused() -> None:
    token = sign_link([OLD], "confirm", LINK)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            changed = bytearray(raw)
            changed[i] ^= bit
            forged = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
            assert verify_link([OLD], "confirm", forged) is None, i
    for cut in range(len(token)):
        assert verify_link([OLD], "confirm", token[:cut]) is None
    assert verify_link([OLD], "confirm", token + "A") is None


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_random_strings_are_never_links(text: str) -> None:
    assert verify_link([OLD], "confirm", text) is None
