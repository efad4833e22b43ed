"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from consent_svc.http.auth import ctx_of, principal_of
from consent_svc.service import webhooks
from consent_svc.service.inputs import WebhookIn

AnyRequest = Request[Any, Any, Any]


class WebhookOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    url: str
    events: list[str]
    created_at: datetime


class WebhookCreatedOut(WebhookOut, frozen=True, kw_only=True):
    secret: str  # shown once


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


class DeliveriesOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeliveryOut]


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post("/", opt={"scope": "admin"}, status_code=HTTP_201_CREATED)
    async def create_webhook(self, request: AnyRequest, data: WebhookIn) -> WebhookCreatedOut:
        """Subscribe an https url to event types; the signing secret is generated unless given, and shown once."""
        row, secret = await webhooks.create(
            ctx_of(request), principal_of(request).tenant_id, data.url, data.events, data.secret
        )
        return WebhookCreatedOut(id=row.id, url=row.url, events=row.events, created_at=row.created_at, secret=secret)

    @get("/", opt={"scope": "admin"})
    async def list_webhooks(self, request: AnyRequest) -> list[WebhookOut]:
        rows = await webhooks.list_all(ctx_of(request), principal_of(request).tenant_id)
        return [WebhookOut(id=r.id, url=r.url, events=r.events, created_at=r.created_at) for r in rows]

    @delete("/{webhook_id:uuid}", opt={"scope": "admin"}, status_code=HTTP_204_NO_CONTENT)
    async def delete_webhook(self, request: AnyRequest, webhook_id: UUID) -> None:
        """Stop the subscription; undelivered messages are dead-lettered and stay visible."""
        await webhooks.delete(ctx_of(request), principal_of(request).tenant_id, webhook_id)

    @get("/{webhook_id:uuid}/deliveries", opt={"scope": "admin"})
    async def list_deliveries(
        self,
        request: AnyRequest,
        webhook_id: UUID,
        status: Literal["pending", "delivered", "dead"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> DeliveriesOut:
        """Messages for this webhook, newest first, with their state and attempts."""
        rows = await webhooks.deliveries(ctx_of(request), principal_of(request).tenant_id, webhook_id, status, limit)
        return DeliveriesOut(
            items=[
                DeliveryOut(
                    id=r.id,
                    type=r.event_type,
                    status=r.status,
                    attempts=r.attempts,
                    created_at=r.created_at,
                    next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
                    delivered_at=r.delivered_at,
                    last_error=r.last_error,
                    data=r.payload,
                )
                for r in rows
            ]
        )

    @post("/{webhook_id:uuid}/deliveries/{message_id:uuid}/redeliver", opt={"scope": "admin"},
          status_code=HTTP_202_ACCEPTED)  # fmt: skip
    async def redeliver(self, request: AnyRequest, webhook_id: UUID, message_id: UUID) -> dict[str, str]:
        """Send a message again (a delivered or dead-lettered one), as soon as the worker runs."""
        await webhooks.redeliver(ctx_of(request), principal_of(request).tenant_id, webhook_id, message_id)
        return {"status": "pending"}
