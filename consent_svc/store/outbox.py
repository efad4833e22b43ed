"""Webhook subscriptions and the transactional outbox.

``enqueue`` is called by the store functions that make the changes (events,
suppression adds and lifts), inside their transaction, so no change can be
made without its message, and no message exists for a change that was rolled
back. ``claim`` hands a worker the due messages with ``FOR UPDATE SKIP
LOCKED``, at most the oldest pending message of each (webhook, subject), so
workers never send one message twice at once and a subject's messages go out
in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

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
)


class Message(msgspec.Struct, frozen=True):
    """A change to announce: keyed to a subject id, or to an identifier hash (resolved to its subject)."""

    type: str
    payload: dict[str, Any]
    subject_id: UUID | None = None
    ident_hash: bytes | None = None


async def subscribed(conn: asyncpg.Connection, tenant_id: UUID) -> frozenset[str]:
    """The message types some live webhook of the tenant wants.

    A writer asks this first and builds only those messages: a tenant without
    webhooks (the common case for a bulk import) then pays nothing for the
    outbox. It is read in the writer's transaction, as the ``JOIN webhooks`` of
    :func:`enqueue` is: a webhook created after the statement that looks is
    not seen by either.
    """
    found = await conn.fetchval(
        "SELECT array_agg(DISTINCT e) FROM webhooks, unnest(events) AS e WHERE tenant_id = $1 AND deleted_at IS NULL",
        tenant_id,
    )
    return frozenset(found or ())


async def enqueue(conn: asyncpg.Connection, tenant_id: UUID, messages: Sequence[Message]) -> None:
    """One outbox row per (message, subscribed webhook), in the caller's transaction."""
    if not messages:
        return
    await conn.execute(
        """
        INSERT INTO outbox (tenant_id, webhook_id, subject_key, event_type, payload)
        SELECT $1, w.id,
               coalesce('subject:' || u.sid::text,
                        (SELECT 'subject:' || si.subject_id::text FROM subject_identifiers si
                         WHERE si.tenant_id = $1 AND si.hash = u.h),
                        'identifier:' || encode(u.h, 'hex')),
               u.t, u.p
        FROM unnest($2::text[], $3::jsonb[], $4::uuid[], $5::bytea[]) WITH ORDINALITY AS u(t, p, sid, h, ord)
        JOIN webhooks w ON w.tenant_id = $1 AND w.deleted_at IS NULL AND u.t = ANY (w.events)
        ORDER BY u.ord, w.id
        """,
        tenant_id,
        [m.type for m in messages],
        [m.payload for m in messages],
        [m.subject_id for m in messages],
        [m.ident_hash for m in messages],
    )


class WebhookRow(msgspec.Struct, frozen=True):
    id: UUID
    url: str
    events: list[str]
    created_at: datetime


async def create_webhook(
    conn: asyncpg.Connection, tenant_id: UUID, webhook_id: UUID, url: str, events: Sequence[str], secret: str
) -> WebhookRow:
    row = await conn.fetchrow(
        "INSERT INTO webhooks (tenant_id, id, url, events, secret) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id, url, events, created_at",
        tenant_id,
        webhook_id,
        url,
        list(events),
        secret,
    )
    return WebhookRow(**dict(row))


async def list_webhooks(conn: asyncpg.Connection, tenant_id: UUID) -> list[WebhookRow]:
    rows = await conn.fetch(
        "SELECT id, url, events, created_at FROM webhooks WHERE tenant_id = $1 AND deleted_at IS NULL "
        "ORDER BY created_at",
        tenant_id,
    )
    return [WebhookRow(**dict(r)) for r in rows]


async def delete_webhook(conn: asyncpg.Connection, tenant_id: UUID, webhook_id: UUID) -> bool:
    """Stop a subscription; its undelivered messages are dead-lettered (kept, visible)."""
    done = await conn.fetchval(
        "UPDATE webhooks SET deleted_at = now() WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING id",
        tenant_id,
        webhook_id,
    )
    if done is not None:
        await conn.execute(
            "UPDATE outbox SET status = 'dead', last_error = 'webhook deleted' "
            "WHERE tenant_id = $1 AND webhook_id = $2 AND status = 'pending'",
            tenant_id,
            webhook_id,
        )
    return done is not None


async def webhook_exists(conn: asyncpg.Connection, tenant_id: UUID, webhook_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM webhooks WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL", tenant_id, webhook_id
        )
    )


class Due(msgspec.Struct, frozen=True):
    tenant_id: UUID
    id: UUID
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    url: str
    secret: str


async def claim(conn: asyncpg.Connection, limit: int) -> list[Due]:
    """Lock due messages for this transaction: the oldest pending one of each (webhook, subject)."""
    rows = await conn.fetch(
        """
        SELECT o.tenant_id, o.id, o.event_type, o.payload, o.created_at, o.attempts, w.url, w.secret
        FROM outbox o
        JOIN webhooks w ON w.tenant_id = o.tenant_id AND w.id = o.webhook_id AND w.deleted_at IS NULL
        WHERE o.status = 'pending' AND o.next_attempt_at <= now()
          AND NOT EXISTS (SELECT 1 FROM outbox p
                          WHERE p.tenant_id = o.tenant_id AND p.webhook_id = o.webhook_id
                            AND p.subject_key = o.subject_key
                            AND p.status = 'pending' AND p.seq < o.seq)
        ORDER BY o.next_attempt_at, o.seq
        LIMIT $1
        FOR UPDATE OF o SKIP LOCKED
        """,
        limit,
    )
    return [Due(**dict(r)) for r in rows]


async def record_attempt(
    conn: asyncpg.Connection,
    due: Due,
    *,
    ok: bool,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    retry_in_seconds: float | None,
) -> None:
    """Write an attempt's outcome. ``retry_in_seconds`` None on a failure: dead-letter it."""
    attempt = due.attempts + 1
    await conn.execute(
        "INSERT INTO webhook_attempts (tenant_id, outbox_id, attempt, status_code, error, duration_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        due.tenant_id,
        due.id,
        attempt,
        status_code,
        error[:1000] if error else None,
        duration_ms,
    )
    if ok:
        await conn.execute(
            "UPDATE outbox SET status = 'delivered', attempts = $3, delivered_at = now(), last_error = NULL "
            "WHERE tenant_id = $1 AND id = $2",
            due.tenant_id,
            due.id,
            attempt,
        )
    elif retry_in_seconds is None:
        await conn.execute(
            "UPDATE outbox SET status = 'dead', attempts = $3, last_error = $4 WHERE tenant_id = $1 AND id = $2",
            due.tenant_id,
            due.id,
            attempt,
            error,
        )
    else:
        await conn.execute(
            "UPDATE outbox SET attempts = $3, last_error = $4, "
            "next_attempt_at = now() + make_interval(secs => $5) WHERE tenant_id = $1 AND id = $2",
            due.tenant_id,
            due.id,
            attempt,
            error,
            retry_in_seconds,
        )


class DeliveryRow(msgspec.Struct, frozen=True):
    id: UUID
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]


async def deliveries(
    conn: asyncpg.Connection, tenant_id: UUID, webhook_id: UUID, status: str | None, limit: int
) -> list[DeliveryRow]:
    rows = await conn.fetch(
        """
        SELECT id, event_type, status, attempts, created_at, next_attempt_at, delivered_at, last_error, payload
        FROM outbox WHERE tenant_id = $1 AND webhook_id = $2 AND ($3::text IS NULL OR status = $3)
        ORDER BY seq DESC LIMIT $4
        """,
        tenant_id,
        webhook_id,
        status,
        limit,
    )
    return [DeliveryRow(**dict(r)) for r in rows]


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
