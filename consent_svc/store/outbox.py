"""Webhook subscriptions and the transactional outbox.

``enqueue`` is called by the store functions that make the changes (events,
suppression adds and lifts), inside their transaction, so no change can be
made without its message, and no message exists for a change that was rolled
back. ``claim`` leases due messages to a worker: at most the oldest pending
message of each (webhook, subject), so a subject's messages go out in order,
picked with ``FOR UPDATE SKIP LOCKED`` and committed at once, so workers never
send one message twice at once and no transaction stays open while a receiver
is called. ``record_attempt`` writes the outcome later, in a statement of its
own.

A lease is the message's ``next_attempt_at`` pushed to the end of the lease:
the message is not due while a worker holds it, and is due again by itself
when a worker dies holding it. That timestamp is also the lease's fencing
token: an outcome is written only while ``next_attempt_at`` still holds the
value the claim gave it, so a worker whose lease ran out and was taken over
cannot overwrite the newer holder's outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from consent_svc.domain.records import DeliveryRow

# Ledger event types announced by webhooks.
EVENT_MESSAGES = {
    "consent_given": "consent.given",
    "consent_withdrawn": "consent.withdrawn",
    "objection": "objection.recorded",
}
MESSAGE_TYPES = (
    "consent.given",
    "consent.withdrawn",
    "objection.recorded",
    "suppression.added",
    "suppression.lifted",
    "subject.erased",
    "signup.pending",
    "consent.reconsent_needed",
    "register.stale",
)


class Message(msgspec.Struct, frozen=True):
    """A change to announce: keyed to a subject id, or to an identifier hash (resolved to its subject)."""

    type: str
    payload: dict[str, Any]
    subject_id: UUID | None = None
    ident_hash: bytes | None = None
    # For a message about no person (a register gone stale): the key its deliveries are ordered by.
    key: str | None = None


SUBSCRIBED = (
    "SELECT array_agg(DISTINCT e) FROM webhooks, unnest(events) AS e WHERE tenant_id = $1 AND deleted_at IS NULL"
)


async def subscribed(conn: asyncpg.Connection, tenant_id: UUID) -> frozenset[str]:
    """The message types some live webhook of the tenant wants.

    A writer asks this first and builds only those messages: a tenant without
    webhooks (the common case for a bulk import) then pays nothing for the
    outbox. It is read in the writer's transaction, as the ``JOIN webhooks`` of
    :func:`enqueue` is: a webhook created after the statement that looks is
    not seen by either.
    """
    found = await conn.fetchval(SUBSCRIBED, tenant_id)
    return frozenset(found or ())


async def enqueue(conn: asyncpg.Connection, tenant_id: UUID, messages: Sequence[Message]) -> None:
    """One outbox row per (message, subscribed webhook), in the caller's transaction."""
    if not messages:
        return
    await conn.execute(
        """
        INSERT INTO outbox (tenant_id, webhook_id, subject_key, event_type, payload)
        SELECT $1, w.id,
               coalesce(u.k, 'subject:' || u.sid::text,
                        (SELECT 'subject:' || si.subject_id::text FROM subject_identifiers si
                         WHERE si.tenant_id = $1 AND si.hash = u.h),
                        'identifier:' || encode(u.h, 'hex')),
               u.t, u.p
        FROM unnest($2::text[], $3::jsonb[], $4::uuid[], $5::bytea[], $6::text[]) WITH ORDINALITY
             AS u(t, p, sid, h, k, ord)
        JOIN webhooks w ON w.tenant_id = $1 AND w.deleted_at IS NULL AND u.t = ANY (w.events)
        ORDER BY u.ord, w.id
        """,
        tenant_id,
        [m.type for m in messages],
        [m.payload for m in messages],
        [m.subject_id for m in messages],
        [m.ident_hash for m in messages],
        [m.key for m in messages],
    )


class Due(msgspec.Struct, frozen=True):
    tenant_id: UUID
    id: UUID
    webhook_id: UUID
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    url: str
    secret: str
    leased_until: datetime  # the lease: this message is ours until then, and it fences our outcome


async def claim(
    conn: asyncpg.Connection,
    limit: int,
    *,
    lease_seconds: float,
    per_webhook: int,
    busy: Mapping[UUID, int] | None = None,
) -> list[Due]:
    """Lease up to ``limit`` due messages for ``lease_seconds``: the oldest pending one of each (webhook, subject).

    At most ``per_webhook`` messages of a webhook are in flight: ``busy`` tells
    how many this worker already sends to each webhook; a webhook at its
    limit is skipped, so its backlog cannot fill the lease and hold back other
    webhooks' messages. One statement, committed on return.
    """
    busy = {w: n for w, n in (busy or {}).items() if n > 0}
    full = [str(w) for w, n in busy.items() if n >= per_webhook]
    rows = await conn.fetch(
        """
        WITH candidate AS (
            -- Walks the due index in order and stops after $2 rows, each the first pending message of
            -- its subject (a probe per row), skipping webhooks at their limit. The generic plan cannot
            -- know how many rows pass; written plainly ("=", a uuid array) the estimate falls to one
            -- row and the planner sorts the whole backlog instead of walking the index, so the two
            -- tests are written in forms it estimates loosely ("<=", a text array).
            SELECT o.tenant_id, o.id, o.webhook_id, o.next_attempt_at, o.seq
            FROM outbox o
            WHERE o.status = 'pending' AND o.next_attempt_at <= now()
              AND o.webhook_id::text <> ALL ($3::text[])
              AND o.seq <= (SELECT min(p.seq) FROM outbox p
                            WHERE p.webhook_id = o.webhook_id AND p.subject_key = o.subject_key
                              AND p.status = 'pending' AND p.tenant_id = o.tenant_id)
            ORDER BY o.next_attempt_at, o.seq
            LIMIT $2
            FOR UPDATE OF o SKIP LOCKED
        ), chosen AS (
            SELECT r.tenant_id, r.id
            FROM (SELECT c.*, row_number() OVER (PARTITION BY c.webhook_id ORDER BY c.next_attempt_at, c.seq) AS n
                  FROM candidate c) r
            JOIN webhooks w ON w.tenant_id = r.tenant_id AND w.id = r.webhook_id AND w.deleted_at IS NULL
            LEFT JOIN unnest($4::uuid[], $5::int[]) AS b(webhook_id, busy) ON b.webhook_id = r.webhook_id
            WHERE r.n <= $6 - coalesce(b.busy, 0)
            ORDER BY r.next_attempt_at, r.seq
            LIMIT $1
        )
        UPDATE outbox o SET next_attempt_at = now() + make_interval(secs => $7)
        FROM chosen c, webhooks w
        WHERE o.tenant_id = c.tenant_id AND o.id = c.id AND w.tenant_id = o.tenant_id AND w.id = o.webhook_id
        RETURNING o.tenant_id, o.id, o.webhook_id, o.event_type, o.payload, o.created_at, o.attempts, w.url, w.secret,
                  o.next_attempt_at AS leased_until
        """,
        limit,
        max(limit * 4, 64),  # how far to look past one webhook's messages for other webhooks' (window per claim)
        full,
        list(busy),
        list(busy.values()),
        per_webhook,
        lease_seconds,
    )
    return sorted((Due(**dict(r)) for r in rows), key=lambda d: d.created_at)


async def record_attempt(
    conn: asyncpg.Connection,
    due: Due,
    *,
    ok: bool,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    retry_in_seconds: float | None,
) -> bool:
    """Write an attempt's outcome, if ``due``'s lease still holds; ``retry_in_seconds`` None on a failure: dead-letter.

    One statement (the outbox row and the attempt log change together).
    Returns False, writing nothing, when the lease was lost: the message was
    redelivered, or the lease ran out and another worker took it over (that
    worker's outcome is the one that counts; the receiver may see the message
    twice, which at-least-once delivery allows).
    """
    written = await conn.fetchval(
        """
        WITH held AS (
            UPDATE outbox SET
                attempts = $4,
                status = CASE WHEN $5 THEN 'delivered' WHEN $9::float8 IS NULL THEN 'dead' ELSE status END,
                delivered_at = CASE WHEN $5 THEN now() ELSE delivered_at END,
                last_error = CASE WHEN $5 THEN NULL ELSE $7 END,
                next_attempt_at = CASE WHEN $5 OR $9::float8 IS NULL THEN now()  -- no attempt to come: the lease ends
                                       ELSE now() + make_interval(secs => $9::float8) END
            WHERE tenant_id = $1 AND id = $2 AND next_attempt_at = $3
            RETURNING tenant_id, id
        ), logged AS (
            INSERT INTO webhook_attempts (tenant_id, outbox_id, attempt, status_code, error, duration_ms)
            SELECT tenant_id, id, $4, $6, $7, $8 FROM held
            RETURNING 1
        )
        SELECT count(*) FROM logged
        """,
        due.tenant_id,
        due.id,
        due.leased_until,
        due.attempts + 1,
        ok,
        status_code,
        error[:1000] if error else None,
        duration_ms,
        retry_in_seconds,
    )
    return bool(written)


async def deliveries(
    conn: asyncpg.Connection, tenant_id: UUID, webhook_id: UUID, status: str | None, before: int | None, limit: int
) -> list[tuple[int, DeliveryRow]]:
    """Messages of a webhook, newest first, older than position ``before``; with their positions."""
    rows = await conn.fetch(
        """
        SELECT seq, id, event_type, status, attempts, created_at, next_attempt_at, delivered_at, last_error, payload
        FROM outbox WHERE tenant_id = $1 AND webhook_id = $2 AND ($3::text IS NULL OR status = $3)
          AND ($4::bigint IS NULL OR seq < $4)
        ORDER BY seq DESC LIMIT $5
        """,
        tenant_id,
        webhook_id,
        status,
        before,
        limit,
    )
    return [(r["seq"], DeliveryRow(**{k: v for k, v in dict(r).items() if k != "seq"})) for r in rows]


async def redeliver(conn: asyncpg.Connection, tenant_id: UUID, webhook_id: UUID, message_id: UUID) -> bool:
    """Send a message again (delivered or dead): back to pending, due now."""
    done = await conn.fetchval(
        "UPDATE outbox SET status = 'pending', next_attempt_at = now(), last_error = NULL "
        "WHERE tenant_id = $1 AND webhook_id = $2 AND id = $3 RETURNING id",
        tenant_id,
        webhook_id,
        message_id,
    )
    return done is not None


async def stats(conn: asyncpg.Connection) -> tuple[int, float, int]:
    """(pending messages, age in seconds of the oldest pending one, dead messages), all tenants."""
    row = await conn.fetchrow(
        "SELECT count(*) AS pending, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest "
        "FROM outbox WHERE status = 'pending'"
    )
    dead = await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'dead'")
    return int(row["pending"]), float(row["oldest"]), int(dead)
