"""Suppressions out: the outbox of suppression changes to push to providers, and its lease.

``enqueue`` is called by the store functions that add and lift suppression
entries (``store.suppressions``), inside their transaction, so no change is
made without its pushes and none is pushed that was rolled back: one row per
(entry changed, integration with ``sync_suppressions``). The rows are worked
on in ``seq`` order per integration, so an add and a later lift of an address
reach the provider in that order.

Leases are per integration, as the webhook outbox's are per message:
``claim`` pushes the integration's ``sync_due_at`` to the end of the lease in
a statement committed at once (no transaction stays open while a provider is
called); that value is also the fencing token every outcome is written under.
A worker that dies holding a lease loses it when it runs out; a retryable
failure sets ``sync_due_at`` to the next retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from consent_svc.domain.records import IntegrationDeliveryRow


async def enqueue(conn: asyncpg.Connection, tenant_id: UUID, suppression_ids: Sequence[UUID], action: str) -> None:
    """One row per (entry, live integration of the tenant that syncs suppressions), in order."""
    if not suppression_ids:
        return
    await conn.execute(
        """
        INSERT INTO integration_outbox (tenant_id, integration_id, suppression_id, action)
        SELECT $1, i.id, u.sid, $3
        FROM unnest($2::uuid[]) WITH ORDINALITY AS u(sid, ord)
        JOIN integrations i ON i.tenant_id = $1 AND i.sync_suppressions AND i.deleted_at IS NULL
        ORDER BY u.ord, i.id
        """,
        tenant_id,
        list(suppression_ids),
        action,
    )


async def enqueue_backfill(conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID) -> tuple[int, int, int]:
    """Queue an add of every active entry of the tenant for one integration (a reconciliation),
    behind whatever is queued already. Returns (how many, the first and last position queued)."""
    row = await conn.fetchrow(
        """
        WITH queued AS (
            INSERT INTO integration_outbox (tenant_id, integration_id, suppression_id, action, origin)
            SELECT $1, $2, s.id, 'add', 'sync' FROM suppressions s
            WHERE s.tenant_id = $1 AND s.lifted_at IS NULL
            ORDER BY s.change_seq
            RETURNING seq
        )
        SELECT count(*) AS n, coalesce(min(seq), 0) AS first, coalesce(max(seq), 0) AS last FROM queued
        """,
        tenant_id,
        integration_id,
    )
    return int(row["n"]), int(row["first"]), int(row["last"])


async def dead_letter_pending(conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, why: str) -> int:
    done = await conn.fetchval(
        "WITH gone AS (UPDATE integration_outbox SET status = 'dead', last_error = $3, done_at = now() "
        "WHERE tenant_id = $1 AND integration_id = $2 AND status = 'pending' RETURNING 1) SELECT count(*) FROM gone",
        tenant_id,
        integration_id,
        why,
    )
    return int(done)


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: UUID
    id: UUID
    provider: str
    settings: dict[str, Any]
    sealed_secrets: bytes | None
    purposes: dict[str, str]
    leased_until: datetime  # the fencing token


async def claim(
    conn: asyncpg.Connection, limit: int, *, lease_seconds: float, only: tuple[UUID, UUID] | None = None
) -> list[Lease]:
    """Lease up to ``limit`` integrations whose queue is due and holds pending pushes (``only``:
    that one (tenant, integration), if it is). One statement, committed on return."""
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT i.tenant_id, i.id FROM integrations i
            WHERE i.sync_suppressions AND i.deleted_at IS NULL AND i.sync_due_at <= now()
              AND ($3::uuid IS NULL OR (i.tenant_id = $3 AND i.id = $4))
              AND EXISTS (SELECT 1 FROM integration_outbox o
                          WHERE o.tenant_id = i.tenant_id AND o.integration_id = i.id AND o.status = 'pending')
            ORDER BY i.sync_due_at
            LIMIT $1
            FOR UPDATE OF i SKIP LOCKED
        )
        UPDATE integrations i SET sync_due_at = now() + make_interval(secs => $2)
        FROM due WHERE i.tenant_id = due.tenant_id AND i.id = due.id
        RETURNING i.tenant_id, i.id, i.provider, i.settings, i.sealed_secrets, i.purposes,
                  i.sync_due_at AS leased_until
        """,
        limit,
        lease_seconds,
        only[0] if only else None,
        only[1] if only else None,
    )
    leases = []
    for r in rows:
        data = dict(r)
        if data["sealed_secrets"] is not None:
            data["sealed_secrets"] = bytes(data["sealed_secrets"])
        leases.append(Lease(**data))
    return leases


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """A queued push with the entry it concerns, as the entry is now (None: it no longer exists)."""

    id: UUID
    seq: int
    suppression_id: UUID
    action: str
    attempts: int
    created_at: datetime
    ident_type: str | None
    ident_hash: bytes | None
    value: str | None
    scope: str | None
    channel: str | None
    reason: str | None
    entry_created_at: datetime | None


async def head(conn: asyncpg.Connection, lease: Lease, limit: int) -> list[Pending]:
    """The oldest ``limit`` pending pushes of the leased integration, in order."""
    rows = await conn.fetch(
        """
        SELECT o.id, o.seq, o.suppression_id, o.action, o.attempts, o.created_at,
               s.ident_type, s.ident_hash, s.value, s.scope, s.channel, s.reason, s.created_at AS entry_created_at
        FROM integration_outbox o
        LEFT JOIN suppressions s ON s.tenant_id = o.tenant_id AND s.id = o.suppression_id
        WHERE o.tenant_id = $1 AND o.integration_id = $2 AND o.status = 'pending'
        ORDER BY o.seq LIMIT $3
        """,
        lease.tenant_id,
        lease.id,
        limit,
    )
    out = []
    for r in rows:
        data = dict(r)
        if data["ident_hash"] is not None:
            data["ident_hash"] = bytes(data["ident_hash"])
        out.append(Pending(**data))
    return out


async def still_covered(
    conn: asyncpg.Connection, tenant_id: UUID, lifts: Sequence[tuple[UUID, bytes, str]]
) -> dict[UUID, UUID]:
    """For lifted entries (id, identifier hash, scope): the ones another active email entry still
    covers (the same identifier, the same scope or scope all), mapped to that entry's id."""
    if not lifts:
        return {}
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (u.id) u.id, s.id AS by
        FROM unnest($2::uuid[], $3::bytea[], $4::text[]) AS u(id, h, scope)
        JOIN suppressions s ON s.tenant_id = $1 AND s.ident_hash = u.h AND s.lifted_at IS NULL
             AND s.id <> u.id AND (s.scope = u.scope OR s.scope = 'all') AND coalesce(s.channel, 'email') = 'email'
        ORDER BY u.id, s.id
        """,
        tenant_id,
        [lift[0] for lift in lifts],
        [lift[1] for lift in lifts],
        [lift[2] for lift in lifts],
    )
    return {r["id"]: r["by"] for r in rows}


async def finish(
    conn: asyncpg.Connection,
    lease: Lease,
    ids: Sequence[UUID],
    *,
    status: str,
    tried: bool,
    request: str | None,
    status_code: int | None,
    error: str | None,
) -> bool:
    """Write the outcome of pushes (``status`` pending: a retry is due later), if the lease still
    holds. ``tried``: an attempt was made (counted). False, writing nothing, when the lease was lost."""
    if not ids:
        return True
    written = await conn.fetchval(
        """
        WITH held AS (
            SELECT 1 FROM integrations WHERE tenant_id = $1 AND id = $2 AND sync_due_at = $3
        ), done AS (
            UPDATE integration_outbox SET
                status = $5,
                attempts = attempts + CASE WHEN $6 THEN 1 ELSE 0 END,
                done_at = CASE WHEN $5 = 'pending' THEN NULL ELSE now() END,
                request = coalesce($7, request),
                status_code = $8,
                last_error = $9
            WHERE tenant_id = $1 AND integration_id = $2 AND id = ANY($4::uuid[]) AND status = 'pending'
              AND EXISTS (SELECT 1 FROM held)
            RETURNING 1
        )
        SELECT EXISTS (SELECT 1 FROM held)
        """,
        lease.tenant_id,
        lease.id,
        lease.leased_until,
        list(ids),
        status,
        tried,
        request[:300] if request else None,
        status_code,
        error[:1000] if error else None,
    )
    return bool(written)


async def renew(conn: asyncpg.Connection, lease: Lease, lease_seconds: float) -> Lease | None:
    """Extend a lease still held (None: it was lost)."""
    until = await conn.fetchval(
        "UPDATE integrations SET sync_due_at = now() + make_interval(secs => $4) "
        "WHERE tenant_id = $1 AND id = $2 AND sync_due_at = $3 RETURNING sync_due_at",
        lease.tenant_id,
        lease.id,
        lease.leased_until,
        lease_seconds,
    )
    return msgspec.structs.replace(lease, leased_until=until) if until is not None else None


async def release(conn: asyncpg.Connection, lease: Lease, due_in_seconds: float) -> bool:
    """End the lease: the integration is due again in ``due_in_seconds`` (0: at once)."""
    done = await conn.fetchval(
        "UPDATE integrations SET sync_due_at = now() + make_interval(secs => $4) "
        "WHERE tenant_id = $1 AND id = $2 AND sync_due_at = $3 RETURNING true",
        lease.tenant_id,
        lease.id,
        lease.leased_until,
        due_in_seconds,
    )
    return bool(done)


async def deliveries(
    conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, status: str | None, before: int | None, limit: int
) -> list[tuple[int, IntegrationDeliveryRow]]:
    """The integration's pushes, newest first, older than position ``before``; with their positions."""
    rows = await conn.fetch(
        """
        SELECT seq, id, suppression_id, action, origin, status, attempts, created_at, done_at, request, status_code,
               last_error
        FROM integration_outbox WHERE tenant_id = $1 AND integration_id = $2
          AND ($3::text IS NULL OR status = $3) AND ($4::bigint IS NULL OR seq < $4)
        ORDER BY seq DESC LIMIT $5
        """,
        tenant_id,
        integration_id,
        status,
        before,
        limit,
    )
    return [(r["seq"], IntegrationDeliveryRow(**{k: v for k, v in dict(r).items() if k != "seq"})) for r in rows]


async def sync_progress(
    conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, first: int, last: int
) -> dict[str, int]:
    """How the reconciliation pushes queued at positions ``first`` to ``last`` stand: status -> count."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM integration_outbox WHERE tenant_id = $1 AND integration_id = $2 "
        "AND seq BETWEEN $3 AND $4 AND origin = 'sync' GROUP BY status",
        tenant_id,
        integration_id,
        first,
        last,
    )
    return {r["status"]: int(r["n"]) for r in rows}


async def sync_reasons(
    conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, first: int, last: int
) -> dict[str, int]:
    """Why reconciliation pushes at positions ``first`` to ``last`` were skipped or failed: reason -> count."""
    rows = await conn.fetch(
        "SELECT status || ': ' || coalesce(last_error, '') AS why, count(*) AS n FROM integration_outbox "
        "WHERE tenant_id = $1 AND integration_id = $2 AND seq BETWEEN $3 AND $4 AND origin = 'sync' "
        "AND status IN ('skipped', 'dead') GROUP BY 1 ORDER BY 2 DESC, 1",
        tenant_id,
        integration_id,
        first,
        last,
    )
    return {r["why"]: int(r["n"]) for r in rows}
