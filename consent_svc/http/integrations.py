"""Email and SMS provider integrations (admin): create, list, read, change, delete; the delivery
log of suppressions pushed out, and the log of feedback received."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from consent_svc.domain.records import FeedbackRow, IntegrationDeliveryRow
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import integrations
from consent_svc.service.inputs import IntegrationIn, IntegrationPatchIn


class CredentialsOut(msgspec.Struct, frozen=True, kw_only=True):
    """Postmark basic-auth credentials, shown once: only the password's SHA-256 is kept."""

    username: str
    password: str
    webhook_url: str  # the inbound_url with the credentials in it, for Postmark's Webhook URL field


class IntegrationOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: UUID
    provider: str
    name: str
    settings: dict[str, Any]  # secret fields that are set read "***"
    purposes: dict[str, str]
    sync_suppressions: bool
    inbound_url: str  # to paste into the provider's console
    created_at: datetime
    updated_at: datetime
    credentials: CredentialsOut | None = None  # Postmark, when just generated

    @classmethod
    def from_domain(cls, view: integrations.IntegrationView) -> IntegrationOut:
        row, creds = view.row, view.credentials
        return cls(
            id=row.id, provider=row.provider, name=row.name, settings=row.settings, purposes=row.purposes,
            sync_suppressions=row.sync_suppressions, inbound_url=view.inbound_url, created_at=row.created_at,
            updated_at=row.updated_at,
            credentials=CredentialsOut(username=creds.username, password=creds.password,
                                       webhook_url=creds.webhook_url(view.inbound_url)) if creds else None,
        )  # fmt: skip


class IntegrationList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[IntegrationOut]
    next_cursor: str | None


class IntegrationDeliveryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    suppression_id: UUID
    action: str  # add | lift
    origin: str  # change (an entry added or lifted) | sync (consent-svc integrations sync)
    status: str  # pending | delivered | skipped | dead
    attempts: int
    created_at: datetime
    done_at: datetime | None
    request: str | None  # what was sent (never an address)
    status_code: int | None
    error: str | None  # why it was skipped, or the provider's answer

    @classmethod
    def from_domain(cls, row: IntegrationDeliveryRow) -> IntegrationDeliveryOut:
        return cls(
            id=row.id, suppression_id=row.suppression_id, action=row.action, origin=row.origin, status=row.status,
            attempts=row.attempts, created_at=row.created_at, done_at=row.done_at, request=row.request,
            status_code=row.status_code, error=row.last_error,
        )  # fmt: skip


class IntegrationDeliveryList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[IntegrationDeliveryOut]
    next_cursor: str | None


class FeedbackOut(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str  # the provider's event id (the idempotency key)
    kind: str
    provider_event: str
    provider_group: str | None
    occurred_at: datetime
    received_at: datetime
    payload_sha256: str
    outcome: str | None
    suppression_ids: list[UUID]
    lifted_ids: list[UUID]
    event_ids: list[UUID]

    @classmethod
    def from_domain(cls, row: FeedbackRow) -> FeedbackOut:
        return cls(**msgspec.structs.asdict(row))


class FeedbackList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[FeedbackOut]
    next_cursor: str | None


class IntegrationController(Controller):
    path = "/v1/integrations"
    tags = ["integrations"]
    opt = {"scope": "admin"}

    @post("/", status_code=HTTP_201_CREATED, summary="Connect an email or SMS provider")
    async def create_integration(self, ctx: Ctx, tenant_id: TenantId, data: IntegrationIn) -> IntegrationOut:
        """Settings per provider in docs/integrations.md; secret fields are write-only. Answers the
        ``inbound_url`` to paste into the provider's console (Postmark: generated credentials, once)."""
        return IntegrationOut.from_domain(await integrations.create(ctx, tenant_id, data))

    @get("/", summary="List the provider integrations")
    async def list_integrations(
        self, ctx: Ctx, tenant_id: TenantId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> IntegrationList:
        """Oldest first; secrets read ``***``."""
        page = await integrations.list_page(ctx, tenant_id, decode_cursor(cursor, UUID), limit)
        return IntegrationList(
            items=[IntegrationOut.from_domain(v) for v in page.items], next_cursor=encode_cursor(page.after)
        )

    @get("/{integration_id:uuid}", summary="Read a provider integration")
    async def get_integration(self, ctx: Ctx, tenant_id: TenantId, integration_id: UUID) -> IntegrationOut:
        """Secrets read ``***``."""
        return IntegrationOut.from_domain(await integrations.get(ctx, tenant_id, integration_id))

    @patch("/{integration_id:uuid}", summary="Change a provider integration")
    async def update_integration(
        self, ctx: Ctx, tenant_id: TenantId, integration_id: UUID, data: IntegrationPatchIn
    ) -> IntegrationOut:
        """Settings are merged (null removes a field; a secret not named, or named as ``***``, is kept)."""
        return IntegrationOut.from_domain(await integrations.update(ctx, tenant_id, integration_id, data))

    @delete("/{integration_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Disconnect a provider integration")
    async def delete_integration(self, ctx: Ctx, tenant_id: TenantId, integration_id: UUID) -> None:
        """Its secrets are dropped and its unsent pushes dead-lettered; the entries it made stay."""
        await integrations.delete(ctx, tenant_id, integration_id)

    @get("/{integration_id:uuid}/deliveries", summary="List the suppression pushes to a provider")
    async def list_deliveries(
        self,
        ctx: Ctx,
        tenant_id: TenantId,
        integration_id: UUID,
        status: Literal["pending", "delivered", "skipped", "dead"] | None = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> IntegrationDeliveryList:
        """Newest first: each suppression change for this provider, what was sent, or why it was skipped."""
        page = await integrations.deliveries(ctx, tenant_id, integration_id, status, decode_cursor(cursor, int), limit)
        return IntegrationDeliveryList(
            items=[IntegrationDeliveryOut.from_domain(r) for r in page.items], next_cursor=encode_cursor(page.after)
        )

    @get("/{integration_id:uuid}/feedback", summary="List the feedback a provider sent")
    async def list_feedback(
        self, ctx: Ctx, tenant_id: TenantId, integration_id: UUID, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> FeedbackList:
        """Newest first: each provider event received once, with the entries, lifts and events it made."""
        page = await integrations.feedback(ctx, tenant_id, integration_id, decode_cursor(cursor, int), limit)
        return FeedbackList(
            items=[FeedbackOut.from_domain(r) for r in page.items], next_cursor=encode_cursor(page.after)
        )
