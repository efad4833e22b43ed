"""Opt-out registers in the pure domain: snapshot lines, the phone fast path, validity."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_svc.domain import registers
from consent_svc.domain.errors import InvalidIdentifier, InvalidInput
from consent_svc.domain.identifiers import normalize_phone

TODAY = date(2026, 11, 30)


@given(
    st.sampled_from(["070", "071", "072", "073", "074", "075", "076", "077", "078", "079", "08", "031", "0046", "+46"]),
    st.text(alphabet="0123456789", min_size=5, max_size=9),
    st.sampled_from(["", " ", "-"]),
)
def test_the_phone_fast_path_agrees_with_the_phone_library(prefix: str, rest: str, sep: str) -> None:
    text = f"{prefix}{sep}{rest[:3]}{sep}{rest[3:]}"
    try:
        expected: str | None = normalize_phone(text)
    except InvalidIdentifier:
        expected = None
    try:
        got: str | None = registers.parse_phone(text, "SE")
    except InvalidIdentifier:
        got = None
    assert got == expected


@pytest.mark.parametrize(
    ("line", "kind", "expected"),
    [
        ("070-123 45 67", "phone", "+46701234567"),
        ("+46701234567", "phone", "+46701234567"),
        ("46701234567", "phone", "+46701234567"),  # E.164 without its "+"
        ('"0701234567";"Anna"', "phone", "+46701234567"),  # the first CSV column
        ("08-123 456 78", "phone", "+46812345678"),
        ("19121212-1212,Tolvan", "personal_number", "191212121212"),
        ("46468066907", "phone", "+46468066907"),  # a Lund number, E.164 without its "+"
        ("468066907", "phone", "+468066907"),  # a short Stockholm number: E.164, not Lund (046)
        ("Anna@Example.se", "email", "anna@example.se"),
    ],
)
def test_lines(line: str, kind: registers.RegisterIdentifier, expected: str) -> None:
    assert registers.parse_line(line, kind, "SE", TODAY).value == expected


@pytest.mark.parametrize(
    ("line", "kind"),
    [("0701234", "phone"), ("19121212-1213", "personal_number"), ("x" * 201, "phone"), ("", "phone"),
     ("121212+1212", "personal_number"), ("121212-1212", "personal_number")],  # 10 digits: the century is a guess
)  # fmt: skip
def test_bad_lines(line: str, kind: registers.RegisterIdentifier) -> None:
    with pytest.raises(InvalidIdentifier):
        registers.parse_line(line, kind, "SE", TODAY)


def test_a_number_read_from_a_register_file_is_the_number_a_decision_asks_for() -> None:
    """Whatever form a file writes a number in, its hash must be the one a decision computes."""
    for line in ("468066907", "+468066907", "08-066 907", "0046 8 066 907"):
        assert registers.parse_line(line, "phone", "SE", TODAY).value == normalize_phone("+468066907")


def test_headers() -> None:
    assert registers.is_header("telefonnummer")
    assert registers.is_header("Personnummer;Namn")
    assert not registers.is_header("0701234567")


def test_validity_ends_at_swedish_midnight_on_day_60() -> None:
    version = date(2026, 6, 1)
    end = registers.valid_until(version)
    assert end == datetime(2026, 7, 30, 22, 0, tzinfo=UTC)  # 31 July 00:00 in Stockholm (summer time)
    assert not registers.is_stale(version, end - timedelta(seconds=1))
    assert registers.is_stale(version, end)
    assert registers.is_stale(None, end)
    winter = registers.valid_until(date(2026, 11, 1))
    assert winter == datetime(2026, 12, 30, 23, 0, tzinfo=UTC)


def test_channels_of_registers() -> None:
    assert registers.channel_of("nix-telefon", None) == "phone"
    assert registers.channel_of("spar-reklamsparr", "post") == "post"
    assert registers.channel_of("egen", "sms") == "sms"
    for name, given_channel in [("nix-telefon", "sms"), ("egen", None), ("Egen", "sms"), ("egen", "fax")]:
        with pytest.raises(InvalidInput):
            registers.channel_of(name, given_channel)
