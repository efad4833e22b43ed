"""The ledger: record one event or a batch (record scope)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from consent_svc.domain.records import EventRow
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.jsonbody import typed_json_request
from consent_svc.service import events
from consent_svc.service.inputs import EventBatchIn, EventIn

BATCH_BODY_LIMIT = 64 * 1024 * 1024


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    event_id: UUID
    subject_id: UUID
    recorded_at: datetime

    @classmethod
    def from_domain(cls, result: events.EventResult) -> EventOut:
        return cls(event_id=result.event_id, subject_id=result.subject_id, recorded_at=result.recorded_at)


class EventRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    """An event as the ledger holds it."""

    id: UUID
    type: str
    purpose: str | None
    channels: list[str]
    occurred_at: datetime
    recorded_at: datetime
    source: str
    proof: dict[str, Any]
    idempotency_key: str | None
    subject_kind: str | None

    @classmethod
    def from_domain(cls, e: EventRow) -> EventRecordOut:
        return cls(**{f: getattr(e, f) for f in cls.__struct_fields__})


class EventBatchOut(msgspec.Struct, frozen=True, kw_only=True):
    results: list[EventOut]


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]
    opt = {"scope": "record"}

    @post("/", status_code=HTTP_201_CREATED, summary="Record one event")
    async def record_event(self, ctx: Ctx, tenant_id: TenantId, data: EventIn) -> Response[EventOut]:
        """Append one event to the ledger (201). The same idempotency_key again answers the first
        result (200) and writes nothing."""
        [result] = await events.record(ctx, tenant_id, [data])
        return Response(EventOut.from_domain(result), status_code=HTTP_201_CREATED if result.created else HTTP_200_OK)

    @post("/batch", status_code=HTTP_201_CREATED, request_max_body_size=BATCH_BODY_LIMIT,
          request_class=typed_json_request(EventBatchIn), summary="Record up to 10,000 events at once")  # fmt: skip
    async def record_batch(self, ctx: Ctx, tenant_id: TenantId, data: EventBatchIn) -> Response[EventBatchOut]:
        """All or nothing; one result per event, in order. 201 when the batch wrote anything; 200 when
        every event was recorded before (each had a known idempotency_key): nothing was written."""
        results = await events.record(ctx, tenant_id, data.events, batch=True)
        status = HTTP_201_CREATED if any(r.created for r in results) else HTTP_200_OK
        return Response(EventBatchOut(results=[EventOut.from_domain(r) for r in results]), status_code=status)

    @get("/{event_id:uuid}", opt={"scope": "admin"}, summary="Read one event of the ledger")
    async def get_event(self, ctx: Ctx, tenant_id: TenantId, event_id: UUID) -> EventRecordOut:
        """What a decision's evidence names: the event with its proof. An erased person's events
        keep their place in the chain with their content replaced by its digest."""
        return EventRecordOut.from_domain(await events.get(ctx, tenant_id, event_id))
