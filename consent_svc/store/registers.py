"""Opt-out registers: the register rows, their snapshots, and the entries (keyed hashes) of the
snapshot in force, one partition of ``register_entries`` per snapshot.

An import loads a fresh partition table with COPY, builds its index in one sorted pass and
attaches it, all in the caller's transaction; the swap is one update of ``registers.snapshot_id``.
A replaced snapshot's partition is detached and dropped afterwards, outside any transaction
(:func:`drop_replaced`), so that readers are never blocked by the drop.
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


def partition_name(snapshot_id: UUID) -> str:
    return f"register_entries_{snapshot_id.hex}"


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


async def create_partition(conn: asyncpg.Connection, tenant_id: UUID, snapshot_id: UUID) -> str:
    """A table for a new snapshot's entries (COPY fills its ``hash`` column). Identifiers are
    UUIDs this service made, never input."""
    table = partition_name(snapshot_id)
    await conn.execute(
        f"""
        CREATE TABLE {table} (
            tenant_id    uuid NOT NULL DEFAULT '{tenant_id}' CHECK (tenant_id = '{tenant_id}'),
            snapshot_id  uuid NOT NULL DEFAULT '{snapshot_id}' CHECK (snapshot_id = '{snapshot_id}'),
            hash         bytea NOT NULL
        )
        """
    )
    return table


async def copy_hashes(conn: asyncpg.Connection, table: str, hashes: Sequence[tuple[bytes]]) -> None:
    await conn.copy_records_to_table(table, records=hashes, columns=["hash"])


async def attach_partition(conn: asyncpg.Connection, table: str, snapshot_id: UUID) -> int:
    """Index the loaded table in one pass, attach it as the snapshot's partition; the number of
    distinct identifiers in it."""
    await conn.execute(f"CREATE INDEX {table}_hash ON {table} (hash)")
    await conn.execute(f"ALTER TABLE register_entries ATTACH PARTITION {table} FOR VALUES IN ('{snapshot_id}')")
    return int(await conn.fetchval(f"SELECT count(*) FROM (SELECT DISTINCT hash FROM {table}) d"))


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
    """Record the snapshot and put it in force; the one it replaces is marked for dropping."""
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


async def drop_replaced(conn: asyncpg.Connection) -> int:
    """Detach and drop the partitions of replaced snapshots (any tenant); the number dropped. Run
    outside a transaction: DETACH ... CONCURRENTLY never blocks decisions reading the others."""
    rows = await conn.fetch(
        "SELECT s.id, c.relispartition AS attached, "
        "EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_inherits i ON i.inhparent = p.partrelid "
        "        WHERE i.inhrelid = c.oid AND i.inhdetachpending) AS pending "
        "FROM register_snapshots s JOIN pg_class c ON c.relname = 'register_entries_' || replace(s.id::text, '-', '') "
        "WHERE s.replaced_at IS NOT NULL"
    )
    for row in rows:
        table = partition_name(row["id"])
        if row["pending"]:
            await conn.execute(f"ALTER TABLE register_entries DETACH PARTITION {table} FINALIZE")
        elif row["attached"]:
            await conn.execute(f"ALTER TABLE register_entries DETACH PARTITION {table} CONCURRENTLY")
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
    return len(rows)


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
