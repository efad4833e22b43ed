"""Webhook subscriptions: the urls, the event types they want, and their signing secrets."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from consent_svc.domain.records import WebhookRow


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


async def list_webhooks(
    conn: asyncpg.Connection, tenant_id: UUID, after: UUID | None = None, limit: int | None = None
) -> list[WebhookRow]:
    """Live subscriptions in id order (ids are time-ordered UUIDv7: oldest first)."""
    rows = await conn.fetch(
        "SELECT id, url, events, created_at FROM webhooks WHERE tenant_id = $1 AND deleted_at IS NULL "
        "AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
        tenant_id,
        after,
        limit,
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
