"""Swedish personal identity numbers: forms, check digit, century, coordination numbers, dates."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_svc.domain.personnummer import PersonnummerError, luhn_digit, normalize_personnummer

TODAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("19121212-1212", "191212121212"),  # Skatteverket's test person "Tolvan Tolvansson"
        ("191212121212", "191212121212"),
        ("121212+1212", "191212121212"),  # "+": 100 years or older
        ("121212-1212", "201212121212"),
        ("1212121212", "201212121212"),
        (" 811218-9876 ", "198112189876"),
        ("701063-2391", "197010632391"),  # a coordination number: day 03 + 60
        ("000229-0005", "200002290005"),  # 29 February 2000, a leap year
    ],
)
def test_accepted_forms(raw: str, expected: str) -> None:
    assert normalize_personnummer(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("19121212-1213", "wrong check digit"),
        ("811318-9876", "no valid date"),  # month 13
        ("810230-9876", "no valid date"),  # 30 February
        ("010229-0000", "no valid date"),  # 2001 is not a leap year
        ("000229+0005", "no valid date"),  # 1900 is not a leap year
        ("701093-2391", "no valid date"),  # coordination day 33
        ("20301212-1212", "in the future"),
        ("12-12-12-1212", "is not a personnummer"),
        ("abcdefghij", "is not a personnummer"),
        ("", "is not a personnummer"),
        ("1912121212120", "is not a personnummer"),
    ],
)
def test_refused(raw: str, message: str) -> None:
    with pytest.raises(PersonnummerError, match=message) as raised:
        normalize_personnummer(raw, today=TODAY)
    digits = "".join(ch for ch in raw if ch.isdigit())
    assert not digits or digits not in str(raised.value)  # the number is never echoed


def test_a_birthday_later_this_year_is_last_century() -> None:
    # Born 12 December: on 30 November 2026, "261212" cannot be this year.
    pnr = f"261212-123{luhn_digit('261212123')}"
    assert normalize_personnummer(pnr, today=TODAY).startswith("1926")
    assert normalize_personnummer(pnr, today=date(2026, 12, 12)).startswith("2026")


@given(st.dates(min_value=date(1850, 1, 1), max_value=TODAY), st.integers(0, 999), st.booleans(), st.booleans())
def test_every_valid_number_round_trips_in_every_form(born: date, serial: int, coordination: bool, sep: bool) -> None:
    day = born.day + (60 if coordination else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    check = luhn_digit(nine)
    twelve = f"{born.year:04d}{nine[2:]}{check}"
    assert normalize_personnummer(twelve, today=TODAY) == twelve
    assert normalize_personnummer(f"{twelve[:8]}-{twelve[8:]}", today=TODAY) == twelve
    hundred = TODAY.replace(year=TODAY.year - 100)
    if born > hundred:  # under 100: "-" or no separator
        assert normalize_personnummer(f"{nine[:6]}{'-' if sep else ''}{nine[6:]}{check}", today=TODAY) == twelve
    elif born > hundred.replace(year=hundred.year - 100):  # 100 or older: "+"
        assert normalize_personnummer(f"{nine[:6]}+{nine[6:]}{check}", today=TODAY) == twelve
    wrong = f"{twelve[:-1]}{(check + 1) % 10}"
    with pytest.raises(PersonnummerError):
        normalize_personnummer(wrong, today=TODAY)
