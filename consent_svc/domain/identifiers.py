"""Identifiers: normalization and keyed hashing (decision-rules.md, "Identifiers and privacy").

An email is trimmed, put in Unicode NFC, lowercased as a whole and its domain
IDNA-encoded; there is no provider-specific rewriting (dots, +tags), because
two spellings that reach different mailboxes must stay different. A phone
number becomes E.164. An external id (the tenant's CRM id) is trimmed and
otherwise kept as given. A Swedish personal identity number (personnummer or
samordningsnummer, consent_svc.domain.personnummer) becomes its twelve digits,
and is held *only* as its keyed hash: never in plain text in the database, a
log line or an error message (DSL 3 kap. 10 §, docs/personal-numbers.md).

The look-up key of every identifier is HMAC-SHA256(pepper, "<type>:<value>"):
without the pepper, a keyed hash in a database dump cannot be tied to an
address. (An erased person's email entries also keep the unkeyed SHA-256 that
providers match on: whoever already has the address can recognise it.) The plaintext of
people the tenant still holds is in ``subject_identifiers.value`` and on their
suppression entries, so a dump does reveal them (docs/operations.md, "Security
model", says what a dump holds). The type prefix keeps an
external id that happens to look like an email from colliding with it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from consent_svc.domain.errors import InvalidIdentifier
from consent_svc.domain.personnummer import PersonnummerError, normalize_personnummer

IdentifierType = Literal["email", "phone", "external_id", "personal_number"]
IDENTIFIER_TYPES: tuple[IdentifierType, ...] = ("email", "phone", "external_id", "personal_number")
# The identifiers a message is sent to (an external id is only a CRM's name for a person).
CONTACT_TYPES = ("email", "phone")
# Identifiers kept only as their keyed hash: the plaintext is never stored.
HASH_ONLY_TYPES = frozenset({"personal_number"})

MAX_EMAIL_LENGTH = 254
MAX_PHONE_LENGTH = 32
MAX_EXTERNAL_ID_LENGTH = 200
MAX_PERSONAL_NUMBER_LENGTH = 32
SWEDISH_TIME = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True, slots=True)
class Identifier:
    """A normalized identifier. ``value`` is personal data: never log it."""

    type: IdentifierType
    value: str

    def __repr__(self) -> str:  # keeps plaintext out of tracebacks and logs
        return f"Identifier(type={self.type!r}, value=***)"


# Send lists repeat the same addresses; email-validator costs ~25 µs an address.
# The cache holds results (normalized address, or the reason it is invalid), at most
# 100,000 entries (~20 MB), in this process's memory only.
_CACHE_SIZE = 100_000


def normalize_email(raw: str, *, field: str = "email") -> str:
    value, problem = _normalize_email_cached(raw)
    if problem is not None:
        raise InvalidIdentifier.field(field, problem)
    assert value is not None
    return value


@lru_cache(maxsize=_CACHE_SIZE)
def _normalize_email_cached(raw: str) -> tuple[str | None, str | None]:
    try:
        return _normalize_email(raw), None
    except InvalidIdentifier as exc:
        return None, exc.errors[0].message


# The common address, in plain ASCII, that email-validator would accept and
# return unchanged: a dot-atom local part of at most 64 characters, and a
# domain of letter-digit-hyphen labels (no "--" anywhere, so no punycode label
# that would need IDNA checks) ending in a letters-only top-level domain that
# is not a special-use name. For these, the answer is the address itself, and
# email-validator (about 45 µs an address, most of a cold batch's time) is not
# needed. Anything else goes through email-validator. That the two agree is a
# property test (tests/domain/test_identifiers.py).
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SIMPLE_EMAIL = re.compile(rf"(?P<local>{_ATEXT}+(?:\.{_ATEXT}+)*)@(?P<domain>(?:{_LABEL}\.)+(?P<tld>[a-z]{{2,63}}))")
_SPECIAL_USE = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _simple_email(text: str) -> str | None:
    """``text`` when it is a common ASCII address email-validator returns unchanged; else None."""
    if not text.isascii():
        return None
    match = _SIMPLE_EMAIL.fullmatch(text)
    if (
        match is None
        or len(match["local"]) > 64
        or len(match["domain"]) > 253
        or "--" in match["domain"]
        or match["tld"] in _SPECIAL_USE
    ):
        return None
    return text


def _normalize_email(raw: str, field: str = "email") -> str:
    text = unicodedata.normalize("NFC", raw.strip()).lower()
    text = unicodedata.normalize("NFC", text)
    if not text:
        raise InvalidIdentifier.field(field, "is empty")
    if len(text) > MAX_EMAIL_LENGTH:
        raise InvalidIdentifier.field(field, f"is longer than {MAX_EMAIL_LENGTH} characters")
    simple = _simple_email(text)
    return simple if simple is not None else _validated_email(text, field)


def _validated_email(text: str, field: str = "email") -> str:
    """email-validator's answer for a trimmed, NFC, lowercased address."""
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        # The library's messages describe the fault, never echo the address.
        raise InvalidIdentifier.field(field, f"is not a valid email address: {exc}") from None
    return f"{result.local_part}@{result.ascii_domain}"


def normalize_phone(raw: str, *, region: str = "SE", field: str = "phone") -> str:
    text = raw.strip()
    if not text:
        raise InvalidIdentifier.field(field, "is empty")
    if len(text) > MAX_PHONE_LENGTH:
        raise InvalidIdentifier.field(field, f"is longer than {MAX_PHONE_LENGTH} characters")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier.field(field, "is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier.field(field, "is not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalize_external_id(raw: str, *, field: str = "external_id") -> str:
    text = unicodedata.normalize("NFC", raw.strip())
    if not text:
        raise InvalidIdentifier.field(field, "is empty")
    if len(text) > MAX_EXTERNAL_ID_LENGTH:
        raise InvalidIdentifier.field(field, f"is longer than {MAX_EXTERNAL_ID_LENGTH} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidIdentifier.field(field, "contains control characters")
    return text


def swedish_today(now: datetime | None = None) -> date:
    """The date in Sweden at ``now`` (default: the system clock): the day the tax agency infers
    the century of a ten-digit personal number against."""
    return (now or datetime.now(SWEDISH_TIME)).astimezone(SWEDISH_TIME).date()


def normalize_personal_number(raw: str, *, today: date | None = None, field: str = "personal_number") -> str:
    """The twelve digits of a valid personnummer or samordningsnummer. The error never holds the number."""
    if len(raw) > MAX_PERSONAL_NUMBER_LENGTH:
        raise InvalidIdentifier.field(field, f"is longer than {MAX_PERSONAL_NUMBER_LENGTH} characters")
    if not raw.strip():
        raise InvalidIdentifier.field(field, "is empty")
    try:
        return normalize_personnummer(raw, today=today or swedish_today())
    except PersonnummerError as exc:
        raise InvalidIdentifier.field(field, str(exc)) from None


def normalize(
    type_: IdentifierType, raw: str, *, region: str = "SE", field: str | None = None, today: date | None = None
) -> Identifier:
    """``today``: the Swedish date ten-digit personal numbers are read against (default: now)."""
    name = field or type_
    if type_ == "email":
        return Identifier("email", normalize_email(raw, field=name))
    if type_ == "phone":
        return Identifier("phone", normalize_phone(raw, region=region, field=name))
    if type_ == "personal_number":
        return Identifier("personal_number", normalize_personal_number(raw, today=today, field=name))
    return Identifier("external_id", normalize_external_id(raw, field=name))


def stored_value(identifier: Identifier) -> str | None:
    """What the database may hold in plain text for ``identifier``: nothing for a personal number."""
    return None if identifier.type in HASH_ONLY_TYPES else identifier.value


def one_identifier(given: dict[str, str | None], *, region: str = "SE", field: str, nested: bool = False) -> Identifier:
    """Exactly one identifier of ``given`` ({"email": ..., "phone": ..., "external_id": ...,
    "personal_number": ...}, the
    types a request may use), normalized. Field names in errors: ``field`` when not exactly one
    is given; the identifier's type (``field.type`` with ``nested``) when it is invalid."""
    present = [(t, v) for t, v in given.items() if v is not None]
    if len(present) != 1:
        names = list(given)
        choices = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
        raise InvalidIdentifier.field(field, f"give exactly one of {choices}")
    type_, value = present[0]
    return normalize(type_, value, region=region, field=f"{field}.{type_}" if nested else type_)  # type: ignore[arg-type]


class Hasher:
    """Keyed hashing with the server's pepper. Holds the pepper; never prints it."""

    __slots__ = ("_pepper",)

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 32:
            raise ValueError("the pepper must be at least 32 bytes")
        self._pepper = pepper

    def __repr__(self) -> str:
        return "Hasher(***)"

    def key(self, identifier: Identifier) -> bytes:
        return hmac.digest(self._pepper, f"{identifier.type}:{identifier.value}".encode(), "sha256")

    def fingerprint(self) -> bytes:
        """A value that changes when the pepper does, to refuse a start with the wrong one."""
        return hmac.new(self._pepper, b"consent-svc pepper fingerprint v1", hashlib.sha256).digest()


def exchange_sha256(identifier: Identifier) -> bytes | None:
    """The unkeyed SHA-256 of a normalized email: the form suppression files are exchanged in.
    None for a personal number: an unkeyed hash of one is as good as the number (there are
    fewer than 10^10 of them), so it is never made."""
    if identifier.type in HASH_ONLY_TYPES:
        return None
    return hashlib.sha256(identifier.value.encode()).digest()
