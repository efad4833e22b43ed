"""What operations endpoints report: readiness and the webhook outbox's state."""

from __future__ import annotations

from dataclasses import dataclass

from consent_svc.service.context import Context
from consent_svc.store import migrations, outbox


@dataclass(frozen=True, slots=True)
class Readiness:
    database: bool
    pending_migrations: int
    read_replica: str  # "up", "down" or "none"


async def readiness(ctx: Context) -> Readiness:
    """Whether the database answers (within 2 s) and every migration is applied. A read replica
    that is down does not make the service unready: decisions then read the primary."""
    reads = ctx.reads.status() if ctx.reads is not None else "none"
    try:
        async with ctx.pool.acquire(timeout=2) as conn:
            pending = await migrations.status(conn)
    except Exception:
        return Readiness(False, 0, reads)
    return Readiness(True, len(pending), reads)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    oldest_pending_seconds: float
    dead: int


async def outbox_stats(ctx: Context) -> OutboxStats:
    async with ctx.pool.acquire() as conn:
        pending, oldest, dead = await outbox.stats(conn)
    return OutboxStats(pending, oldest, dead)
