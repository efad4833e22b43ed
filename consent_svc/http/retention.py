"""The retention sweep's audit (admin): every run, dry or real, with what it removed and why."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from litestar import Controller, get

from consent_svc.domain.records import SweepRunRow
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import retention


class SweepRunOut(msgspec.Struct, frozen=True, kw_only=True):
    """``counts``: people removed per purpose and reason ("newsletter/consent_expired": 3)."""

    id: UUID
    started_at: datetime
    finished_at: datetime
    as_of: datetime
    dry_run: bool
    scanned: int
    swept: int
    counts: dict[str, int]

    @classmethod
    def from_domain(cls, row: SweepRunRow) -> SweepRunOut:
        return cls(**{f: getattr(row, f) for f in cls.__struct_fields__})


class SweepRunList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SweepRunOut]
    next_cursor: str | None


class RetentionController(Controller):
    path = "/v1/retention"
    tags = ["subjects"]
    opt = {"scope": "admin"}

    @get("/runs", summary="List the retention sweep's runs")
    async def list_runs(
        self, ctx: Ctx, tenant_id: TenantId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> SweepRunList:
        """Newest first, dry runs included."""
        page = await retention.runs(ctx, tenant_id, decode_cursor(cursor, UUID), limit)
        return SweepRunList(
            items=[SweepRunOut.from_domain(r) for r in page.items], next_cursor=encode_cursor(page.after)
        )
