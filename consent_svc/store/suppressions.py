"""The suppression list. Entries are never deleted; a lift is recorded on the row."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
import msgspec

from consent_svc.domain.records import ActiveScope, SuppressionRow
from consent_svc.store import integration_outbox, outbox

_COLUMNS = (
    "id, ident_type, value, sha256, scope, channel, reason, source, note, created_at, "
    "lifted_at, lift_reason, change_seq"
)


class NewSuppression(msgspec.Struct, frozen=True):
    id: UUID
    ident_hash: bytes
    ident_type: str
    value: str | None
    sha256: bytes | None
    scope: str
    channel: str | None
    reason: str
    source: str | None
    note: str | None


async def _take_change_seqs(conn: asyncpg.Connection, tenant_id: UUID, count: int) -> int:
    """Reserve ``count`` change numbers; return the first. Holds the tenant's counter
    row lock until commit, so change numbers become visible in order."""
    last: int = await conn.fetchval(
        "UPDATE tenant_counters SET suppression_seq = suppression_seq + $2 WHERE tenant_id = $1 "
        "RETURNING suppression_seq",
        tenant_id,
        count,
    )
    return last - count + 1


async def add(
    conn: asyncpg.Connection, tenant_id: UUID, entries: Sequence[NewSuppression]
) -> list[tuple[SuppressionRow, bool]]:
    """Add entries, idempotent on (identifier, scope, channel, reason) among active entries.

    Returns, per entry in order, the active row and whether it was created now.
    """
    if not entries:
        return []
    # Lock first: serialises this tenant's suppression changes, so the check
    # for an active entry below cannot race another transaction's insert.
    first = await _take_change_seqs(conn, tenant_id, len(entries))
    rows = await conn.fetch(
        f"""
        INSERT INTO suppressions (tenant_id, id, ident_hash, ident_type, value, sha256, scope,
                                  channel, reason, source, note, change_seq)
        SELECT $1, u.id, u.h, u.t, u.v, u.s, u.scope, u.ch, u.reason, u.src, u.note, $12 + u.ord - 1
        FROM unnest($2::uuid[], $3::bytea[], $4::text[], $5::text[], $6::bytea[], $7::text[],
                    $8::text[], $9::text[], $10::text[], $11::text[])
             WITH ORDINALITY AS u(id, h, t, v, s, scope, ch, reason, src, note, ord)
        ON CONFLICT (tenant_id, ident_hash, scope, coalesce(channel, '*'), reason) WHERE lifted_at IS NULL
        DO NOTHING
        RETURNING {_COLUMNS}
        """,
        tenant_id,
        [e.id for e in entries],
        [e.ident_hash for e in entries],
        [e.ident_type for e in entries],
        [e.value for e in entries],
        [e.sha256 for e in entries],
        [e.scope for e in entries],
        [e.channel for e in entries],
        [e.reason for e in entries],
        [e.source for e in entries],
        [e.note for e in entries],
        first,
    )
    created = {r["id"]: SuppressionRow(**dict(r)) for r in rows}
    await outbox.enqueue(
        conn,
        tenant_id,
        [_message("suppression.added", e.ident_hash, created[e.id]) for e in entries if e.id in created],
    )
    await integration_outbox.enqueue(conn, tenant_id, [e.id for e in entries if e.id in created], "add")
    missing = [e for e in entries if e.id not in created]
    existing: dict[tuple[bytes, str, str, str], SuppressionRow] = {}
    if missing:
        found = await conn.fetch(
            f"""
            SELECT ident_hash, {_COLUMNS} FROM suppressions
            WHERE tenant_id = $1 AND lifted_at IS NULL AND ident_hash = ANY($2::bytea[])
            """,
            tenant_id,
            [e.ident_hash for e in missing],
        )
        for r in found:
            data = dict(r)
            ident_hash = data.pop("ident_hash")
            existing[(ident_hash, r["scope"], r["channel"] or "*", r["reason"])] = SuppressionRow(**data)
    out: list[tuple[SuppressionRow, bool]] = []
    for e in entries:
        if e.id in created:
            out.append((created[e.id], True))
        else:
            out.append((existing[(e.ident_hash, e.scope, e.channel or "*", e.reason)], False))
    return out


async def active_for(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    hashes: Sequence[bytes],
    after: UUID | None = None,
    limit: int | None = None,
) -> list[SuppressionRow]:
    """Active entries of these identifiers in id order (time-ordered UUIDv7: oldest first)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM suppressions WHERE tenant_id = $1 AND lifted_at IS NULL "
        "AND ident_hash = ANY($2::bytea[]) AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4",
        tenant_id,
        list(hashes),
        after,
        limit,
    )
    return [SuppressionRow(**dict(r)) for r in rows]


async def lift(conn: asyncpg.Connection, tenant_id: UUID, entry_id: UUID, reason: str) -> SuppressionRow | None:
    """Lift an active entry. ``None`` when there is no such entry; an already
    lifted entry is returned unchanged."""
    current = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM suppressions WHERE tenant_id = $1 AND id = $2", tenant_id, entry_id
    )
    if current is None:
        return None
    if current["lifted_at"] is not None:
        return SuppressionRow(**dict(current))
    seq = await _take_change_seqs(conn, tenant_id, 1)
    row = await conn.fetchrow(
        f"""
        UPDATE suppressions SET lifted_at = now(), lift_reason = $3, change_seq = $4
        WHERE tenant_id = $1 AND id = $2 AND lifted_at IS NULL
        RETURNING {_COLUMNS}
        """,
        tenant_id,
        entry_id,
        reason,
        seq,
    )
    if row is None:  # lifted by a concurrent call between our read and our lock
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM suppressions WHERE tenant_id = $1 AND id = $2", tenant_id, entry_id
        )
        return SuppressionRow(**dict(row))
    lifted = SuppressionRow(**dict(row))
    ident_hash = await conn.fetchval(
        "SELECT ident_hash FROM suppressions WHERE tenant_id = $1 AND id = $2", tenant_id, entry_id
    )
    await outbox.enqueue(conn, tenant_id, [_message("suppression.lifted", ident_hash, lifted)])
    await integration_outbox.enqueue(conn, tenant_id, [entry_id], "lift")
    return lifted


def _message(type_: str, ident_hash: bytes, row: SuppressionRow) -> outbox.Message:
    payload = {
        "suppression_id": str(row.id),
        "type": row.ident_type,
        "scope": row.scope,
        "channel": row.channel,
        "reason": row.reason,
        "sha256": row.sha256.hex() if row.sha256 else None,
        "created_at": row.created_at.isoformat(),
        "lifted_at": row.lifted_at.isoformat() if row.lifted_at else None,
    }
    if row.value is not None:
        payload[row.ident_type] = row.value
    return outbox.Message(type=type_, ident_hash=ident_hash, payload=payload)


async def by_id(conn: asyncpg.Connection, tenant_id: UUID, entry_id: UUID) -> SuppressionRow | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM suppressions WHERE tenant_id = $1 AND id = $2", tenant_id, entry_id
    )
    return None if row is None else SuppressionRow(**dict(row))


async def changes_since(conn: asyncpg.Connection, tenant_id: UUID, after: int, limit: int) -> list[SuppressionRow]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM suppressions WHERE tenant_id = $1 AND change_seq > $2 ORDER BY change_seq LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [SuppressionRow(**dict(r)) for r in rows]


async def still_active(
    conn: asyncpg.Connection, tenant_id: UUID, entry_ids: Sequence[UUID]
) -> dict[UUID, list[ActiveScope]]:
    """For each entry, what is active now for its identifier (any entry, any reason), by scope and channel."""
    rows = await conn.fetch(
        """
        SELECT c.id, a.scope, a.channel, array_agg(DISTINCT a.reason ORDER BY a.reason) AS reasons
        FROM suppressions c
        JOIN suppressions a ON a.tenant_id = c.tenant_id AND a.ident_hash = c.ident_hash AND a.lifted_at IS NULL
        WHERE c.tenant_id = $1 AND c.id = ANY($2::uuid[])
        GROUP BY c.id, a.scope, a.channel
        ORDER BY c.id, a.scope, a.channel NULLS FIRST
        """,
        tenant_id,
        list(entry_ids),
    )
    found: dict[UUID, list[ActiveScope]] = {}
    for r in rows:
        found.setdefault(r["id"], []).append(ActiveScope(r["scope"], r["channel"], list(r["reasons"])))
    return found


async def active_by_reason(
    conn: asyncpg.Connection, tenant_id: UUID, hashes: Sequence[bytes], reason: str
) -> list[SuppressionRow]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM suppressions WHERE tenant_id = $1 AND lifted_at IS NULL "
        "AND ident_hash = ANY($2::bytea[]) AND reason = $3 ORDER BY created_at, id",
        tenant_id,
        list(hashes),
        reason,
    )
    return [SuppressionRow(**dict(r)) for r in rows]
