"""Opt-out registers: import a snapshot (streamed, all or nothing), list the registers.

An import reads the file a line at a time and never holds it: each line becomes a keyed hash,
and hashes go to PostgreSQL with COPY in batches while the next batch is parsed. A file with a
bad line imports nothing: the transaction that loaded it rolls back, and the 400 lists the first
``MAX_REPORTED_ERRORS`` bad lines by number (never their content). Nothing in a register is ever
stored or logged in plain text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import structlog

from consent_svc.domain import registers as domain
from consent_svc.domain.errors import Conflict, FieldError, InvalidIdentifier, InvalidInput
from consent_svc.domain.identifiers import swedish_today
from consent_svc.domain.ids import uuid7
from consent_svc.domain.records import Page
from consent_svc.service.context import Context
from consent_svc.store import outbox
from consent_svc.store import registers as store

log = structlog.get_logger(__name__)

COPY_BATCH = 20_000
MAX_LINES = 20_000_000
_WHAT = {"phone": "phone numbers", "personal_number": "personal identity numbers", "email": "email addresses"}


@dataclass(frozen=True, slots=True)
class ImportResult:
    register: domain.RegisterRow
    lines: int
    stale: bool
    valid_until: datetime


async def import_snapshot(
    ctx: Context,
    tenant_id: UUID,
    name: str,
    version_date: date,
    channel: str | None,
    lines: AsyncIterable[bytes],
) -> ImportResult:
    """Replace register ``name``'s entries by the identifiers of ``lines`` (one a line, an optional
    header first), atomically: decisions see the old snapshot or the new one, never a mix."""
    channel = domain.channel_of(name, channel)
    kind = domain.IDENTIFIER_OF_CHANNEL[channel]
    now = ctx.clock()
    today = swedish_today(now)
    if version_date > today:
        raise InvalidInput.field("version_date", f"{version_date.isoformat()} is in the future")
    region = ctx.settings.default_phone_region
    async with ctx.pool.acquire() as conn:
        async with conn.transaction():
            register = await store.lock_or_create(conn, tenant_id, uuid7(), name, channel, kind)
            if register.channel != channel:
                raise Conflict(f"register {name!r} is a register of the {register.channel} channel")
            if register.version_date is not None and version_date < register.version_date:
                raise Conflict(
                    f"register {name!r} has the snapshot of {register.version_date.isoformat()} in force; an older "
                    "one would make numbers callable that the newer wash blocks"
                )
            snapshot_id = uuid7()
            count, errors = await _load(ctx, conn, tenant_id, snapshot_id, lines, kind, region, today)
            if errors:
                shown = errors[: domain.MAX_REPORTED_ERRORS]
                counted = f"more than {len(shown)}" if len(errors) > len(shown) else str(len(errors))
                listed = "the first are listed" if len(errors) > len(shown) else "listed by number"
                raise InvalidInput(
                    f"the file has {counted} line(s) that are not {_WHAT[kind]} ({listed}); nothing was imported",
                    [FieldError(f"line[{e.line}]", e.message) for e in shown],
                )
            if count == 0:
                raise InvalidInput.field(
                    "body", f"has no {_WHAT[kind]}: an empty snapshot would unblock everyone; nothing was imported"
                )
            entries = await store.load_snapshot(conn, tenant_id, snapshot_id)
            await store.swap(conn, tenant_id, register.id, snapshot_id, version_date, entries, count, now)
        log.info("register_imported", register=name, entries=entries, version_date=version_date.isoformat())
        [row] = [r for r in await store.of_tenant(conn, tenant_id) if r.name == name]
    return ImportResult(row, count, domain.is_stale(version_date, now), domain.valid_until(version_date))


async def _load(
    ctx: Context,
    conn: Any,
    tenant_id: UUID,
    import_id: UUID,
    lines: AsyncIterable[bytes],
    kind: domain.RegisterIdentifier,
    region: str,
    today: date,
) -> tuple[int, list[domain.LineError]]:
    """COPY the keyed hashes of ``lines`` into the staging table, one batch in flight while the
    next is parsed. Returns (identifier lines, bad lines). After the first bad line nothing more is
    copied; lines are still read to list up to MAX_REPORTED_ERRORS + 1 of them."""
    errors: list[domain.LineError] = []
    batch: list[bytes] = []
    in_flight: asyncio.Task[None] | None = None
    count = 0
    number = 0
    key = ctx.hasher.key

    async def flush() -> None:
        nonlocal in_flight, batch
        if in_flight is not None:
            await in_flight
        in_flight = asyncio.create_task(store.copy_hashes(conn, tenant_id, import_id, batch))
        batch = []

    try:
        async for raw in lines:
            number += 1
            if number > MAX_LINES:
                raise InvalidInput.field("body", f"has more than {MAX_LINES} lines")
            if len(errors) > domain.MAX_REPORTED_ERRORS:
                continue  # read to the end; enough is listed
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                errors.append(domain.LineError(line=number, message="is not UTF-8 text"))
                continue
            if not text or (number == 1 and domain.is_header(text)):
                continue
            try:
                ident = domain.parse_line(text, kind, region, today)
            except InvalidIdentifier as exc:
                errors.append(domain.LineError(line=number, message=exc.errors[0].message))
                continue
            count += 1
            if not errors:
                batch.append(key(ident))
                if len(batch) >= COPY_BATCH:
                    await flush()
        if batch and not errors:
            await flush()
    except BaseException:
        # The connection must be idle before the transaction rolls back.
        if in_flight is not None:
            await asyncio.gather(in_flight, return_exceptions=True)
        raise
    if in_flight is not None:
        await in_flight
    return count, errors


async def listing(ctx: Context, tenant_id: UUID, after: str | None, limit: int) -> Page[domain.RegisterRow]:
    async with ctx.pool.acquire() as conn:
        rows = await store.listing(conn, tenant_id, after, limit + 1)
    return Page.of(rows, limit, lambda r: r.name)


REGISTER_STALE = "register.stale"


async def announce_stale(ctx: Context) -> int:
    """Queue a ``register.stale`` webhook message (once per snapshot) for every register whose
    snapshot in force has passed its validity; the number announced. Safe in every replica."""
    now = ctx.clock()
    today = swedish_today(now)
    async with ctx.pool.acquire() as conn, conn.transaction():
        due = await store.due_stale(conn, today, domain.VALIDITY_DAYS)
        for item in due:
            payload = {
                "register": item.name,
                "channel": item.channel,
                "version_date": item.version_date.isoformat(),
                "valid_until": domain.valid_until(item.version_date).isoformat(),
                "snapshot_id": str(item.snapshot_id),
            }
            message = outbox.Message(type=REGISTER_STALE, payload=payload, key=f"register:{item.name}")
            if REGISTER_STALE in await outbox.subscribed(conn, item.tenant_id):
                await outbox.enqueue(conn, item.tenant_id, [message])
            await store.mark_announced(conn, item.tenant_id, item.snapshot_id, now)
            log.info("register_stale", register=item.name, version_date=item.version_date.isoformat())
    return len(due)


# How long a replaced snapshot's entries stay: longer than the moment between a decision reading
# which snapshot is in force and looking its entries up (each chunk of a batch reads both).
REPLACED_GRACE = timedelta(minutes=15)


async def housekeeping(ctx: Context) -> int:
    """The periodic register job: announce stale registers, then delete the entries of snapshots
    replaced more than :data:`REPLACED_GRACE` ago."""
    announced = await announce_stale(ctx)
    async with ctx.pool.acquire() as conn:
        purged = await store.purge_replaced(conn, ctx.clock() - REPLACED_GRACE)
    if purged:
        log.info("register_entries_purged", entries=purged)
    return announced


@dataclass(frozen=True, slots=True)
class RegisterAge:
    tenant: str
    register: str
    age_seconds: float
    stale: bool


async def ages(ctx: Context) -> list[RegisterAge]:
    """How old every register's snapshot in force is (since 00:00 Swedish time on its version
    date), per tenant: for the metrics."""
    now = ctx.clock()
    async with ctx.pool.acquire() as conn:
        rows = await store.versions(conn)
    out = []
    for tenant, name, version_date in rows:
        start = datetime.combine(version_date, time(0), tzinfo=domain.SWEDEN)
        out.append(RegisterAge(tenant, name, (now - start).total_seconds(), domain.is_stale(version_date, now)))
    return out
