"""The suppression list: add (record), look up and export (check), lift (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.records import ActiveScope, SuppressionRow
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import suppressions
from consent_svc.service.inputs import LiftIn, SuppressionIn

EXPORT_DEFAULT_LIMIT = 1000
EXPORT_MAX_LIMIT = 10_000


class SuppressionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    type: str
    scope: str
    channel: str | None
    reason: str
    source: str | None
    note: str | None
    created_at: datetime
    lifted_at: datetime | None
    lift_reason: str | None

    @classmethod
    def from_domain(cls, row: SuppressionRow) -> SuppressionOut:
        return cls(
            id=row.id, type=row.ident_type, scope=row.scope, channel=row.channel, reason=row.reason,
            source=row.source, note=row.note, created_at=row.created_at, lifted_at=row.lifted_at,
            lift_reason=row.lift_reason,
        )  # fmt: skip


class SuppressionList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SuppressionOut]
    next_cursor: str | None


class ActiveOut(msgspec.Struct, frozen=True, kw_only=True):
    scope: str
    channel: str | None
    reasons: list[str]


class ExportItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One change, with ``active``: everything that blocks the identifier at the time of the read, by
    scope and channel (empty when nothing does any more). Set your provider's state from ``active``
    in the order of the items; never from ``lifted_at`` alone, another entry may still block."""

    id: UUID
    type: str
    scope: str
    channel: str | None
    reason: str
    created_at: datetime
    lifted_at: datetime | None
    active: list[ActiveOut]
    sha256: str | None = None
    email: str | None = None
    phone: str | None = None

    @classmethod
    def from_domain(cls, row: SuppressionRow, active: list[ActiveScope], fmt: str) -> ExportItem:
        item = cls(
            id=row.id, type=row.ident_type, scope=row.scope, channel=row.channel, reason=row.reason,
            created_at=row.created_at, lifted_at=row.lifted_at,
            active=[ActiveOut(scope=a.scope, channel=a.channel, reasons=a.reasons) for a in active],
        )  # fmt: skip
        # The exchange hash comes in both formats: an erased person's entry has no address any more,
        # and its hash is what lets a provider find the contact to delete and keep it blocked.
        item = msgspec.structs.replace(item, sha256=row.sha256.hex() if row.sha256 else None)
        if fmt == "sha256":
            return item
        if row.ident_type == "email":
            return msgspec.structs.replace(item, email=row.value)
        if row.ident_type == "phone":
            return msgspec.structs.replace(item, phone=row.value)
        return item


class ExportOut(msgspec.Struct, frozen=True, kw_only=True):
    """A page of changes. ``next_cursor`` is where to resume, also after the last page (keep it for the
    next sync); ``has_more`` says whether more changes follow now."""

    items: list[ExportItem]
    next_cursor: str | None
    has_more: bool


class SuppressionController(Controller):
    path = "/v1/suppressions"
    tags = ["suppressions"]

    @post("/", opt={"scope": "record"}, status_code=HTTP_201_CREATED, summary="Suppress an email or phone")
    async def add_suppression(self, ctx: Ctx, tenant_id: TenantId, data: SuppressionIn) -> Response[SuppressionOut]:
        """For all purposes or one, all channels or one. Idempotent: 200 with the entry when an active
        one with the same identifier, scope, channel and reason exists."""
        row, created = await suppressions.add(ctx, tenant_id, data)
        return Response(SuppressionOut.from_domain(row), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/", opt={"scope": "check"}, summary="Find the active entries of an email, phone or personal number")
    async def find_suppressions(
        self,
        ctx: Ctx,
        tenant_id: TenantId,
        email: Annotated[str | None, Parameter(max_length=320)] = None,
        phone: Annotated[str | None, Parameter(max_length=64)] = None,
        personal_number: Annotated[str | None, Parameter(max_length=32)] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> SuppressionList:
        """Oldest first."""
        page = await suppressions.find(
            ctx, tenant_id, email, phone, decode_cursor(cursor, UUID), limit, personal_number
        )
        return SuppressionList(
            items=[SuppressionOut.from_domain(r) for r in page.items], next_cursor=encode_cursor(page.after)
        )

    @get("/{entry_id:uuid}", opt={"scope": "check"}, summary="Read one suppression entry")
    async def get_suppression(self, ctx: Ctx, tenant_id: TenantId, entry_id: UUID) -> SuppressionOut:
        """What a decision's evidence names; lifted entries too."""
        return SuppressionOut.from_domain(await suppressions.get(ctx, tenant_id, entry_id))

    @get("/export", opt={"scope": "check"}, summary="Export every change to the list, for syncing providers")
    async def export_suppressions(
        self,
        ctx: Ctx,
        tenant_id: TenantId,
        cursor: Cursor = None,
        since: Annotated[str | None, Parameter(max_length=512, description="the same as cursor (older name)")] = None,
        format: Literal["sha256", "plain"] = "sha256",
        limit: Annotated[int, Parameter(ge=1, le=EXPORT_MAX_LIMIT)] = EXPORT_DEFAULT_LIMIT,
    ) -> ExportOut:
        """Every entry added or lifted since the cursor, oldest change first (from the start without one)."""
        if cursor is None and since is not None and since.isdigit() and len(since) <= 18:
            after = int(since)  # a cursor from before 0.2 (a plain number)
        else:
            after = decode_cursor(cursor or since, int, "cursor" if cursor else "since") or 0
        page = await suppressions.export(ctx, tenant_id, after, limit)
        return ExportOut(
            items=[ExportItem.from_domain(r, page.active.get(r.id, []), format) for r in page.items],
            next_cursor=encode_cursor(page.position),
            has_more=page.more,
        )

    @delete("/{entry_id:uuid}", opt={"scope": "admin"}, status_code=HTTP_200_OK, summary="Lift a suppression entry")
    async def lift_suppression(
        self, ctx: Ctx, tenant_id: TenantId, entry_id: UUID, data: LiftIn | None = None
    ) -> SuppressionOut:
        """Needs ``{"reason": "..."}``: the entry is kept in history with the reason, never deleted."""
        if data is None:
            raise InvalidInput.field("reason", 'lifting an entry needs a body {"reason": "..."}, kept with the entry')
        return SuppressionOut.from_domain(await suppressions.lift(ctx, tenant_id, entry_id, data.reason))
