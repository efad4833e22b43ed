"""Small helpers shared by the providers' modules."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from consent_svc.domain.errors import InvalidIdentifier
from consent_svc.domain.identifiers import normalize_email, normalize_phone
from consent_svc.integrations.errors import VerificationFailed

# A timestamp older than this (or this far in the future: clock skew) is refused.
MAX_AGE = timedelta(minutes=5)


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check_fresh(at: datetime, now: datetime, *, max_age: timedelta = MAX_AGE, what: str = "timestamp") -> None:
    """Refuse a signed timestamp more than ``max_age`` away from ``now`` (replay protection)."""
    if at < now - max_age:
        raise VerificationFailed(f"{what} is older than {int(max_age.total_seconds())} seconds")
    if at > now + max_age:
        raise VerificationFailed(f"{what} is more than {int(max_age.total_seconds())} seconds in the future")


def from_unix(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def parse_iso(value: str) -> datetime | None:
    """An ISO 8601 instant as providers write it (``Z`` or an offset, up to 7 fraction digits)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def email_or_none(raw: object) -> str | None:
    """The normalized address, or None when it is not one (the caller ignores the event)."""
    if not isinstance(raw, str):
        return None
    try:
        return normalize_email(raw)
    except InvalidIdentifier:
        return None


def phone_or_none(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return normalize_phone(raw)
    except InvalidIdentifier:
        return None
