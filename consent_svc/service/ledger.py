"""Sealing the ledger into a hash chain, verifying it, and publishing its head.

Events are written without touching the chain (a per-write chain would make
every writer of a tenant queue on one lock: bench/ledger_chain.py measured
899 against 247 events/s with 16 writers). The sealer chains them in
recording order shortly after (every ``CONSENT_LEDGER_SEAL_SECONDS``, 1 s by
default); until then an event is recorded but not yet sealed, and ``verify``
says how many are waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from consent_svc.domain import ledger as chain
from consent_svc.service.context import Context
from consent_svc.store import ledger as store

SEAL_BATCH = 5_000


def _digest(row: Any) -> bytes:
    if row.get("erased_digest") is not None:
        return bytes(row["erased_digest"])
    return chain.content_digest(
        row["id"], row["subject_id"], row["type"], row["purpose"], row["channels"], row["occurred_at"],
        row["recorded_at"], row["source"], row["proof"], row["idempotency_key"], row["subject_kind"],
    )  # fmt: skip


async def seal_tenant(conn: Any, tenant_id: UUID, *, skip_locked: bool = False, limit: int | None = None) -> int:
    """Chain this tenant's unsealed events, in recording order, inside the caller's transaction:
    all of them, or the first ``limit``."""
    head = await store.lock_head(conn, tenant_id, chain.genesis(tenant_id), skip_locked=skip_locked)
    if head is None:
        return 0  # another sealer (another replica) is at it
    pos, current = head
    total = 0
    while (limit is None or total < limit) and (
        rows := await store.unsealed(conn, tenant_id, SEAL_BATCH if limit is None else min(SEAL_BATCH, limit - total))
    ):
        sealed = []
        for row in rows:
            pos += 1
            current = chain.link(current, _digest(row))
            sealed.append((row["id"], pos, current))
        await store.seal(conn, tenant_id, sealed, (pos, current))
        total += len(rows)
    return total


async def _seal_in_steps(ctx: Context, tenant_id: UUID, *, skip_locked: bool) -> int:
    """Seal a tenant's backlog in transactions of at most ``SEAL_BATCH`` events, the head locked
    again for each: a backlog of minutes (events written straight into the table, a bulk import)
    does not hold the head and the rows it seals in one long transaction beside the traffic."""
    total = 0
    while True:
        async with ctx.pool.acquire() as conn, conn.transaction():
            sealed = await seal_tenant(conn, tenant_id, skip_locked=skip_locked, limit=SEAL_BATCH)
        total += sealed
        if sealed < SEAL_BATCH:
            return total


async def seal_now(ctx: Context, tenant_id: UUID) -> int:
    """Seal one tenant's pending events now (waiting for another sealer, if one is at it)."""
    return await _seal_in_steps(ctx, tenant_id, skip_locked=False)


async def seal_all(ctx: Context) -> int:
    """One round of the sealer over every tenant with unsealed events."""
    async with ctx.pool.acquire() as conn:
        tenants = await store.tenants_with_unsealed(conn)
    total = 0
    for tenant_id in tenants:
        total += await _seal_in_steps(ctx, tenant_id, skip_locked=True)
    return total


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    events: int
    head: str
    unsealed: int
    first_break: dict[str, Any] | None


async def verify(ctx: Context, tenant_id: UUID) -> Verification:
    """Walk the tenant's chain from the start and report the first position that does not match."""
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        current = chain.genesis(tenant_id)
        count = 0
        while rows := await store.chain_page(conn, tenant_id, count, 10_000):
            for row in rows:
                count += 1
                expected = chain.link(current, _digest(row))
                if row["chain_pos"] != count or bytes(row["chain_hash"]) != expected:
                    return Verification(False, count, current.hex(), await store.count_unsealed(conn, tenant_id), {
                        "event_id": str(row["id"]), "position": count, "expected": expected.hex(),
                        "found": bytes(row["chain_hash"]).hex(),
                    })  # fmt: skip
                current = expected
        stored = await store.head(conn, tenant_id)
        unsealed = await store.count_unsealed(conn, tenant_id)
    if stored is not None and (stored[0] != count or stored[1] != current):
        return Verification(False, count, current.hex(), unsealed, {
            "event_id": None, "position": stored[0], "expected": current.hex(), "found": stored[1].hex()})  # fmt: skip
    return Verification(True, count, current.hex(), unsealed, None)


@dataclass(frozen=True, slots=True)
class Head:
    position: int
    hash: str
    sealed_at: datetime | None
    unsealed: int


async def head(ctx: Context, tenant_id: UUID) -> Head:
    async with ctx.pool.acquire() as conn:
        found = await store.head(conn, tenant_id)
        unsealed = await store.count_unsealed(conn, tenant_id)
    pos, digest, sealed_at = found if found is not None else (0, chain.genesis(tenant_id), None)
    return Head(pos, digest.hex(), sealed_at, unsealed)


async def erase_events(conn: Any, tenant_id: UUID, subject_id: UUID) -> int:
    """Seal first, then replace the subject's events' content by their digests (chain still verifies)."""
    await seal_tenant(conn, tenant_id)
    rows = await store.events_content(conn, tenant_id, subject_id)
    await store.erase_content(conn, tenant_id, [(r["id"], _digest(r)) for r in rows if r["erased_digest"] is None])
    return len(rows)
