"""Reading subscriber lists exported from Mailchimp, Brevo or any CSV into planned events
(docs/console.md, "Import"). Pure: columns are found by their header, each row becomes one
planned action or a reason it is skipped.

Only what can be shown is imported as consent: a subscribed row without an opt-in time is
skipped (consent that cannot be dated cannot be demonstrated, GDPR 7(1)); a row whose status is
not understood is skipped, never guessed to be a subscription.

Columns, by their header (case ignored):

- mailchimp: the address in ``Email Address``; the export file says the status (``UNSUB_TIME``
  present: the unsubscribed export; ``CLEAN_TIME``: the cleaned one, bounced; neither: subscribed);
  opt-in time ``CONFIRM_TIME``, else ``OPTIN_TIME``; address ``CONFIRM_IP``, else ``OPTIN_IP``.
- brevo: ``EMAIL``; ``EMAIL_BLACKLISTED`` (or ``BLACKLISTED``) yes: unsubscribed, else subscribed;
  opt-in time ``OPT_IN_DATE``, ``DOUBLE_OPT-IN_DATE``, ``ADDED_TIME`` or ``CREATED_AT``; ``IP``.
- csv: ``email`` (or ``e-mail``, ``e-post``); ``status``: subscribed, unsubscribed, bounced,
  complained; ``optin_time`` (or ``opt_in_time``, ``consent_time``); ``ip``; ``source``.

Times are ISO 8601 or ``YYYY-MM-DD HH:MM:SS``; without a zone they are read as UTC (Mailchimp's
exports are in UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from consent_svc.domain.errors import InvalidInput

Format = Literal["mailchimp", "brevo", "csv"]
FORMATS: tuple[Format, ...] = ("mailchimp", "brevo", "csv")
Action = Literal["consent", "unsubscribe", "bounce", "complaint"]

_EMAIL = {
    "mailchimp": ("email address",),
    "brevo": ("email",),
    "csv": ("email", "e-mail", "e-post", "email address"),
}
_TIME = {
    "mailchimp": ("confirm_time", "optin_time"),
    "brevo": ("opt_in_date", "double_opt-in_date", "added_time", "created_at"),
    "csv": ("optin_time", "opt_in_time", "consent_time"),
}
_IP = {"mailchimp": ("confirm_ip", "optin_ip"), "brevo": ("ip",), "csv": ("ip",)}
_SOURCE = ("source",)
_STATUS_WORDS: dict[str, Action] = {
    "subscribed": "consent", "opted_in": "consent", "optin": "consent", "yes": "consent",
    "unsubscribed": "unsubscribe", "opted_out": "unsubscribe", "optout": "unsubscribe",
    "bounced": "bounce", "cleaned": "bounce", "hard_bounce": "bounce",
    "complained": "complaint", "spam": "complaint", "complaint": "complaint",
}  # fmt: skip
_YES = {"yes", "true", "1", "ja", "y"}


@dataclass(frozen=True, slots=True)
class Mapping:
    """Which column holds what (indexes into a row); None where the file has no such column."""

    email: int
    time: int | None
    ip: int | None
    source: int | None
    status: int | None
    unsub_time: int | None  # mailchimp: the unsubscribed export
    clean_time: int | None  # mailchimp: the cleaned export
    blacklisted: int | None  # brevo
    header: tuple[str, ...]

    def describe(self) -> list[tuple[str, str]]:
        """(meaning, column name) for the preview."""
        named = [("email", self.email), ("opt-in time", self.time), ("ip", self.ip), ("source", self.source),
                 ("status", self.status), ("unsubscribed at", self.unsub_time), ("cleaned at", self.clean_time),
                 ("blacklisted", self.blacklisted)]  # fmt: skip
        return [(meaning, self.header[i]) for meaning, i in named if i is not None]


@dataclass(frozen=True, slots=True)
class Planned:
    row: int  # 1-based, the header is row 0
    email: str
    action: Action
    occurred_at: datetime | None
    ip: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class Skipped:
    row: int
    why: str


def _find(header: Sequence[str], names: Sequence[str]) -> int | None:
    folded = [h.strip().lower() for h in header]
    for name in names:
        if name in folded:
            return folded.index(name)
    return None


def mapping(fmt: Format, header: Sequence[str]) -> Mapping:
    if fmt not in FORMATS:
        raise InvalidInput.field("format", "must be mailchimp, brevo or csv")
    email = _find(header, _EMAIL[fmt])
    if email is None:
        raise InvalidInput.field("file", f"no email column (looked for {', '.join(_EMAIL[fmt])})")
    return Mapping(
        email=email,
        time=_find(header, _TIME[fmt]),
        ip=_find(header, _IP[fmt]),
        source=_find(header, _SOURCE),
        status=_find(header, ("status",)) if fmt == "csv" else None,
        unsub_time=_find(header, ("unsub_time",)) if fmt == "mailchimp" else None,
        clean_time=_find(header, ("clean_time",)) if fmt == "mailchimp" else None,
        blacklisted=_find(header, ("email_blacklisted", "blacklisted")) if fmt == "brevo" else None,
        header=tuple(header),
    )


def parse_time(raw: str) -> datetime | None:
    text = raw.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _cell(fields: Sequence[str], index: int | None) -> str:
    return fields[index].strip() if index is not None and index < len(fields) else ""


def plan_row(fmt: Format, columns: Mapping, fields: Sequence[str], row: int, now: datetime) -> Planned | Skipped:
    email = _cell(fields, columns.email)
    if not email:
        return Skipped(row, "no email address")
    action: Action = "consent"
    when = parse_time(_cell(fields, columns.time))
    if fmt == "mailchimp":
        if columns.unsub_time is not None:
            action, when = "unsubscribe", parse_time(_cell(fields, columns.unsub_time))
        elif columns.clean_time is not None:
            action, when = "bounce", parse_time(_cell(fields, columns.clean_time))
    elif fmt == "brevo":
        if _cell(fields, columns.blacklisted).lower() in _YES:
            action, when = "unsubscribe", None
    else:
        status = _cell(fields, columns.status).lower() if columns.status is not None else "subscribed"
        if status not in _STATUS_WORDS:
            return Skipped(row, f"status {status[:40]!r} is not subscribed, unsubscribed, bounced or complained")
        action = _STATUS_WORDS[status]
        if action != "consent":
            when = None
    if action == "consent" and when is None:
        return Skipped(row, "subscribed without an opt-in time: a consent that cannot be dated is not imported")
    if when is not None and when > now:
        return Skipped(row, "the opt-in time is in the future")
    ip = _cell(fields, columns.ip)[:64] or None
    return Planned(row, email, action, when, ip, _cell(fields, columns.source)[:200] or None)
