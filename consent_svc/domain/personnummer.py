"""Swedish personal identity numbers (personnummer) and coordination numbers (samordningsnummer).

Accepted forms (Skatteverket, SKV 704): ``YYMMDD-NNNC``, ``YYMMDD+NNNC`` (the
``+`` marks a person aged 100 or more), ``YYMMDDNNNC``, ``YYYYMMDDNNNC`` and
``YYYYMMDD-NNNC``, with surrounding white space. The result is always the
twelve digits ``YYYYMMDDNNNC``.

* The check digit ``C`` is the Luhn digit of the ten digits ``YYMMDDNNN``.
* A coordination number has 60 added to the day (``DD`` 61-91); it is kept so.
* The date must exist (29 February only in leap years).
* A ten-digit number gets its century as the tax agency gives it: the latest
  century in which the person is younger than 100 on the reference day, or
  at least 100 with ``+``; a birth date after the reference day is refused.

A personal identity number is sensitive (DSL 3 kap. 10 §: used only where
clearly justified): consent-svc keeps it only as a keyed hash and never in a
log line or an error message.
"""

from __future__ import annotations

import re
from datetime import date

_TEN = re.compile(r"(\d{6})([-+]?)(\d{4})")
_TWELVE = re.compile(r"(\d{8})-?(\d{4})")
COORDINATION_OFFSET = 60


class PersonnummerError(ValueError):
    """Not a valid personnummer; the message never contains the number."""


def luhn_digit(digits: str) -> int:
    """The Luhn check digit of ``digits`` (weights 2, 1, 2, ... from the left for nine digits)."""
    total = 0
    for i, ch in enumerate(digits):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def _birth_date(year: int, month: int, day: int) -> date:
    if day > COORDINATION_OFFSET:
        day -= COORDINATION_OFFSET
    try:
        return date(year, month, day)
    except ValueError:
        raise PersonnummerError("has no valid date of birth") from None


def normalize_personnummer(raw: str, *, today: date) -> str:
    """The twelve digits of a valid personnummer or samordningsnummer, or PersonnummerError."""
    text = raw.strip()
    twelve = _TWELVE.fullmatch(text)
    if twelve is not None:
        head, tail = twelve.groups()
        year, month, day = int(head[:4]), int(head[4:6]), int(head[6:8])
        born = _birth_date(year, month, day)
        if born > today:
            raise PersonnummerError("has a date of birth in the future")
        ten = head[2:] + tail
    else:
        match = _TEN.fullmatch(text)
        if match is None:
            raise PersonnummerError("is not a personnummer (YYMMDD-NNNC or YYYYMMDDNNNC)")
        head, sign, tail = match.groups()
        yy, month, day = int(head[:2]), int(head[2:4]), int(head[4:6])
        born_day = (month, day - COORDINATION_OFFSET if day > COORDINATION_OFFSET else day)
        if sign == "+":
            # Skatteverket writes "+" from the calendar year the person turns 100 (18 § FOL), not
            # from the birthday: the latest year ending in yy that is at least 100 years ago.
            limit = today.year - 100
            year = limit - (limit - yy) % 100
        else:
            # The latest year ending in yy whose date is not after today.
            year = today.year - (today.year - yy) % 100
            if year == today.year and born_day > (today.month, today.day):
                year -= 100
        _birth_date(year, month, day)
        ten = head + tail
    if luhn_digit(ten[:9]) != int(ten[9]):
        raise PersonnummerError("has a wrong check digit")
    return f"{year:04d}{ten[2:]}"
