"""Decisions (check scope): one, a JSON batch of up to 100,000, or an NDJSON stream of any length.

The NDJSON stream is parsed and written here, at the edge; the service judges
recipients a chunk at a time (consent_svc.service.decisions).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import Parameter
from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse
from litestar.status_codes import HTTP_200_OK

from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.identifiers import Identifier
from consent_svc.domain.models import CHANNELS, Channel, Decision
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.service import decisions
from consent_svc.service.decisions import InvalidRecipient
from consent_svc.service.inputs import MAX_BATCH_RECIPIENTS, DecisionBatchIn, Recipient

AnyRequest = Request[Any, Any, Any]
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson")
MAX_LINE_BYTES = 4096


class RegisterVersionOut(msgspec.Struct, frozen=True, kw_only=True):
    """An opt-out register the decision consulted, and the snapshot (version) it read; a register
    never imported has neither."""

    name: str
    version_date: date | None
    snapshot_id: UUID | None


class DecisionOut(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of decision-rules.md, with what was asked and when it was decided."""

    allowed: bool
    reason: str
    rule: str
    legal_basis: str | None
    legal_reference: str
    expires_at: datetime | None
    evidence: list[UUID]
    obligations: list[str]
    subject_known: bool
    purpose: str
    channel: str
    decided_at: datetime
    registers: list[RegisterVersionOut] = []

    @classmethod
    def from_domain(cls, decision: Decision, purpose: str, channel: str, decided_at: datetime) -> DecisionOut:
        return cls(
            allowed=decision.allowed,
            reason=decision.reason,
            rule=decision.rule,
            legal_basis=decision.legal_basis,
            legal_reference=decision.legal_reference,
            expires_at=decision.expires_at,
            evidence=list(decision.evidence),
            obligations=list(decision.obligations),
            subject_known=decision.subject_known,
            purpose=purpose,
            channel=channel,
            decided_at=decided_at,
            registers=[
                RegisterVersionOut(name=r.name, version_date=r.version_date, snapshot_id=r.snapshot_id)
                for r in decision.registers
            ],
        )


class DecisionBatchOut(msgspec.Struct, frozen=True, kw_only=True):
    """One result per recipient, in order: a decision, or an ``invalid_identifier`` item (never an allow)."""

    purpose: str
    channel: str
    decided_at: datetime
    results: list[Decision | InvalidRecipient]


class BatchItemDoc(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One result of a batch, as the OpenAPI document describes it: a decision (every field but
    ``error``), or, for a recipient that could not be judged, ``allowed: false``,
    ``reason: "invalid_identifier"`` and the ``error``."""

    allowed: bool
    reason: str
    rule: str | None = None
    legal_basis: str | None = None
    legal_reference: str | None = None
    expires_at: datetime | None = None
    evidence: list[UUID] | None = None
    obligations: list[str] | None = None
    subject_known: bool | None = None
    registers: list[RegisterVersionOut] | None = None
    error: dict[str, str] | None = None


class DecisionBatchDoc(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON answer of POST /v1/decisions/batch (the schema of DecisionBatchOut, which
    encodes the service's items directly)."""

    purpose: str
    channel: str
    decided_at: datetime
    results: list[BatchItemDoc]


@dataclass
class _BatchOperation(Operation):
    """The batch endpoint reads its body itself (JSON or an NDJSON stream); describe both here."""

    def __post_init__(self) -> None:
        recipient = Schema(
            type="object",  # type: ignore[arg-type]
            description="exactly one of email, phone, external_id, personal_number",
            properties={k: Schema(type="string") for k in ("email", "phone", "external_id", "personal_number")},  # type: ignore[arg-type]
        )
        self.request_body = RequestBody(
            required=True,
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type="object",  # type: ignore[arg-type]
                        required=["purpose", "channel", "recipients"],
                        properties={
                            "purpose": Schema(type="string"),  # type: ignore[arg-type]
                            "channel": Schema(type="string", enum=list(CHANNELS)),  # type: ignore[arg-type]
                            "recipients": Schema(type="array", items=recipient, max_items=MAX_BATCH_RECIPIENTS),  # type: ignore[arg-type]
                        },
                    )
                ),
                "application/x-ndjson": OpenAPIMediaType(
                    schema=Schema(
                        type="string",  # type: ignore[arg-type]
                        description="one recipient object per line; purpose and channel in the query",
                    )
                ),
            },
        )


_batch_decoder = msgspec.json.Decoder(DecisionBatchIn)
_recipient_decoder = msgspec.json.Decoder(Recipient)
_encoder = msgspec.json.Encoder()


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


async def _lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Split a byte stream into lines, refusing a line longer than MAX_LINE_BYTES."""
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


async def _recipients(chunks: AsyncIterable[bytes], region: str) -> AsyncIterator[Identifier | InvalidRecipient]:
    """NDJSON lines as recipients; a line that is not a recipient object is an ``invalid_identifier``
    item, and the stream goes on."""
    number = 0
    async for line in _lines(chunks):
        if not line.strip():
            continue
        field = f"line[{number}]"
        number += 1
        try:
            recipient = _recipient_decoder.decode(line)
        except msgspec.ValidationError as exc:
            yield InvalidRecipient(error={"field": field, "message": str(exc)})
        except msgspec.DecodeError:
            yield InvalidRecipient(error={"field": field, "message": "is not a JSON object"})
        else:
            yield decisions.identify(recipient, region, field)


async def _ndjson(answers: AsyncIterator[list[decisions.DecisionItem]]) -> AsyncIterator[bytes]:
    async for chunk in answers:
        yield b"".join(_encoder.encode(item) + b"\n" for item in chunk)


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


class DecisionController(Controller):
    path = "/v1/decisions"
    tags = ["decisions"]
    opt = {"scope": "check"}

    @get("/", summary="Decide one recipient")
    async def decide(
        self,
        ctx: Ctx,
        tenant_id: TenantId,
        purpose: str,
        channel: Channel,
        email: Annotated[str | None, Parameter(max_length=320)] = None,
        phone: Annotated[str | None, Parameter(max_length=64)] = None,
        external_id: Annotated[str | None, Parameter(max_length=200)] = None,
        personal_number: Annotated[str | None, Parameter(max_length=32)] = None,
    ) -> DecisionOut:
        """May we contact this person for this purpose over this channel? Never creates a subject."""
        ident = decisions.recipient_identifier(
            Recipient(email=email, phone=phone, external_id=external_id, personal_number=personal_number),
            ctx.settings.default_phone_region,
            "query",
        )
        answer, at = await decisions.decide_one(ctx, tenant_id, purpose, channel, ident)
        return DecisionOut.from_domain(answer, purpose, channel, at)

    @post(
        "/batch",
        status_code=HTTP_200_OK,
        request_max_body_size=None,
        operation_class=_BatchOperation,
        summary="Decide a whole send list",
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=DecisionBatchDoc,
                generate_examples=False,
                description="JSON: the answers in order. For an NDJSON request with Accept: application/x-ndjson, "
                "one answer (a decision or an invalid_identifier item) per line, streamed in order",
            )
        },
    )
    async def decide_batch(
        self,
        ctx: Ctx,
        tenant_id: TenantId,
        request: AnyRequest,
        purpose: Annotated[str | None, Parameter(description="for an NDJSON stream")] = None,
        channel: Annotated[Channel | None, Parameter(description="for an NDJSON stream")] = None,
    ) -> Response[DecisionBatchOut] | DuplexStream:
        """Up to 100,000 recipients as JSON, or any number as an NDJSON stream; results in order."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in NDJSON_TYPES:
            if purpose is None or channel is None:
                raise InvalidInput.field("purpose", "an NDJSON stream takes purpose and channel in the query")
            await decisions.load_purpose(ctx, tenant_id, purpose)  # a 400 before the stream starts
            recipients = _recipients(request.stream(), ctx.settings.default_phone_region)
            answers = decisions.decide_stream(ctx, tenant_id, purpose, channel, recipients)
            return DuplexStream(_ndjson(answers), media_type="application/x-ndjson")
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
