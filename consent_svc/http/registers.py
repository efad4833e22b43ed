"""Opt-out registers (admin): import a snapshot file (streamed), list the registers."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED

from consent_svc.domain import registers as domain
from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.models import Channel
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import registers

AnyRequest = Request[Any, Any, Any]
MAX_LINE_BYTES = 4096


class RegisterOut(msgspec.Struct, frozen=True, kw_only=True):
    """A register and its snapshot in force. ``stale``: no snapshot, or ``valid_until`` has passed
    (direct marketing on its channel is then denied ``register_stale``)."""

    name: str
    channel: str
    identifier: str
    version_date: date | None
    valid_until: datetime | None
    entries: int
    stale: bool
    snapshot_id: UUID | None
    imported_at: datetime | None

    @classmethod
    def from_domain(cls, row: domain.RegisterRow, now: datetime) -> RegisterOut:
        return cls(
            name=row.name,
            channel=row.channel,
            identifier=row.ident_type,
            version_date=row.version_date,
            valid_until=domain.valid_until(row.version_date) if row.version_date else None,
            entries=row.entries,
            stale=domain.is_stale(row.version_date, now),
            snapshot_id=row.snapshot_id,
            imported_at=row.imported_at,
        )


class SnapshotOut(msgspec.Struct, frozen=True, kw_only=True):
    """The register after the import; ``lines``: identifier lines read (``entries`` counts each
    identifier once)."""

    register: RegisterOut
    lines: int


class RegisterList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RegisterOut]
    next_cursor: str | None


@dataclass
class _SnapshotOperation(Operation):
    """The import reads its body itself, a line at a time: describe it here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="one identifier a line (the first column of a CSV line), an optional header line; "
            "phone numbers in Swedish or E.164 form, personal identity numbers for a postal register",
            content={"text/csv": OpenAPIMediaType(schema=Schema(type="string"))},  # type: ignore[arg-type]
        )


async def _lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Split a byte stream into lines (LF or CRLF), refusing a line longer than MAX_LINE_BYTES."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line
        if len(pending) > MAX_LINE_BYTES:
            raise InvalidInput.field("body", f"a line is longer than {MAX_LINE_BYTES} bytes")
    if pending.strip():
        yield pending


class RegisterController(Controller):
    path = "/v1/registers"
    tags = ["registers"]
    opt = {"scope": "admin"}

    @post(
        "/{name:str}/snapshots",
        status_code=HTTP_201_CREATED,
        request_max_body_size=None,
        operation_class=_SnapshotOperation,
        summary="Import a snapshot of an opt-out register",
    )
    async def import_snapshot(
        self,
        ctx: Ctx,
        tenant_id: TenantId,
        request: AnyRequest,
        name: str,
        version_date: Annotated[date, Parameter(description="the register version the file is (YYYY-MM-DD)")],
        channel: Annotated[
            Channel | None, Parameter(description="for a register of your own: the channel it blocks")
        ] = None,
    ) -> Response[SnapshotOut]:
        """Replaces the register's entries atomically: an identifier missing from the new snapshot
        stops blocking. A bad line imports nothing (400 listing the first bad lines by number)."""
        result = await registers.import_snapshot(ctx, tenant_id, name, version_date, channel, _lines(request.stream()))
        out = SnapshotOut(register=RegisterOut.from_domain(result.register, ctx.clock()), lines=result.lines)
        return Response(out, status_code=HTTP_201_CREATED)

    @get("/", summary="List the opt-out registers")
    async def list_registers(
        self, ctx: Ctx, tenant_id: TenantId, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> RegisterList:
        """By name, each with its snapshot in force, its size and whether it is stale."""
        page = await registers.listing(ctx, tenant_id, decode_cursor(cursor, str), limit)
        now = ctx.clock()
        return RegisterList(
            items=[RegisterOut.from_domain(r, now) for r in page.items], next_cursor=encode_cursor(page.after)
        )
