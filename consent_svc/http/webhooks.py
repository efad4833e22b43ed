"""Webhook subscriptions and their deliveries (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, post
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from consent_svc.domain.records import DeliveryRow, WebhookRow
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import webhooks
from consent_svc.service.inputs import WebhookIn


class WebhookOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    url: str
    events: list[str]
    created_at: datetime

    @classmethod
    def from_domain(cls, row: WebhookRow) -> WebhookOut:
        return cls(id=row.id, url=row.url, events=row.events, created_at=row.created_at)


class WebhookCreatedOut(WebhookOut, frozen=True, kw_only=True):
    secret: str  # shown once


class WebhookList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    data: dict[str, Any]

    @classmethod
    def from_domain(cls, row: DeliveryRow) -> DeliveryOut:
        return cls(
            id=row.id, type=row.event_type, status=row.status, attempts=row.attempts, created_at=row.created_at,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            delivered_at=row.delivered_at, last_error=row.last_error, data=row.payload,
        )  # fmt: skip


class DeliveryList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeliveryOut]
    next_cursor: str | None


class RedeliveryOut(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["pending"]


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]
    opt = {"scope": "admin"}

    @post("/", status_code=HTTP_201_CREATED, summary="Subscribe a url to events")
    async def create_webhook(self, ctx: Ctx, tenant_id: TenantId, data: WebhookIn) -> WebhookCreatedOut:
        """https only, to a public address; the signing secret is generated unless given, and shown once."""
        row, secret = await webhooks.create(ctx, tenant_id, data.url, data.events, data.secret)
        return WebhookCreatedOut(**msgspec.structs.asdict(WebhookOut.from_domain(row)), secret=secret)

    @get("/", summary="List the webhook subscriptions")
    async def list_webhooks(
        self, ctx: Ctx, tenant_id: TenantId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> WebhookList:
        """Oldest first; secrets are not shown."""
        page = await webhooks.list_page(ctx, tenant_id, decode_cursor(cursor, UUID), limit)
        return WebhookList(items=[WebhookOut.from_domain(r) for r in page.items], next_cursor=encode_cursor(page.after))

    @delete("/{webhook_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Stop a webhook subscription")
    async def delete_webhook(self, ctx: Ctx, tenant_id: TenantId, webhook_id: UUID) -> None:
        """Undelivered messages are dead-lettered and stay visible."""
        await webhooks.delete(ctx, tenant_id, webhook_id)

    @get("/{webhook_id:uuid}/deliveries", summary="List a webhook's deliveries")
    async def list_deliveries(
        self,
        ctx: Ctx,
        tenant_id: TenantId,
        webhook_id: UUID,
        status: Literal["pending", "delivered", "dead"] | None = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> DeliveryList:
        """Newest first, with their state and attempts."""
        page = await webhooks.deliveries(ctx, tenant_id, webhook_id, status, decode_cursor(cursor, int), limit)
        return DeliveryList(
            items=[DeliveryOut.from_domain(r) for r in page.items], next_cursor=encode_cursor(page.after)
        )

    @post("/{webhook_id:uuid}/deliveries/{message_id:uuid}/redeliver", status_code=HTTP_202_ACCEPTED,
          summary="Send a message again")  # fmt: skip
    async def redeliver(self, ctx: Ctx, tenant_id: TenantId, webhook_id: UUID, message_id: UUID) -> RedeliveryOut:
        """A delivered or dead-lettered message goes out again as soon as the worker runs."""
        await webhooks.redeliver(ctx, tenant_id, webhook_id, message_id)
        return RedeliveryOut(status="pending")
