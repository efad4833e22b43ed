"""Reading exported subscriber lists (domain/imports.py): what each row becomes, and what is skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.imports import Planned, Skipped, mapping, parse_time, plan_row

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_mailchimp_prefers_the_confirmation_time_and_address() -> None:
    header = ["Email Address", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP"]
    row = ["a@example.se", "2025-01-01 10:00:00", "192.0.2.1", "2025-01-01 10:05:00", "192.0.2.2"]
    planned = plan_row("mailchimp", mapping("mailchimp", header), row, 1, NOW)
    assert planned == Planned(1, "a@example.se", "consent", datetime(2025, 1, 1, 10, 5, tzinfo=UTC), "192.0.2.2", None)


@pytest.mark.parametrize(
    ("fmt", "header", "row", "action"),
    [
        ("mailchimp", ["Email Address", "UNSUB_TIME"], ["a@example.se", "2025-01-01 10:00:00"], "unsubscribe"),
        ("mailchimp", ["Email Address", "CLEAN_TIME"], ["a@example.se", "2025-01-01 10:00:00"], "bounce"),
        ("brevo", ["EMAIL", "EMAIL_BLACKLISTED", "ADDED_TIME"], ["a@example.se", "Yes", "2025-01-01"], "unsubscribe"),
        ("brevo", ["EMAIL", "EMAIL_BLACKLISTED", "ADDED_TIME"], ["a@example.se", "No", "2025-01-01"], "consent"),
        ("csv", ["email", "status"], ["a@example.se", "complained"], "complaint"),
        ("csv", ["e-post", "status"], ["a@example.se", "bounced"], "bounce"),
        ("csv", ["email", "status", "optin_time"], ["a@example.se", "subscribed", "2025-01-01T10:00:00Z"], "consent"),
    ],
)
def test_each_format_says_what_a_row_becomes(fmt: str, header: list[str], row: list[str], action: str) -> None:
    planned = plan_row(fmt, mapping(fmt, header), row, 1, NOW)  # type: ignore[arg-type]
    assert isinstance(planned, Planned)
    assert planned.action == action


@pytest.mark.parametrize(
    ("fmt", "header", "row", "why"),
    [
        ("mailchimp", ["Email Address", "OPTIN_TIME"], ["a@example.se", ""], "cannot be dated"),
        ("csv", ["email", "status", "optin_time"], ["a@example.se", "maybe", "2025-01-01"], "is not subscribed"),
        ("csv", ["email", "status", "optin_time"], ["a@example.se", "subscribed", "2027-01-01"], "future"),
        ("csv", ["email", "status", "optin_time"], ["", "subscribed", "2025-01-01"], "no email"),
        ("csv", ["email", "status", "optin_time"], ["a@example.se", "subscribed", "yesterday"], "cannot be dated"),
    ],
)
def test_what_cannot_be_shown_is_skipped_never_guessed(fmt: str, header: list[str], row: list[str], why: str) -> None:
    planned = plan_row(fmt, mapping(fmt, header), row, 7, NOW)  # type: ignore[arg-type]
    assert isinstance(planned, Skipped)
    assert planned.row == 7
    assert why in planned.why


def test_a_file_without_an_email_column_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no email column"):
        mapping("mailchimp", ["EMAIL"])


def test_times_without_a_zone_are_utc() -> None:
    assert parse_time("2025-03-01 09:05:00") == datetime(2025, 3, 1, 9, 5, tzinfo=UTC)
    assert parse_time("2025-03-01T09:05:00+01:00") == datetime(2025, 3, 1, 8, 5, tzinfo=UTC)
    assert parse_time("") is None
