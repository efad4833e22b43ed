"""The ledger's chain columns and per-tenant heads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

_CONTENT = (
    "id, subject_id, type, purpose, channels, occurred_at, recorded_at, source, proof, idempotency_key, subject_kind"
)


async def lock_head(
    conn: asyncpg.Connection, tenant_id: UUID, genesis: bytes, *, skip_locked: bool
) -> tuple[int, bytes] | None:
    """Lock the tenant's chain head (creating it at genesis). None when another sealer holds it."""
    await conn.execute(
        "INSERT INTO ledger_heads (tenant_id, pos, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING", tenant_id, genesis
    )
    row = await conn.fetchrow(
        f"SELECT pos, hash FROM ledger_heads WHERE tenant_id = $1 FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}",
        tenant_id,
    )
    return None if row is None else (int(row["pos"]), bytes(row["hash"]))


async def unsealed(conn: asyncpg.Connection, tenant_id: UUID, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(  # type: ignore[no-any-return]
        f"SELECT {_CONTENT} FROM events WHERE tenant_id = $1 AND chain_pos IS NULL ORDER BY seq LIMIT $2",
        tenant_id,
        limit,
    )


async def seal(
    conn: asyncpg.Connection, tenant_id: UUID, sealed: Sequence[tuple[UUID, int, bytes]], head: tuple[int, bytes]
) -> None:
    await conn.execute(
        """
        UPDATE events e SET chain_pos = u.pos, chain_hash = u.hash
        FROM unnest($2::uuid[], $3::bigint[], $4::bytea[]) AS u(id, pos, hash)
        WHERE e.tenant_id = $1 AND e.id = u.id
        """,
        tenant_id,
        [s[0] for s in sealed],
        [s[1] for s in sealed],
        [s[2] for s in sealed],
    )
    await conn.execute(
        "UPDATE ledger_heads SET pos = $2, hash = $3, sealed_at = now() WHERE tenant_id = $1", tenant_id, *head
    )


async def tenants_with_unsealed(conn: asyncpg.Connection) -> list[UUID]:
    rows = await conn.fetch("SELECT DISTINCT tenant_id FROM events WHERE chain_pos IS NULL")
    return [r["tenant_id"] for r in rows]


async def count_unsealed(conn: asyncpg.Connection, tenant_id: UUID) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1 AND chain_pos IS NULL", tenant_id))


async def chain_page(conn: asyncpg.Connection, tenant_id: UUID, after: int, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(  # type: ignore[no-any-return]
        f"SELECT {_CONTENT}, chain_pos, chain_hash, erased_digest FROM events "
        "WHERE tenant_id = $1 AND chain_pos > $2 ORDER BY chain_pos LIMIT $3",
        tenant_id,
        after,
        limit,
    )


async def head(conn: asyncpg.Connection, tenant_id: UUID) -> tuple[int, bytes, datetime | None] | None:
    row = await conn.fetchrow("SELECT pos, hash, sealed_at FROM ledger_heads WHERE tenant_id = $1", tenant_id)
    return None if row is None else (int(row["pos"]), bytes(row["hash"]), row["sealed_at"])


async def erase_content(conn: asyncpg.Connection, tenant_id: UUID, digests: Sequence[tuple[UUID, bytes]]) -> None:
    """Replace events' content by their digests (the caller has set consent.ledger_rewrite)."""
    await conn.execute(
        """
        UPDATE events e SET erased_digest = u.digest, proof = '{}', purpose = NULL, channels = '{}',
                            idempotency_key = NULL, fingerprint = NULL, subject_kind = NULL
        FROM unnest($2::uuid[], $3::bytea[]) AS u(id, digest)
        WHERE e.tenant_id = $1 AND e.id = u.id
        """,
        tenant_id,
        [d[0] for d in digests],
        [d[1] for d in digests],
    )


async def events_content(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> list[Any]:
    return await conn.fetch(  # type: ignore[no-any-return]
        f"SELECT {_CONTENT}, erased_digest FROM events WHERE tenant_id = $1 AND subject_id = $2", tenant_id, subject_id
    )


async def allow_ledger_rewrite(conn: asyncpg.Connection) -> None:
    """For this transaction only: let erasure and the retention sweep rewrite ledger rows."""
    await conn.execute("SET LOCAL consent.ledger_rewrite = 'on'")
