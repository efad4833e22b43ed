"""The console dashboard's counts (docs/console.md): a handful of grouped queries per tenant."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from consent_svc.domain.ids import uuid7_floor


async def first_seq_since(conn: asyncpg.Connection, tenant_id: UUID, since: datetime) -> int | None:
    """Where the tenant's ledger reaches ``since``: the smallest x such that the first event at or
    after position x was recorded at or after ``since`` (None: nothing since). A binary search of
    index probes on (tenant_id, seq), about 40 of them, instead of reading the tenant's whole
    ledger: events are numbered in the order they are recorded."""
    bounds = await conn.fetchrow("SELECT min(seq) AS lo, max(seq) AS hi FROM events WHERE tenant_id = $1", tenant_id)
    if bounds is None or bounds["lo"] is None:
        return None
    probe = "SELECT recorded_at FROM events WHERE tenant_id = $1 AND seq >= $2 ORDER BY seq LIMIT 1"
    lo, hi = int(bounds["lo"]), int(bounds["hi"])
    if await conn.fetchval(probe, tenant_id, hi) < since:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if await conn.fetchval(probe, tenant_id, mid) >= since:
            hi = mid
        else:
            lo = mid + 1
    return lo


async def events_per_week(
    conn: asyncpg.Connection, tenant_id: UUID, since: datetime
) -> list[tuple[date, str, str, int]]:
    """(week, purpose, kind, count): kind is consent_given, consent_withdrawn, objection, or
    unsubscribe (a withdrawal from an unsubscribe link or the preference center). Read from where
    the window starts in the ledger (:func:`first_seq_since`), on the (tenant_id, seq) index."""
    start = await first_seq_since(conn, tenant_id, since)
    if start is None:
        return []
    rows = await conn.fetch(
        """
        SELECT date_trunc('week', recorded_at AT TIME ZONE 'UTC')::date AS week, purpose,
               CASE WHEN type = 'consent_withdrawn' AND source IN ('unsubscribe', 'preference_center')
                    THEN 'unsubscribe' ELSE type END AS kind,
               count(*) AS n
        FROM events
        WHERE tenant_id = $1 AND seq >= $3 AND recorded_at >= $2 AND purpose IS NOT NULL
          AND type IN ('consent_given', 'consent_withdrawn', 'objection')
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        tenant_id,
        since,
        start,
    )
    return [(r["week"], r["purpose"], r["kind"], int(r["n"])) for r in rows]


async def suppressions_by_reason(conn: asyncpg.Connection, tenant_id: UUID) -> list[tuple[str, int]]:
    rows = await conn.fetch(
        "SELECT reason, count(*) AS n FROM suppressions WHERE tenant_id = $1 AND lifted_at IS NULL "
        "GROUP BY reason ORDER BY reason",
        tenant_id,
    )
    return [(r["reason"], int(r["n"])) for r in rows]


async def banner_choices(conn: asyncpg.Connection, tenant_id: UUID, since: datetime) -> list[tuple[str, str, int, int]]:
    """(site_key, action, count, of which with Global Privacy Control)."""
    # Receipt ids are UUIDv7: the time range is a range of the primary key.
    floor = uuid7_floor(int(since.timestamp() * 1000))
    rows = await conn.fetch(
        "SELECT site_key, action, count(*) AS n, count(*) FILTER (WHERE gpc) AS gpc FROM banner_consents "
        "WHERE tenant_id = $1 AND id >= $3 AND recorded_at >= $2 GROUP BY 1, 2 ORDER BY 1, 2",
        tenant_id,
        since,
        floor,
    )
    return [(r["site_key"], r["action"], int(r["n"]), int(r["gpc"])) for r in rows]


async def pending_confirmations(conn: asyncpg.Connection, tenant_id: UUID, now: datetime) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM signups WHERE tenant_id = $1 AND status = 'pending' AND expires_at > $2",
            tenant_id,
            now,
        )
    )


async def webhook_backlog(conn: asyncpg.Connection, tenant_id: UUID) -> tuple[int, int, datetime | None]:
    """(pending, dead, when the oldest pending message was queued)."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, "
        "count(*) FILTER (WHERE status = 'dead') AS dead, "
        "min(created_at) FILTER (WHERE status = 'pending') AS oldest FROM outbox WHERE tenant_id = $1",
        tenant_id,
    )
    return int(row["pending"]), int(row["dead"]), row["oldest"]
