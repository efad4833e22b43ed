"""Controllers: one per resource, each handler a line or two into the service layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.exceptions import ClientException
from litestar.openapi.spec import OpenAPIMediaType as OAMediaType
from litestar.openapi.spec import Operation, RequestBody, Schema
from litestar.params import Parameter
from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.models import Channel, PurposeConfig
from consent_svc.http.auth import ctx_of, principal_of
from consent_svc.http.schemas import (
    DecisionBatchOut,
    DecisionOut,
    EventBatchOut,
    EventOut,
    ExportItem,
    ExportOut,
    PurposeVersionOut,
    PurposeVersionsOut,
    SuppressionListOut,
    SuppressionOut,
)
from consent_svc.service import decisions, events, purposes, suppressions
from consent_svc.service.inputs import (
    PURPOSE_KEY,
    DecisionBatchIn,
    EventBatchIn,
    EventIn,
    LiftIn,
    PurposeIn,
    Recipient,
    SuppressionIn,
)

AnyRequest = Request[Any, Any, Any]


class PurposeController(Controller):
    path = "/v1/purposes"
    tags = ["purposes"]

    @put("/{key:str}", opt={"scope": "admin"}, status_code=HTTP_200_OK)
    async def put_purpose(
        self,
        request: AnyRequest,
        # litestar checks a path parameter against Parameter(pattern=...), not against a Meta in its type.
        key: Annotated[str, Parameter(pattern=PURPOSE_KEY, description="purpose key")],
        data: PurposeIn,
    ) -> Response[PurposeConfig]:
        """Create or replace a purpose; every change is kept as a new version (201 when created)."""
        config, created = await purposes.put(ctx_of(request), principal_of(request).tenant_id, key, data)
        return Response(config, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/", opt={"scope": "check"})
    async def list_purposes(self, request: AnyRequest) -> list[PurposeConfig]:
        return await purposes.list_all(ctx_of(request), principal_of(request).tenant_id)

    @get("/{key:str}", opt={"scope": "check"})
    async def get_purpose(self, request: AnyRequest, key: str) -> PurposeConfig:
        return await purposes.get(ctx_of(request), principal_of(request).tenant_id, key)

    @get("/{key:str}/versions", opt={"scope": "check"})
    async def purpose_versions(self, request: AnyRequest, key: str) -> PurposeVersionsOut:
        found = await purposes.versions(ctx_of(request), principal_of(request).tenant_id, key)
        return PurposeVersionsOut(
            key=key,
            versions=[PurposeVersionOut(version=c.version, created_at=at, config=c) for c, at in found],
        )


def _event_out(result: events.EventResult) -> EventOut:
    return EventOut(event_id=result.event_id, subject_id=result.subject_id, recorded_at=result.recorded_at)


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]

    @post("/", opt={"scope": "record"}, status_code=HTTP_201_CREATED)
    async def record_event(self, request: AnyRequest, data: EventIn) -> Response[EventOut]:
        """Append one event to the ledger. The same idempotency_key again answers the first result (200)."""
        [result] = await events.record(ctx_of(request), principal_of(request).tenant_id, [data])
        return Response(_event_out(result), status_code=HTTP_201_CREATED if result.created else HTTP_200_OK)

    @post(
        "/batch",
        opt={"scope": "record"},
        status_code=HTTP_201_CREATED,
        request_max_body_size=64 * 1024 * 1024,
    )
    async def record_batch(self, request: AnyRequest, data: EventBatchIn) -> EventBatchOut:
        """Up to 10,000 events, all or nothing; one result per event, in order."""
        results = await events.record(ctx_of(request), principal_of(request).tenant_id, data.events, batch=True)
        return EventBatchOut(results=[_event_out(r) for r in results])


@dataclass
class _BatchOperation(Operation):
    """The batch endpoint reads its body itself (JSON or an NDJSON stream); describe both here."""

    def __post_init__(self) -> None:
        recipient = Schema(
            type="object",  # type: ignore[arg-type]
            description="exactly one of email, phone, external_id",
            properties={k: Schema(type="string") for k in ("email", "phone", "external_id")},  # type: ignore[arg-type]
        )
        self.request_body = RequestBody(
            required=True,
            content={
                "application/json": OAMediaType(
                    schema=Schema(
                        type="object",  # type: ignore[arg-type]
                        required=["purpose", "channel", "recipients"],
                        properties={
                            "purpose": Schema(type="string"),  # type: ignore[arg-type]
                            "channel": Schema(type="string", enum=["email", "sms", "phone", "post"]),  # type: ignore[arg-type]
                            "recipients": Schema(type="array", items=recipient, max_items=100_000),  # type: ignore[arg-type]
                        },
                    )
                ),
                "application/x-ndjson": OAMediaType(
                    schema=Schema(
                        type="string",  # type: ignore[arg-type]
                        description="one recipient object per line; purpose and channel in the query",
                    )
                ),
            },
        )


_batch_decoder = msgspec.json.Decoder(DecisionBatchIn)


class _DuplexASGIStream(ASGIStreamingResponse):
    """Streams the answer while the handler is still reading the request body.

    litestar's streaming response listens on ``receive()`` for a disconnect at
    the same time, which would swallow request-body messages; here the body
    reader itself notices a disconnect, so that listener is left out.
    """

    __slots__ = ()

    async def send_body(self, send: Any, receive: Any) -> None:
        await self._stream(send)


class DuplexStream(Stream):
    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        response = super().to_asgi_response(*args, **kwargs)
        response.__class__ = _DuplexASGIStream  # same slots; only send_body differs
        return response


class DecisionController(Controller):
    path = "/v1/decisions"
    tags = ["decisions"]

    @get("/", opt={"scope": "check"})
    async def decide(
        self,
        request: AnyRequest,
        purpose: str,
        channel: Channel,
        email: Annotated[str | None, Parameter(max_length=320)] = None,
        phone: Annotated[str | None, Parameter(max_length=64)] = None,
        external_id: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> DecisionOut:
        """May we contact this person for this purpose over this channel? Never creates a subject."""
        ctx = ctx_of(request)
        ident = decisions.recipient_identifier(
            Recipient(email=email, phone=phone, external_id=external_id),
            ctx.settings.default_phone_region,
            "query",
        )
        answer, at = await decisions.decide_one(ctx, principal_of(request).tenant_id, purpose, channel, ident)
        return DecisionOut.of(answer, purpose, channel, at)

    @post(
        "/batch",
        opt={"scope": "check"},
        status_code=HTTP_200_OK,
        request_max_body_size=None,
        operation_class=_BatchOperation,
        responses=None,
    )
    async def decide_batch(
        self,
        request: AnyRequest,
        purpose: Annotated[str | None, Parameter(description="for an NDJSON stream")] = None,
        channel: Annotated[Channel | None, Parameter(description="for an NDJSON stream")] = None,
    ) -> Response[DecisionBatchOut] | DuplexStream:
        """Up to 100,000 recipients as JSON, or any number as an NDJSON stream (results in order)."""
        ctx = ctx_of(request)
        tenant_id = principal_of(request).tenant_id
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in ("application/x-ndjson", "application/jsonl", "application/ndjson"):
            if purpose is None or channel is None:
                raise InvalidInput.field("purpose", "an NDJSON stream takes purpose and channel in the query")
            await decisions.load_purpose(ctx, tenant_id, purpose)  # a 400 before the stream starts
            return DuplexStream(
                decisions.decide_stream(ctx, tenant_id, purpose, channel, request.stream()),
                media_type="application/x-ndjson",
            )
        if content_type not in ("application/json", ""):
            raise ClientException(status_code=415, detail="send application/json or application/x-ndjson")
        body = await _read_limited(request, ctx.settings.max_batch_body_bytes)
        try:
            data = _batch_decoder.decode(body)
        except msgspec.ValidationError as exc:
            message, _, path = str(exc).partition(" - at `")
            raise InvalidInput.field(path.rstrip("`").removeprefix("$.") or "body", message) from None
        except msgspec.DecodeError:
            raise InvalidInput.field("body", "is not valid JSON") from None
        results, at = await decisions.decide_batch(ctx, tenant_id, data.purpose, data.channel, data.recipients)
        return Response(DecisionBatchOut(purpose=data.purpose, channel=data.channel, decided_at=at, results=results))


async def _read_limited(request: AnyRequest, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ClientException(status_code=413, detail=f"the body is larger than {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ClientException(status_code=413, detail=f"the body is larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _export_item(row: Any, fmt: str) -> ExportItem:
    item = ExportItem(
        id=row.id,
        type=row.ident_type,
        scope=row.scope,
        channel=row.channel,
        reason=row.reason,
        created_at=row.created_at,
        lifted_at=row.lifted_at,
    )
    if fmt == "sha256":
        return msgspec.structs.replace(item, sha256=row.sha256.hex() if row.sha256 else None)
    if row.ident_type == "email":
        return msgspec.structs.replace(item, email=row.value)
    return msgspec.structs.replace(item, phone=row.value)


class SuppressionController(Controller):
    path = "/v1/suppressions"
    tags = ["suppressions"]

    @post("/", opt={"scope": "record"}, status_code=HTTP_201_CREATED)
    async def add_suppression(self, request: AnyRequest, data: SuppressionIn) -> Response[SuppressionOut]:
        """Suppress an email or phone (all purposes or one, all channels or one). Idempotent (200 when present)."""
        row, created = await suppressions.add(ctx_of(request), principal_of(request).tenant_id, data)
        return Response(SuppressionOut.of(row), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/", opt={"scope": "check"})
    async def find_suppressions(
        self,
        request: AnyRequest,
        email: Annotated[str | None, Parameter(max_length=320)] = None,
        phone: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> SuppressionListOut:
        """The active entries for an email or phone."""
        rows = await suppressions.find(ctx_of(request), principal_of(request).tenant_id, email, phone)
        return SuppressionListOut(items=[SuppressionOut.of(r) for r in rows])

    @get("/export", opt={"scope": "check"})
    async def export_suppressions(
        self,
        request: AnyRequest,
        since: Annotated[str | None, Parameter(max_length=20)] = None,
        format: Literal["sha256", "plain"] = "sha256",
        limit: Annotated[int, Parameter(ge=1, le=10_000)] = 1000,
    ) -> ExportOut:
        """Every entry added or lifted since the cursor, oldest change first, for syncing into email providers."""
        page = await suppressions.export(ctx_of(request), principal_of(request).tenant_id, since, limit)
        return ExportOut(items=[_export_item(r, format) for r in page.items], next_cursor=page.next_cursor)

    @delete("/{entry_id:uuid}", opt={"scope": "admin"}, status_code=HTTP_200_OK)
    async def lift_suppression(self, request: AnyRequest, entry_id: UUID, data: LiftIn) -> SuppressionOut:
        """Lift an entry (kept in history, never deleted)."""
        row = await suppressions.lift(ctx_of(request), principal_of(request).tenant_id, entry_id, data.reason)
        return SuppressionOut.of(row)


__all__ = ["DecisionController", "EventController", "PurposeController", "SuppressionController"]
