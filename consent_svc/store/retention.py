"""The retention sweep's bookkeeping: its audit records and the per-tenant lock."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from consent_svc.domain.records import SweepRunRow


async def insert_sweep_run(conn: asyncpg.Connection, tenant_id: UUID, run: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO sweep_runs (tenant_id, id, started_at, finished_at, as_of, dry_run, scanned, swept, counts) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        tenant_id, run["id"], run["started_at"], run["finished_at"], run["as_of"], run["dry_run"], run["scanned"],
        run["swept"], run["counts"],
    )  # fmt: skip


async def try_advisory_lock(conn: asyncpg.Connection, key: int) -> bool:
    """A session lock held until :func:`advisory_unlock` (or the connection closes)."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def advisory_unlock(conn: asyncpg.Connection, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def sweep_runs(conn: asyncpg.Connection, tenant_id: UUID, before: UUID | None, limit: int) -> list[SweepRunRow]:
    """The sweep audit, newest first (ids are time-ordered)."""
    rows = await conn.fetch(
        "SELECT id, started_at, finished_at, as_of, dry_run, scanned, swept, counts FROM sweep_runs "
        "WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        tenant_id,
        before,
        limit,
    )
    return [SweepRunRow(**dict(r)) for r in rows]
