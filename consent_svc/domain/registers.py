"""Opt-out registers (NIX-Telefon, NIX-Adresserat, SPAR's reklamspärr, or a tenant's own): names,
channels, snapshot files and validity (docs/registers.md).

A register is checked on one channel, and that channel says what its lines are: phone and sms
registers list phone numbers (Swedish national form or E.164), postal registers list personal
identity numbers, an email register lists addresses. A snapshot's wash is good for
``VALIDITY_DAYS`` from its version date (industry practice as NIX publishes it: two months): from
00:00 Swedish time on the 60th day after the version date the register is *stale*.

Pure: the file is handed in a line at a time; nothing here reads or writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from consent_svc.domain.errors import InvalidIdentifier, InvalidInput
from consent_svc.domain.identifiers import Identifier, normalize
from consent_svc.domain.models import Channel, PurposeConfig, RegisterFact

RegisterIdentifier = Literal["email", "phone", "personal_number"]

NIX_TELEFON = "nix-telefon"
NIX_ADRESSERAT = "nix-adresserat"
SPAR_REKLAMSPARR = "spar-reklamsparr"
# The built-in registers and the one channel each concerns.
BUILTIN: dict[str, Channel] = {NIX_TELEFON: "phone", NIX_ADRESSERAT: "post", SPAR_REKLAMSPARR: "post"}
# The registers a direct-marketing purpose checks when it names none (``registers`` unset).
DEFAULTS: dict[str, tuple[str, ...]] = {"phone": (NIX_TELEFON,), "post": (NIX_ADRESSERAT, SPAR_REKLAMSPARR)}
IDENTIFIER_OF_CHANNEL: dict[str, RegisterIdentifier] = {
    "email": "email",
    "sms": "phone",
    "phone": "phone",
    "post": "personal_number",
}
NAME_PATTERN = r"[a-z0-9][a-z0-9-]{0,63}"
_NAME = re.compile(NAME_PATTERN)

VALIDITY_DAYS = 60
SWEDEN = ZoneInfo("Europe/Stockholm")

MAX_LINE_CHARS = 200
MAX_REPORTED_ERRORS = 20


def valid_until(version_date: date) -> datetime:
    """When a snapshot of ``version_date`` stops counting: 00:00 Swedish time, VALIDITY_DAYS later (UTC)."""
    return datetime.combine(version_date + timedelta(days=VALIDITY_DAYS), time(0), tzinfo=SWEDEN).astimezone(UTC)


def is_stale(version_date: date | None, now: datetime) -> bool:
    """No snapshot, or its validity has passed."""
    return version_date is None or now >= valid_until(version_date)


def channel_of(name: str, given: str | None) -> Channel:
    """The channel of register ``name``: fixed for a built-in one, else ``given`` (required)."""
    if not _NAME.fullmatch(name):
        raise InvalidInput.field("name", f"a register name is 1-64 of a-z, 0-9 and -: {NAME_PATTERN}")
    builtin = BUILTIN.get(name)
    if builtin is not None:
        if given is not None and given != builtin:
            raise InvalidInput.field("channel", f"{name} is a register of the {builtin} channel")
        return builtin
    if given is None:
        raise InvalidInput.field(
            "channel", f"{name!r} is not a built-in register ({', '.join(BUILTIN)}): name its channel"
        )
    if given not in IDENTIFIER_OF_CHANNEL:
        raise InvalidInput.field("channel", f"must be one of {', '.join(IDENTIFIER_OF_CHANNEL)}")
    return given  # type: ignore[return-value]


class LineError(msgspec.Struct, frozen=True, kw_only=True):
    """A line of a snapshot file that is not an identifier. The message never holds the line."""

    line: int
    message: str


_SEPARATORS = re.compile(r"[,;\t]")
# Swedish mobile numbers (070, 072, 073, 076, 079 and nine digits in all), most of NIX-Telefon:
# E.164 without the phone library (it costs ~20 µs a line, a minute for 3 million). That the two
# agree is a property test (tests/domain/test_registers.py).
_SE_MOBILE = re.compile(r"(?:\+46|0046|0)(7[02369]\d{7})")


def _field(text: str) -> str:
    """The first column of a CSV line, without quotes and surrounding spaces."""
    first = _SEPARATORS.split(text, 1)[0].strip()
    if len(first) >= 2 and first[0] == first[-1] == '"':
        first = first[1:-1].strip()
    return first


def is_header(text: str) -> bool:
    """A first line without a digit ("telefonnummer", "personnummer", "phone") names the column."""
    return not any(ch.isdigit() for ch in text)


def parse_phone(text: str, region: str) -> str:
    compact = text.replace(" ", "").replace("-", "")
    mobile = _SE_MOBILE.fullmatch(compact)
    if mobile is not None:
        return "+46" + mobile[1]
    if compact.isdigit() and compact.startswith("46"):
        # E.164 digits without the "+" ("468066907" is +46 8 066 907): a Swedish number written
        # nationally starts with its trunk 0, so these are read as E.164 first. Read nationally,
        # the phone library takes a short one for a Lund (046) number: the listed number would slip
        # through and an unrelated one be blocked.
        try:
            return normalize("phone", "+" + compact, region=region).value
        except InvalidIdentifier:
            pass
    return normalize("phone", text, region=region).value


def parse_line(text: str, kind: RegisterIdentifier, region: str, today: date) -> Identifier:
    """The identifier on one line of a snapshot file (the line's first column); InvalidIdentifier if
    it is none."""
    if len(text) > MAX_LINE_CHARS:
        raise InvalidIdentifier.field("line", f"is longer than {MAX_LINE_CHARS} characters")
    value = _field(text)
    if kind == "phone":
        return Identifier("phone", parse_phone(value, region))
    if kind == "personal_number" and len(re.sub(r"\D", "", value)) != 12:
        # A register lists the twelve digits: ten leave the century to be guessed, and a wrong
        # guess would let the listed person through.
        raise InvalidIdentifier.field("line", "a register's personal numbers must have 12 digits (YYYYMMDDNNNC)")
    return normalize(kind, value, region=region, today=today)


class RegisterRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    channel: str
    ident_type: str
    snapshot_id: UUID | None
    version_date: date | None
    entries: int
    imported_at: datetime | None


def required_names(purpose: PurposeConfig, channel: str) -> tuple[str, ...]:
    """The registers a purpose names for direct marketing on ``channel``, before their channels are
    known: its own ``registers``, or the channel's defaults. Non-marketing purposes check none."""
    if not purpose.direct_marketing:
        return ()
    if purpose.registers is None:
        return DEFAULTS.get(channel, ())
    return purpose.registers


def needed(purpose: PurposeConfig, channel: str, known: Sequence[RegisterFact]) -> list[RegisterFact]:
    """The registers R1 checks for ``purpose`` on ``channel``: those it names whose channel is this
    one. A register never imported is needed too (its built-in channel, or, for one of the tenant's
    own whose channel nobody named yet, every channel): it has no valid snapshot, so it denies."""
    names = required_names(purpose, channel)
    if not names:
        return []
    by_name = {r.name: r for r in known}
    out: list[RegisterFact] = []
    for name in names:
        fact = by_name.get(name) or RegisterFact(name=name, channel=BUILTIN.get(name))
        if fact.channel is None or fact.channel == channel:
            out.append(fact)
    return out
