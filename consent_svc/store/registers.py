"""Opt-out registers: the register rows, their snapshots, and the entries (keyed hashes) of the
snapshot in force.

An import COPYs hashes into ``register_staging``, moves them into ``register_entries`` in hash
order (deduplicated), and swaps: one update of ``registers.snapshot_id`` and a delete of the
replaced snapshot's entries, all in the caller's transaction. Decisions read only the entries of
the snapshot a register points at, so they see the old snapshot or the new one, never a mix.
Rows only: no table is created or dropped at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

import asyncpg
import msgspec

from consent_svc.domain.registers import RegisterRow

_ROW = """
SELECT r.id, r.name, r.channel, r.ident_type, r.snapshot_id, s.version_date,
       coalesce(s.entries, 0) AS entries, s.imported_at
FROM registers r
LEFT JOIN register_snapshots s ON s.tenant_id = r.tenant_id AND s.id = r.snapshot_id
"""


async def lock_or_create(
    conn: asyncpg.Connection, tenant_id: UUID, new_id: UUID, name: str, channel: str, ident_type: str
) -> RegisterRow:
    """The register ``name`` of the tenant, locked for this transaction (made on first import)."""
    await conn.execute(
        "INSERT INTO registers (tenant_id, id, name, channel, ident_type) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (tenant_id, name) DO NOTHING",
        tenant_id,
        new_id,
        name,
        channel,
        ident_type,
    )
    await conn.execute("SELECT 1 FROM registers WHERE tenant_id = $1 AND name = $2 FOR UPDATE", tenant_id, name)
    row = await conn.fetchrow(_ROW + "WHERE r.tenant_id = $1 AND r.name = $2", tenant_id, name)
    assert row is not None
    return RegisterRow(**dict(row))


async def copy_hashes(conn: asyncpg.Connection, tenant_id: UUID, import_id: UUID, hashes: Sequence[bytes]) -> None:
    await conn.copy_records_to_table(
        "register_staging",
        records=[(tenant_id, import_id, h) for h in hashes],
        columns=["tenant_id", "import_id", "hash"],
    )


async def load_snapshot(conn: asyncpg.Connection, tenant_id: UUID, snapshot_id: UUID) -> int:
    """Move an import's staged hashes into the snapshot's entries, distinct and in hash order (the
    index then grows at its end instead of at 3 million random places); the number of entries."""
    await conn.execute("SET LOCAL work_mem = '128MB'")
    status = await conn.execute(
        "INSERT INTO register_entries (tenant_id, snapshot_id, hash) "
        "SELECT $1, $2, d.hash FROM (SELECT DISTINCT hash FROM register_staging "
        "                            WHERE tenant_id = $1 AND import_id = $2) d ORDER BY d.hash",
        tenant_id,
        snapshot_id,
    )
    await conn.execute("DELETE FROM register_staging WHERE tenant_id = $1 AND import_id = $2", tenant_id, snapshot_id)
    return int(status.rsplit(" ", 1)[1])


async def swap(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    register_id: UUID,
    snapshot_id: UUID,
    version_date: date,
    entries: int,
    lines: int,
    imported_at: datetime,
) -> None:
    """Record the snapshot and put it in force. The entries of the one it replaces stay until
    :func:`purge_replaced` (a decision that read the old snapshot a moment ago still finds them)."""
    await conn.execute(
        "INSERT INTO register_snapshots (tenant_id, id, register_id, version_date, entries, lines, imported_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        tenant_id,
        snapshot_id,
        register_id,
        version_date,
        entries,
        lines,
        imported_at,
    )
    await conn.execute(
        "UPDATE register_snapshots SET replaced_at = $4 WHERE tenant_id = $1 AND id = "
        "(SELECT snapshot_id FROM registers WHERE tenant_id = $1 AND id = $2) AND id <> $3",
        tenant_id,
        register_id,
        snapshot_id,
        imported_at,
    )
    await conn.execute(
        "UPDATE registers SET snapshot_id = $3 WHERE tenant_id = $1 AND id = $2", tenant_id, register_id, snapshot_id
    )


async def purge_replaced(conn: asyncpg.Connection, replaced_before: datetime) -> int:
    """Delete the entries of snapshots replaced before ``replaced_before``; the number deleted."""
    done = await conn.execute(
        "DELETE FROM register_entries e USING register_snapshots s "
        "WHERE e.tenant_id = s.tenant_id AND e.snapshot_id = s.id AND s.replaced_at < $1",
        replaced_before,
    )
    return int(done.split()[-1])


async def listing(conn: asyncpg.Connection, tenant_id: UUID, after: str | None, limit: int) -> list[RegisterRow]:
    rows = await conn.fetch(
        _ROW + "WHERE r.tenant_id = $1 AND ($2::text IS NULL OR r.name > $2) ORDER BY r.name LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [RegisterRow(**dict(r)) for r in rows]


async def of_tenant(conn: asyncpg.Connection, tenant_id: UUID) -> list[RegisterRow]:
    """Every register of the tenant (a tenant has a handful)."""
    rows = await conn.fetch(_ROW + "WHERE r.tenant_id = $1 ORDER BY r.name", tenant_id)
    return [RegisterRow(**dict(r)) for r in rows]


class DueStale(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: UUID
    snapshot_id: UUID
    name: str
    channel: str
    version_date: date


async def due_stale(conn: asyncpg.Connection, today: date, days: int) -> list[DueStale]:
    """Snapshots in force whose validity ended (``version_date + days <= today``, Swedish dates)
    and that were not announced yet; locked (others skip them) until the caller's transaction ends."""
    rows = await conn.fetch(
        "SELECT s.tenant_id, s.id AS snapshot_id, r.name, r.channel, s.version_date "
        "FROM register_snapshots s JOIN registers r ON r.tenant_id = s.tenant_id AND r.snapshot_id = s.id "
        "WHERE s.stale_announced_at IS NULL AND s.version_date + $2::int <= $1 "
        "ORDER BY s.tenant_id, r.name FOR UPDATE OF s SKIP LOCKED",
        today,
        days,
    )
    return [DueStale(**dict(r)) for r in rows]


async def mark_announced(conn: asyncpg.Connection, tenant_id: UUID, snapshot_id: UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE register_snapshots SET stale_announced_at = $3 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        snapshot_id,
        at,
    )


async def versions(conn: asyncpg.Connection) -> list[tuple[str, str, date]]:
    """(tenant name, register name, version date) of every snapshot in force, for the metrics."""
    rows = await conn.fetch(
        "SELECT t.name AS tenant, r.name, s.version_date FROM registers r "
        "JOIN tenants t ON t.id = r.tenant_id "
        "JOIN register_snapshots s ON s.tenant_id = r.tenant_id AND s.id = r.snapshot_id ORDER BY 1, 2"
    )
    return [(r["tenant"], r["name"], r["version_date"]) for r in rows]
