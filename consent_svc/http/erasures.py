"""Erasure receipts (admin): the proof, without personal data, that erasure requests were carried out."""

from __future__ import annotations

from uuid import UUID

import msgspec
from litestar import Controller, get

from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.http.subjects import ErasureOut
from consent_svc.service import subjects


class ErasureList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ErasureOut]
    next_cursor: str | None


class ErasureController(Controller):
    path = "/v1/erasures"
    tags = ["subjects"]
    opt = {"scope": "admin"}

    @get("/", summary="List erasure receipts")
    async def list_erasures(
        self, ctx: Ctx, tenant_id: TenantId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> ErasureList:
        """Oldest first."""
        page = await subjects.erasures(ctx, tenant_id, decode_cursor(cursor, UUID), limit)
        return ErasureList(items=[ErasureOut.from_domain(r) for r in page.items], next_cursor=encode_cursor(page.after))

    @get("/{erasure_id:uuid}", summary="Read an erasure receipt")
    async def get_erasure(self, ctx: Ctx, tenant_id: TenantId, erasure_id: UUID) -> ErasureOut:
        """The receipt the erasure answered, again: for the person who asked, or an auditor."""
        return ErasureOut.from_domain(await subjects.erasure(ctx, tenant_id, erasure_id))
