"""Normalization and keyed hashing of identifiers (decision-rules.md, Identifiers and privacy)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_svc.domain.errors import InvalidIdentifier
from consent_svc.domain.identifiers import (
    Hasher,
    Identifier,
    _simple_email,
    _validated_email,
    exchange_sha256,
    normalize,
    normalize_email,
    normalize_personal_number,
    normalize_phone,
    stored_value,
    swedish_today,
)
from consent_svc.domain.personnummer import luhn_digit, normalize_personnummer

PEPPER = b"p" * 32


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("anna@example.se", "anna@example.se"),
        ("  Anna.Svensson@Example.SE \n", "anna.svensson@example.se"),  # trim, lowercase whole address
        ("ÅSA@BÜCHER.DE", "åsa@xn--bcher-kva.de"),  # Unicode lowercase, IDNA domain
        ("a\u030asa@example.se", "åsa@example.se"),  # NFD input becomes NFC
        ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),  # already IDNA stays
        ("first.last+news@gmail.com", "first.last+news@gmail.com"),  # no provider rewriting
    ],
)
def test_email_normalization(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


def test_dots_and_tags_stay_distinct() -> None:
    assert normalize_email("firstlast@gmail.com") != normalize_email("first.last@gmail.com")
    assert normalize_email("a+x@example.se") != normalize_email("a@example.se")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "anna",
        "anna@",
        "@example.se",
        "a..b@example.se",
        "a@localhost",
        "a b@example.se",
        "x" * 250 + "@e.se",
    ],
)
def test_invalid_emails_are_rejected_without_echoing_them(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_email(raw)
    assert caught.value.errors[0].field == "email"
    if raw.strip():
        assert raw.strip() not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("070-123 45 67", "+46701234567"), ("+46 70 123 45 67", "+46701234567"), ("0046701234567", "+46701234567")],
)
def test_phone_normalization_to_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


def test_phone_default_region_is_configurable() -> None:
    assert normalize_phone("020 7946 0958", region="GB") == "+442079460958"


@pytest.mark.parametrize("raw", ["", "abc", "123", "+46 70"])
def test_invalid_phones_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalize_phone(raw)


def test_external_id_keeps_case_and_refuses_control_characters() -> None:
    assert normalize("external_id", " CRM-42 ").value == "CRM-42"
    with pytest.raises(InvalidIdentifier):
        normalize("external_id", "a\x00b")


def test_keyed_hash_depends_on_pepper_type_and_value() -> None:
    hasher = Hasher(PEPPER)
    email = Identifier("email", "anna@example.se")
    assert hasher.key(email) == hasher.key(normalize("email", "ANNA@example.se"))
    assert len(hasher.key(email)) == 32
    assert hasher.key(email) != Hasher(b"q" * 32).key(email)
    assert hasher.key(email) != hasher.key(Identifier("external_id", "anna@example.se"))
    # The keyed hash is not the exchange (unkeyed) hash: a dump cannot be matched against a list.
    assert hasher.key(email) != exchange_sha256(email)


def test_secrets_never_show_in_repr() -> None:
    hasher = Hasher(PEPPER)
    assert "p" * 8 not in repr(hasher)
    assert "anna" not in repr(Identifier("email", "anna@example.se"))
    with pytest.raises(ValueError, match="32 bytes"):
        Hasher(b"short")


# The fast path for common addresses must agree with email-validator exactly:
# wherever it answers, email-validator accepts the address and returns the same.
def _validator(text: str) -> str | None:
    try:
        return _validated_email(text)
    except InvalidIdentifier:
        return None


_ATOM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=20)
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=70)
_TLD = st.one_of(
    st.sampled_from(["se", "com", "test", "local", "arpa", "onion", "invalid", "xn--p1ai", "c0m", "s"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=70),
)
_NEAR_MISS = st.builds(
    lambda locals_, dots, labels, tld: ".".join(locals_) + dots + "@" + ".".join([*labels, tld]),
    st.lists(_ATOM, min_size=1, max_size=4),
    st.sampled_from(["", ".", ".."]),
    st.lists(_LABEL, min_size=0, max_size=4),
    _TLD,
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_NEAR_MISS, st.emails().map(str.lower), st.text(max_size=80).map(str.lower)))
def test_the_fast_path_agrees_with_email_validator(text: str) -> None:
    fast = _simple_email(text)
    if fast is not None:
        assert _validator(text) == fast


def test_the_fast_path_takes_common_addresses_and_leaves_the_rest() -> None:
    for common in ("anna@example.se", "a.b+tag@mail.sub.example.co.uk", "o'brien@x-y.com", "x_1@d1.io"):
        assert _simple_email(common) == common
        assert _validator(common) == common
    for other in (
        "åsa@exempel.se",
        "a@xn--bcher-kva.ch",
        "a@localhost",
        "a@x.test",
        "a..b@x.se",
        "a@1.2.3.4",
        '"quoted"@x.se',
        "a@x.s",
        "a@-x.se",
        "a@x-.se",
        "a" * 65 + "@x.se",
        "a@x--y.se",
    ):
        assert _simple_email(other) is None  # email-validator decides these


# --- personal numbers (issue 19) -------------------------------------------------------------

PN_TODAY = date(2026, 11, 30)


@given(st.dates(min_value=date(1927, 12, 1), max_value=PN_TODAY), st.integers(0, 999), st.booleans())
def test_a_personal_number_hashes_alike_in_every_form(born: date, serial: int, coordination: bool) -> None:
    nine = f"{born:%y%m}{born.day + (60 if coordination else 0):02d}{serial:03d}"
    twelve = f"{born.year:04d}{nine[2:]}{luhn_digit(nine)}"
    forms = [twelve, f"{twelve[:8]}-{twelve[8:]}", twelve[2:], f"{twelve[2:8]}-{twelve[8:]}", f" {twelve} "]
    hasher = Hasher(b"p" * 32)
    keys = {hasher.key(normalize("personal_number", f, today=PN_TODAY)) for f in forms}
    assert keys == {hasher.key(Identifier("personal_number", twelve))}
    # Never the same key as a phone or external id made of the same digits.
    assert hasher.key(Identifier("external_id", twelve)) not in keys


@given(st.text(alphabet="0123456789-+ ", min_size=1, max_size=20))
def test_a_refused_personal_number_is_never_echoed(raw: str) -> None:
    problem: InvalidIdentifier | None = None
    try:
        normalize("personal_number", raw, today=PN_TODAY, field="subject.personal_number")
    except InvalidIdentifier as exc:
        problem = exc
    if problem is not None:
        assert problem.errors[0].field == "subject.personal_number"
        digits = "".join(ch for ch in raw if ch.isdigit())
        text = f"{problem} {problem.errors[0].message} {problem.detail}"
        assert len(digits) < 4 or digits not in text


def test_a_personal_number_is_never_stored_in_plain_text() -> None:
    ident = normalize("personal_number", "19121212-1212", today=PN_TODAY)
    assert ident.value == "191212121212"
    assert stored_value(ident) is None
    assert exchange_sha256(ident) is None
    assert "1212" not in repr(ident)
    assert stored_value(normalize("email", "a@example.se")) == "a@example.se"
    with pytest.raises(InvalidIdentifier, match="longer than"):
        normalize("personal_number", "1" * 40)
    with pytest.raises(InvalidIdentifier, match="is empty"):
        normalize("personal_number", "  ")


def test_ten_digits_read_against_the_swedish_date() -> None:
    # 30 November 2026 23:30 UTC is already 1 December in Stockholm: a person born
    # 1 December 2026 exists there (the century is read against the Swedish date).
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert swedish_today(late) == date(2026, 12, 1)
    nine = "261201123"
    pnr = f"{nine[:6]}-{nine[6:]}{luhn_digit(nine)}"
    assert normalize_personal_number(pnr, today=swedish_today(late)).startswith("2026")
    assert normalize_personal_number(pnr, today=date(2026, 11, 30)).startswith("1926")


@pytest.mark.parametrize(
    ("written", "today", "twelve"),
    [
        # "+" from the calendar year of the 100th birthday (Skatteverket), not from the birthday.
        ("261201+1235", date(2026, 11, 30), "192612011235"),
        ("261201+1235", date(2026, 12, 2), "192612011235"),
        ("261130+1231", date(2026, 1, 1), "192611301231"),
        ("121212+1212", date(2026, 11, 30), "191212121212"),
        # "-": the latest year ending in those digits whose date is not after today.
        ("121212-1212", date(2026, 11, 30), "201212121212"),
        ("261201-1235", date(2026, 11, 30), "192612011235"),
        ("261129-1234", date(2026, 11, 30), "202611291234"),
    ],
)
def test_the_century_of_a_ten_digit_personal_number(written: str, today: date, twelve: str) -> None:
    assert normalize_personnummer(written, today=today) == twelve
