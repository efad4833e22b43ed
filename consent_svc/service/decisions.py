"""Decisions: "may we contact X for purpose Y over channel Z", one, a batch or a stream.

A check reads and never writes: it creates no subject. The rules are in
``consent_svc.domain.rules``; this module only loads their inputs.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from consent_svc.domain import facts as facts_mod
from consent_svc.domain import registers as register_rules
from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.identifiers import Identifier, normalize_email, one_identifier
from consent_svc.domain.models import (
    CHANNELS,
    Decision,
    PurposeConfig,
    RegisterFact,
    SignupFact,
    SuppressionFact,
)
from consent_svc.domain.rules import decide
from consent_svc.service.context import Context
from consent_svc.service.inputs import Recipient
from consent_svc.store import decisions as store
from consent_svc.store import purposes as purpose_store

# Recipients per query: bounds the memory of one round trip and lets a stream
# answer while it is still being read.
CHUNK = 5_000
IN_FLIGHT = 2


class InvalidRecipient(msgspec.Struct, frozen=True, kw_only=True):
    """A recipient that could not be judged (its identifier is not valid): never an allow."""

    allowed: bool = False
    reason: str = "invalid_identifier"
    error: dict[str, str]


DecisionItem = Decision | InvalidRecipient


def purpose_from_config(config: dict[str, Any]) -> PurposeConfig:
    return msgspec.convert(config, PurposeConfig)


def register_facts(states: Sequence[store.RegisterState]) -> list[RegisterFact]:
    return [
        RegisterFact(
            name=s.name,
            channel=s.channel,  # type: ignore[arg-type]
            snapshot_id=s.snapshot_id,
            version_date=s.version_date,
            identifier=s.ident_type,
        )
        for s in states
    ]


def _listed(
    registers: Sequence[RegisterFact], snapshots: Sequence[UUID] | None, types: Sequence[str] | None, asked: str | None
) -> Sequence[RegisterFact]:
    """The registers with, for this subject, whether a snapshot in force lists them (``snapshots``:
    those that list one of its identifiers), and whether they can be checked at all (the identifier
    asked, or one the subject has, ``types``, is of their kind)."""
    if not registers:
        return registers
    found = set(snapshots or ())
    kinds = set(types or ()) | ({asked} if asked else set())
    return [
        msgspec.structs.replace(
            r, listed=r.snapshot_id in found, checkable=r.identifier is None or r.identifier in kinds
        )
        for r in registers
    ]


def snapshots_to_check(purpose: PurposeConfig, channel: str, registers: Sequence[RegisterFact]) -> list[UUID]:
    """The snapshots the look-up must search: those of the registers the purpose checks on ``channel``."""
    return [r.snapshot_id for r in register_rules.needed(purpose, channel, registers) if r.snapshot_id is not None]


def _judge_values(
    purpose: PurposeConfig,
    values: Sequence[Any],
    channel: str,
    now: datetime,
    registers: Sequence[RegisterFact] = (),
    asked: str | None = None,
) -> Decision:
    """The decision from one look-up row: ``store.DecisionRow``'s fields in order (a batch passes the
    driver's record as it is, without a struct per row). ``asked``: the kind of identifier the
    decision was asked for (None: not known here)."""
    (subject_id, kind, facts, sup_ids, scopes, channels, reasons, created, signup_ids, expires, snapshots, types) = (
        values
    )
    suppressions = (
        [
            SuppressionFact(id=i, scope=s, channel=c, reason=r, created_at=t)
            for i, s, c, r, t in zip(sup_ids, scopes, channels, reasons, created, strict=True)
        ]
        if sup_ids
        else []
    )
    signups = [SignupFact(id=i, expires_at=e) for i, e in zip(signup_ids, expires, strict=True)] if signup_ids else []
    return decide(
        purpose,
        None if subject_id is None else facts_mod.decode(facts),
        kind or "consumer",
        suppressions,
        channel,
        now,
        signups,
        _listed(registers, snapshots, types, asked),
    )


def _judge(
    purpose: PurposeConfig,
    row: store.DecisionRow,
    channel: str,
    now: datetime,
    registers: Sequence[RegisterFact] = (),
    asked: str | None = None,
) -> Decision:
    return _judge_values(purpose, msgspec.structs.astuple(row), channel, now, registers, asked)


def judge_rows(
    purpose: PurposeConfig,
    rows: Sequence[Sequence[Any]],
    channel: str,
    now: datetime,
    registers: Sequence[RegisterFact],
    asked: Sequence[str],
) -> list[Decision]:
    """The decisions for a chunk's look-up rows (``asked``: the kind of identifier of each).

    A row of nobody (no subject) with nothing found for it (no suppression entry, sign-up or
    register entry) is judged once per kind of identifier asked: every such row has the same
    inputs, so the same answer (a send list's addresses nobody has recorded)."""
    nobody: dict[str, Decision] = {}
    out: list[Decision] = []
    for row, kind in zip(rows, asked, strict=True):
        if row[0] is None and not row[3] and not row[8] and not row[10]:
            answer = nobody.get(kind)
            if answer is None:
                answer = nobody[kind] = _judge_values(purpose, row, channel, now, registers, kind)
            out.append(answer)
        else:
            out.append(_judge_values(purpose, row, channel, now, registers, kind))
    return out


def recipient_identifier(recipient: Recipient, region: str, field: str) -> Identifier:
    if (
        recipient.email is not None
        and recipient.phone is None
        and recipient.external_id is None
        and recipient.personal_number is None
    ):
        # Nearly every recipient of a send list: an email alone (what one_identifier would do, without its dict).
        return Identifier("email", normalize_email(recipient.email, field=f"{field}.email"))
    given = {
        "email": recipient.email,
        "phone": recipient.phone,
        "external_id": recipient.external_id,
        "personal_number": recipient.personal_number,
    }
    return one_identifier(given, region=region, field=field, nested=True)


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInput.field("channel", f"must be one of {', '.join(CHANNELS)}")


async def load_purpose(ctx: Context, tenant_id: UUID, key: str) -> PurposeConfig:
    purpose, _ = await load_purpose_and_registers(ctx, tenant_id, key)
    return purpose


async def load_purpose_and_registers(
    ctx: Context, tenant_id: UUID, key: str
) -> tuple[PurposeConfig, list[RegisterFact]]:
    """The purpose and the tenant's registers, read once for a whole batch or stream."""
    async with ctx.pool.acquire() as conn:
        row = await purpose_store.get_purpose(conn, tenant_id, key)
        states = await store.register_states(conn, tenant_id)
    if row is None:
        raise InvalidInput.field("purpose", f"unknown purpose {key!r}")
    return purpose_from_config(row.config), register_facts(states)


async def decide_one(
    ctx: Context, tenant_id: UUID, purpose_key: str, channel: str, identifier: Identifier
) -> tuple[Decision, datetime]:
    _check_channel(channel)
    key = ctx.hasher.key(identifier)
    config, states, row = await ctx.read(lambda conn: store.lookup_one(conn, tenant_id, purpose_key, key, channel))
    if config is None:
        raise InvalidInput.field("purpose", f"unknown purpose {purpose_key!r}")
    now = ctx.clock()
    return _judge(purpose_from_config(config), row, channel, now, register_facts(states), identifier.type), now


async def subject_answer(
    conn: Any, ctx: Context, tenant_id: UUID, purpose: PurposeConfig, channel: str, hash_: bytes
) -> Decision:
    """The decision for one identifier hash, on a connection (and transaction) the caller holds."""
    registers = register_facts(await store.register_states(conn, tenant_id))
    snapshots = snapshots_to_check(purpose, channel, registers)
    [row] = await store.lookup(conn, tenant_id, purpose.key, [hash_], snapshots)
    return _judge(purpose, row, channel, ctx.clock(), registers)


async def _decide_chunk(
    ctx: Context,
    tenant_id: UUID,
    purpose: PurposeConfig,
    channel: str,
    identifiers: Sequence[Identifier | InvalidRecipient],
    now: datetime,
    registers: Sequence[RegisterFact],
) -> list[DecisionItem]:
    # Duplicates are looked up once and answered at every place they occur.
    hashes: dict[bytes, int] = {}
    asked: list[str] = []  # the kind of identifier of each distinct hash
    keyed: list[bytes | None] = []
    for ident in identifiers:
        if isinstance(ident, InvalidRecipient):
            keyed.append(None)
            continue
        h = ctx.hasher.key(ident)
        keyed.append(h)
        if h not in hashes:
            hashes[h] = len(hashes)
            asked.append(ident.type)
    rows: list[Sequence[Any]] = []
    if hashes:
        # Each chunk on a connection of its own, so two chunks can be in flight.
        keys = list(hashes)
        if snapshots_to_check(purpose, channel, registers):
            # A batch or stream can outlive an import: each chunk judges by the snapshots in force
            # when it is looked up, read with it (replaced entries stay a grace period for the
            # moment between the two statements; store.registers.purge_replaced).
            async def read(conn: Any) -> tuple[list[RegisterFact], list[Sequence[Any]]]:
                now_in_force = register_facts(await store.register_states(conn, tenant_id))
                snapshots = snapshots_to_check(purpose, channel, now_in_force)
                return now_in_force, await store.lookup_values(conn, tenant_id, purpose.key, keys, snapshots)

            registers, rows = await ctx.read(read)
        else:
            rows = await ctx.read(lambda conn: store.lookup_values(conn, tenant_id, purpose.key, keys, []))
    answers = judge_rows(purpose, rows, channel, now, registers, asked)
    out: list[DecisionItem] = []
    for ident, key in zip(identifiers, keyed, strict=True):
        if key is None:
            assert isinstance(ident, InvalidRecipient)
            out.append(ident)
        else:
            out.append(answers[hashes[key]])
    return out


def identify(recipient: Recipient, region: str, field: str) -> Identifier | InvalidRecipient:
    """The recipient's identifier, or an InvalidRecipient saying why it cannot be judged."""
    try:
        return recipient_identifier(recipient, region, field)
    except InvalidInput as exc:
        error = exc.errors[0] if exc.errors else None
        return InvalidRecipient(
            error={
                "field": error.field if error else field,
                "message": error.message if error else exc.detail,
            }
        )


async def decide_batch(
    ctx: Context, tenant_id: UUID, purpose_key: str, channel: str, recipients: Sequence[Recipient]
) -> tuple[list[DecisionItem], datetime]:
    _check_channel(channel)
    purpose, registers = await load_purpose_and_registers(ctx, tenant_id, purpose_key)
    region = ctx.settings.default_phone_region
    identifiers = [identify(r, region, f"recipients[{i}]") for i, r in enumerate(recipients)]
    now = ctx.clock()
    # Two chunks in flight on two connections: PostgreSQL answers one while
    # Python judges the other, so both cores work.
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(start: int) -> list[DecisionItem]:
        async with gate:
            chunk = identifiers[start : start + CHUNK]
            return await _decide_chunk(ctx, tenant_id, purpose, channel, chunk, now, registers)

    chunks = await asyncio.gather(*(one(start) for start in range(0, len(identifiers), CHUNK)))
    return [item for chunk in chunks for item in chunk], now


async def decide_stream(
    ctx: Context,
    tenant_id: UUID,
    purpose_key: str,
    channel: str,
    recipients: AsyncIterable[Identifier | InvalidRecipient],
) -> AsyncIterator[list[DecisionItem]]:
    """Any number of recipients, answered in order, CHUNK at a time: memory stays flat whatever
    the length. Up to IN_FLIGHT chunks are judged (their queries running in PostgreSQL, their
    answers computed here) while the next is read; at most IN_FLIGHT + 1 are in memory."""
    _check_channel(channel)
    purpose, registers = await load_purpose_and_registers(ctx, tenant_id, purpose_key)

    async def judged(batch: list[Identifier | InvalidRecipient]) -> list[DecisionItem]:
        return await _decide_chunk(ctx, tenant_id, purpose, channel, batch, ctx.clock(), registers)

    pending: deque[asyncio.Task[list[DecisionItem]]] = deque()
    batch: list[Identifier | InvalidRecipient] = []
    try:
        async for item in recipients:
            batch.append(item)
            if len(batch) >= CHUNK:
                if len(pending) >= IN_FLIGHT:
                    yield await pending.popleft()
                pending.append(asyncio.create_task(judged(batch)))
                batch = []
        if batch:
            pending.append(asyncio.create_task(judged(batch)))
        while pending:
            yield await pending.popleft()
    finally:
        for task in pending:
            task.cancel()
