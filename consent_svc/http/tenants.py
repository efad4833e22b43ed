"""Tenants and their API keys over the API, for a platform operator (scope ``platform``).

A platform key is created on the server (``consent-svc keys create --platform``) and belongs to
no tenant: it can onboard a tenant and hand out and revoke its keys, so a deployment without a
shell can be run, but it reads no tenant's data, and no tenant's key can reach these routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from msgspec import Meta

from consent_svc.domain.models import Scope
from consent_svc.domain.records import KeyRow, TenantRow
from consent_svc.http.deps import Ctx
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import tenants


class TenantIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=63)]


class TenantOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    created_at: datetime

    @classmethod
    def from_domain(cls, row: TenantRow) -> TenantOut:
        return cls(id=row.id, name=row.name, created_at=row.created_at)


class TenantList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TenantOut]
    next_cursor: str | None


class KeyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    scope: Scope
    label: Annotated[str, Meta(max_length=200)] | None = None


class KeyOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    scope: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_domain(cls, row: KeyRow) -> KeyOut:
        return cls(id=row.id, scope=row.scope, label=row.label, created_at=row.created_at, revoked_at=row.revoked_at)


class NewKeyOut(msgspec.Struct, frozen=True, kw_only=True):
    """The key itself is in this answer only: only its hash is kept."""

    id: UUID
    key: str
    scope: str
    label: str | None


class KeyList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[KeyOut]
    next_cursor: str | None


class TenantController(Controller):
    path = "/v1/tenants"
    tags = ["platform"]
    opt = {"scope": "platform"}
    # The path names the tenant ``tenant``: ``tenant_id`` is the caller's own (a dependency).

    @post("/", status_code=HTTP_201_CREATED, summary="Create a tenant")
    async def create_tenant(self, ctx: Ctx, data: TenantIn) -> TenantOut:
        """A name of 1-63 lowercase letters, digits, '-' or '_'; 409 when it is taken."""
        return TenantOut.from_domain(await tenants.create_tenant(ctx, data.name))

    @get("/", summary="List the tenants")
    async def list_tenants(self, ctx: Ctx, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT) -> TenantList:
        """In name order."""
        page = await tenants.tenant_page(ctx, decode_cursor(cursor, str), limit)
        return TenantList(items=[TenantOut.from_domain(t) for t in page.items], next_cursor=encode_cursor(page.after))

    @get("/{tenant:uuid}", summary="Read a tenant")
    async def get_tenant(self, ctx: Ctx, tenant: UUID) -> TenantOut:
        return TenantOut.from_domain(await tenants.tenant(ctx, tenant))

    @post("/{tenant:uuid}/keys", status_code=HTTP_201_CREATED, summary="Create an API key for a tenant")
    async def create_key(self, ctx: Ctx, tenant: UUID, data: KeyIn) -> NewKeyOut:
        """Scope check, record or admin. The key is shown in this answer only."""
        key_id, token = await tenants.create_key_for(ctx, tenant, data.scope, data.label)
        return NewKeyOut(id=key_id, key=token, scope=data.scope, label=data.label)

    @get("/{tenant:uuid}/keys", summary="List a tenant's API keys")
    async def list_keys(self, ctx: Ctx, tenant: UUID, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT) -> KeyList:
        """Oldest first, revoked ones too; never the keys themselves."""
        page = await tenants.keys_of(ctx, tenant, decode_cursor(cursor, UUID), limit)
        return KeyList(items=[KeyOut.from_domain(k) for k in page.items], next_cursor=encode_cursor(page.after))

    @delete("/{tenant:uuid}/keys/{key_id:uuid}", status_code=HTTP_200_OK, summary="Revoke a tenant's API key")
    async def revoke_key(self, ctx: Ctx, tenant: UUID, key_id: UUID) -> KeyOut:
        """Idempotent. Every replica refuses the key within CONSENT_AUTH_CACHE_SECONDS."""
        return KeyOut.from_domain(await tenants.revoke_key(ctx, key_id, tenant))
