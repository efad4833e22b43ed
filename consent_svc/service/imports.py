"""Importing a subscriber list (Mailchimp, Brevo or a plain CSV) from the console (docs/console.md).

Each row becomes events recorded by the events service (``record_in``) with proof
``{"imported": {"imported_from", "file_sha256", "row"}}`` and an idempotency key made of the
file's SHA-256, the row and the event type, so importing the same file again writes nothing
twice; bounced and complaining addresses become suppression entries (idempotent per reason).
A subscribed row is a ``consent_given`` at its opt-in time, for the purpose and notice version
chosen; an unsubscribed row a ``consent_withdrawn`` and an ``objection`` for that purpose.
A dry run does all of it, transaction by transaction, and rolls each back.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from consent_svc.domain import imports
from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.identifiers import Identifier, normalize
from consent_svc.service.context import Context
from consent_svc.service.events import record_in
from consent_svc.service.inputs import EventIn, ImportProof, Proof, SubjectRef
from consent_svc.service.suppressions import new_entry
from consent_svc.store import events as event_store
from consent_svc.store import suppressions as suppression_store

CHUNK = 2000
MAX_ROWS = 200_000
PREVIEW_ROWS = 20
MAX_SKIPPED_SHOWN = 100


@dataclass(slots=True)
class ImportReport:
    file_sha256: str
    dry_run: bool
    columns: list[tuple[str, str]]
    rows: int = 0
    events_new: int = 0
    events_already: int = 0
    suppressions_new: int = 0
    suppressions_already: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skipped_rows: list[imports.Skipped] = field(default_factory=list)
    preview: list[imports.Planned] = field(default_factory=list)


class _Rollback(Exception):
    """Not an error: leaves a dry run's transaction without committing."""


def _rows(data: bytes) -> Iterator[list[str]]:
    """The file's rows; a file csv cannot read (a NUL byte, a cell over its limit) is a 400."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput.field("file", "is not UTF-8 text (export it as CSV in UTF-8)") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput.field(
                "file", f"is not a CSV file this can read (line {reader.line_num}: {exc})"
            ) from None
        yield row


def _check_size(data: bytes) -> None:
    """Refuse a file with too many rows before anything is written (a record run commits chunk by
    chunk: finding out at row 200,001 would leave 200,000 rows written and the file refused)."""
    rows = sum(1 for fields in _rows(data) if any(f.strip() for f in fields)) - 1  # less the header
    if rows > MAX_ROWS:
        raise InvalidInput.field("file", f"has more than {MAX_ROWS} rows; split it")


def _events(
    item: imports.Planned, ident: Identifier, purpose: str, notice_version: str, proof: ImportProof, sha: str
) -> list[EventIn]:
    def event(type_: str, **extra: Any) -> EventIn:
        return EventIn(
            subject=SubjectRef(email=ident.value), type=type_, purpose=purpose,  # type: ignore[arg-type]
            channels=["email"], occurred_at=item.occurred_at, source="import",
            idempotency_key=f"import:{sha}:{item.row}:{type_}", **extra,
        )  # fmt: skip

    note = f"imported ({item.source})" if item.source else "imported"
    if item.action == "consent":
        given = Proof(notice_version=notice_version, ip=item.ip, note=note, imported=proof)
        return [event("consent_given", proof=given)]
    if item.action == "unsubscribe":
        opted_out = Proof(ip=item.ip, note=note, imported=proof)
        return [event("consent_withdrawn", proof=opted_out), event("objection", proof=opted_out)]
    return []


async def run(
    ctx: Context,
    tenant_id: UUID,
    fmt: imports.Format,
    data: bytes,
    purpose: str,
    notice_version: str,
    *,
    dry_run: bool,
) -> ImportReport:
    """Import (or, with ``dry_run``, try and roll back) a whole file; see the module's docstring."""
    if fmt not in imports.FORMATS:
        raise InvalidInput.field("format", "must be mailchimp, brevo or csv")
    sha = hashlib.sha256(data).hexdigest()
    async with ctx.pool.acquire() as conn:
        notices = (await event_store.writing_context(conn, tenant_id)).notices
    if purpose not in notices:
        raise InvalidInput.field("purpose", f"unknown purpose {purpose!r}")
    if notice_version not in notices[purpose]:
        known = ", ".join(sorted(notices[purpose]))
        raise InvalidInput.field("notice_version", f"purpose {purpose!r} never published {notice_version!r} ({known})")
    _check_size(data)
    rows = _rows(data)
    header = next(rows, None)
    if not header:
        raise InvalidInput.field("file", "is empty")
    columns = imports.mapping(fmt, header)
    report = ImportReport(file_sha256=sha, dry_run=dry_run, columns=columns.describe())
    region = ctx.settings.default_phone_region
    now = ctx.clock()
    chunk: list[tuple[imports.Planned, Identifier]] = []
    for number, fields in enumerate(rows, start=1):
        if not any(f.strip() for f in fields):
            continue
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise InvalidInput.field("file", f"has more than {MAX_ROWS} rows; split it")
        planned = imports.plan_row(fmt, columns, fields, number, now)
        if isinstance(planned, imports.Planned):
            try:
                ident = normalize("email", planned.email, region=region)
            except InvalidInput as exc:
                planned = imports.Skipped(number, exc.errors[0].message if exc.errors else exc.detail)
        if isinstance(planned, imports.Skipped):
            report.skipped += 1
            if len(report.skipped_rows) < MAX_SKIPPED_SHOWN:
                report.skipped_rows.append(planned)
            continue
        report.by_action[planned.action] = report.by_action.get(planned.action, 0) + 1
        if len(report.preview) < PREVIEW_ROWS:
            report.preview.append(planned)
        chunk.append((planned, ident))
        if len(chunk) >= CHUNK:
            await _write(ctx, tenant_id, fmt, chunk, purpose, notice_version, sha, report, dry_run)
            chunk = []
    if chunk:
        await _write(ctx, tenant_id, fmt, chunk, purpose, notice_version, sha, report, dry_run)
    return report


async def _write(
    ctx: Context, tenant_id: UUID, fmt: imports.Format, chunk: list[tuple[imports.Planned, Identifier]], purpose: str,
    notice_version: str, sha: str, report: ImportReport, dry_run: bool,
) -> None:  # fmt: skip
    events: list[EventIn] = []
    entries = []
    for item, ident in chunk:
        proof = ImportProof(imported_from=fmt, file_sha256=sha, row=item.row)
        events += _events(item, ident, purpose, notice_version, proof, sha)
        if item.action in ("bounce", "complaint"):
            reason = "hard_bounce" if item.action == "bounce" else "complaint"
            entries.append(new_entry(ctx, ident, "all", "email", reason, f"import:{fmt}", f"{sha[:16]} row {item.row}"))
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            results = await record_in(conn, ctx, tenant_id, events) if events else []
            added = await suppression_store.add(conn, tenant_id, entries)
            new_events = sum(1 for r in results if r.created)
            new_entries = sum(1 for _, created in added if created)
            report.events_new += new_events
            report.events_already += len(results) - new_events
            report.suppressions_new += new_entries
            report.suppressions_already += len(added) - new_entries
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
