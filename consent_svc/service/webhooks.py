"""Webhook subscriptions: create (with an SSRF check), list, delete, see deliveries, redeliver."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from urllib.parse import urlsplit
from uuid import UUID

from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.ids import uuid7
from consent_svc.service.context import Context
from consent_svc.store import outbox as store


def _blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast


async def check_target(url: str, allow_private: bool, field: str = "url") -> None:
    """Refuse urls that would make the service call into its own network (SSRF):
    only https, and only public addresses, unless ``allow_private`` (development)
    also lets http to loopback and private addresses through."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput.field(field, "must be an https:// url")
    if parts.username or parts.password:
        raise InvalidInput.field(field, "must not carry credentials; use the signing secret")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput.field(field, "has an invalid port") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise InvalidInput.field(field, "names a host that does not resolve") from None
    addresses = {str(info[4][0]) for info in infos}
    private = any(_blocked(a) for a in addresses)
    if allow_private:
        if parts.scheme == "http" and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise InvalidInput.field(field, "http:// is allowed only for loopback addresses")
        return
    if parts.scheme != "https":
        raise InvalidInput.field(field, "must be an https:// url")
    if private:
        raise InvalidInput.field(field, "resolves to a private, loopback or link-local address")


async def create(
    ctx: Context, tenant_id: UUID, url: str, events: list[str], secret: str | None
) -> tuple[store.WebhookRow, str]:
    if not events:
        raise InvalidInput.field("events", "name at least one event type")
    unknown = [e for e in events if e not in store.MESSAGE_TYPES]
    if unknown:
        raise InvalidInput.field("events", f"unknown event types: {', '.join(unknown)}")
    await check_target(url, ctx.settings.webhook_allow_private)
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    async with ctx.pool.acquire() as conn:
        row = await store.create_webhook(conn, tenant_id, uuid7(), url, sorted(set(events)), secret)
    return row, secret


async def list_all(ctx: Context, tenant_id: UUID) -> list[store.WebhookRow]:
    async with ctx.pool.acquire() as conn:
        return await store.list_webhooks(conn, tenant_id)


async def delete(ctx: Context, tenant_id: UUID, webhook_id: UUID) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await store.delete_webhook(conn, tenant_id, webhook_id):
            raise NotFound(f"no webhook {webhook_id}")


async def deliveries(
    ctx: Context, tenant_id: UUID, webhook_id: UUID, status: str | None, limit: int
) -> list[store.DeliveryRow]:
    async with ctx.pool.acquire() as conn:
        if not await store.webhook_exists(conn, tenant_id, webhook_id):
            raise NotFound(f"no webhook {webhook_id}")
        return await store.deliveries(conn, tenant_id, webhook_id, status, limit)


async def redeliver(ctx: Context, tenant_id: UUID, webhook_id: UUID, message_id: UUID) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await store.webhook_exists(conn, tenant_id, webhook_id) or not await store.redeliver(
            conn, tenant_id, webhook_id, message_id
        ):
            raise NotFound(f"no message {message_id} for webhook {webhook_id}")
