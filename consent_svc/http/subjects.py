"""Data subject rights over HTTP (admin): look-up, export (Art 15, 20), rectification (Art 16),
erasure (Art 17). The export document is also what ``consent-svc subjects export`` prints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, patch
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK

from consent_svc.domain.models import Decision
from consent_svc.domain.records import (
    ErasureRow,
    MessageRecord,
    PastIdentifier,
    ReceiptRow,
    ReconsentLinkRow,
    SignupRow,
    SubjectSummary,
    SuppressionRow,
)
from consent_svc.http.deps import Ctx, TenantId
from consent_svc.http.events import EventRecordOut
from consent_svc.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from consent_svc.service import subjects
from consent_svc.service.inputs import ErasureIn, SubjectPatchIn

EXPORT_FORMAT = "consent-svc.subject-export/1"


class IdentifierOut(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    # A personal number is held only as a keyed hash: its value is never shown (null).
    value: str | None


class PurposeStateOut(msgspec.Struct, frozen=True, kw_only=True):
    purpose: str
    channel: str
    decision: Decision

    @classmethod
    def from_domain(cls, state: subjects.PurposeState) -> PurposeStateOut:
        return cls(purpose=state.purpose, channel=state.channel, decision=state.decision)


class SubjectOut(msgspec.Struct, frozen=True, kw_only=True):
    """The person, and the decision now for each purpose (on its first channel)."""

    id: UUID
    kind: str
    identifiers: list[IdentifierOut]
    purposes: list[PurposeStateOut]

    @classmethod
    def from_domain(cls, view: subjects.SubjectView) -> SubjectOut:
        return cls(
            id=view.id,
            kind=view.kind,
            identifiers=[IdentifierOut(type=t, value=v) for t, v in view.identifiers],
            purposes=[PurposeStateOut.from_domain(p) for p in view.purposes],
        )


class ExportSubjectOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    kind: str


class PastIdentifierOut(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    replaced_at: datetime


class SuppressionRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    ident_type: str
    scope: str
    channel: str | None
    reason: str
    source: str | None
    note: str | None
    created_at: datetime
    lifted_at: datetime | None
    lift_reason: str | None

    @classmethod
    def from_domain(cls, row: SuppressionRow) -> SuppressionRecordOut:
        return cls(**{f: getattr(row, f) for f in cls.__struct_fields__})


class ReceiptRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    site_key: str
    categories: dict[str, bool]
    action: str
    banner_version: int
    language: str
    gpc: bool
    recorded_at: datetime
    expires_at: datetime

    @classmethod
    def from_domain(cls, row: ReceiptRow) -> ReceiptRecordOut:
        return cls(**{f: getattr(row, f) for f in cls.__struct_fields__})


class MessageRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    webhook_id: UUID
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_domain(cls, row: MessageRecord) -> MessageRecordOut:
        return cls(**{f: getattr(row, f) for f in cls.__struct_fields__})


class SignupRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    """A double opt-in sign-up made with the person's address, and its confirmation (docs/forms.md)."""

    id: UUID
    status: str
    purposes: list[str]
    language: str
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    form_key: str | None
    delivery: str
    mail_status: str | None
    message_id: str | None
    proof: dict[str, Any]

    @classmethod
    def from_domain(cls, row: SignupRow) -> SignupRecordOut:
        return cls(**{f: getattr(row, f) for f in cls.__struct_fields__})


class ReconsentLinkRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    """A re-permission link made for the person, and when it was used."""

    id: UUID
    purpose: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    event_id: UUID | None

    @classmethod
    def from_domain(cls, row: ReconsentLinkRow) -> ReconsentLinkRecordOut:
        return cls(**{f: getattr(row, f) for f in cls.__struct_fields__})


class SubjectExportOut(msgspec.Struct, frozen=True, kw_only=True):
    """Everything held about a person (docs/subject-export.md)."""

    format: str
    exported_at: datetime
    subject: ExportSubjectOut
    identifiers: list[IdentifierOut]
    past_identifiers: list[PastIdentifierOut]
    events: list[EventRecordOut]
    suppressions: list[SuppressionRecordOut]
    banner_receipts: list[ReceiptRecordOut]
    webhook_messages: list[MessageRecordOut]
    signups: list[SignupRecordOut]
    reconsent_links: list[ReconsentLinkRecordOut]
    current_decisions: list[PurposeStateOut]

    @classmethod
    def from_domain(cls, export: subjects.SubjectExport) -> SubjectExportOut:
        view = export.subject

        def past(p: PastIdentifier) -> PastIdentifierOut:
            return PastIdentifierOut(type=p.type, replaced_at=p.replaced_at)

        return cls(
            format=EXPORT_FORMAT,
            exported_at=export.exported_at,
            subject=ExportSubjectOut(id=view.id, kind=view.kind),
            identifiers=[IdentifierOut(type=t, value=v) for t, v in view.identifiers],
            past_identifiers=[past(p) for p in export.past_identifiers],
            events=[EventRecordOut.from_domain(e) for e in export.events],
            suppressions=[SuppressionRecordOut.from_domain(s) for s in export.suppressions],
            banner_receipts=[ReceiptRecordOut.from_domain(r) for r in export.banner_receipts],
            webhook_messages=[MessageRecordOut.from_domain(m) for m in export.webhook_messages],
            signups=[SignupRecordOut.from_domain(s) for s in export.signups],
            reconsent_links=[ReconsentLinkRecordOut.from_domain(r) for r in export.reconsent_links],
            current_decisions=[PurposeStateOut.from_domain(p) for p in view.purposes],
        )


class SubjectSummaryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    kind: str
    created_at: datetime
    last_event_at: datetime | None
    identifiers: list[IdentifierOut]

    @classmethod
    def from_domain(cls, row: SubjectSummary) -> SubjectSummaryOut:
        return cls(
            id=row.id, kind=row.kind, created_at=row.created_at, last_event_at=row.last_event_at,
            identifiers=[IdentifierOut(type=t, value=v) for t, v in row.identifiers],
        )  # fmt: skip


class SubjectList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SubjectSummaryOut]
    next_cursor: str | None


class EventList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[EventRecordOut]
    next_cursor: str | None


class ErasureOut(msgspec.Struct, frozen=True, kw_only=True):
    """The erasure receipt: kept, without personal data, as proof the request was carried out. On a
    dry run, what an erasure now would do: ``dry_run`` true, no ``erasure_id``, nothing changed."""

    erasure_id: UUID | None
    dry_run: bool
    subject_id: UUID
    erased_at: datetime
    reason: str | None
    identifiers_removed: dict[str, int]
    events_erased: int
    receipts_removed: int
    messages_removed: int
    suppressions_kept: int

    @classmethod
    def from_domain(cls, row: ErasureRow, *, dry_run: bool = False) -> ErasureOut:
        return cls(
            erasure_id=None if dry_run else row.id, dry_run=dry_run, subject_id=row.subject_id,
            erased_at=row.erased_at, reason=row.reason,
            identifiers_removed=row.identifiers_removed, events_erased=row.events_erased,
            receipts_removed=row.receipts_removed, messages_removed=row.messages_removed,
            suppressions_kept=row.suppressions_kept,
        )  # fmt: skip


class SubjectController(Controller):
    path = "/v1/subjects"
    tags = ["subjects"]
    opt = {"scope": "admin"}

    @get("/", summary="List people, or find one by email, phone, external id or personal number")
    async def list_subjects(
        self,
        ctx: Ctx,
        tenant_id: TenantId,
        email: Annotated[str | None, Parameter(max_length=320)] = None,
        phone: Annotated[str | None, Parameter(max_length=64)] = None,
        external_id: Annotated[str | None, Parameter(max_length=200)] = None,
        personal_number: Annotated[str | None, Parameter(max_length=32)] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> SubjectList:
        """Oldest first, each with its identifiers, kind, and when its last event was recorded. With
        one identifier, the person who has it (one item) or nobody (no items)."""
        given = {"email": email, "phone": phone, "external_id": external_id, "personal_number": personal_number}
        ident = None
        if any(v is not None for v in given.values()):
            ident = subjects.lookup_identifier(
                email, phone, external_id, ctx.settings.default_phone_region, personal_number
            )
        page = await subjects.summaries(ctx, tenant_id, ident, decode_cursor(cursor, UUID), limit)
        return SubjectList(
            items=[SubjectSummaryOut.from_domain(r) for r in page.items], next_cursor=encode_cursor(page.after)
        )

    @get("/{subject_id:uuid}", summary="Read a person")
    async def get_subject(self, ctx: Ctx, tenant_id: TenantId, subject_id: UUID) -> SubjectOut:
        return SubjectOut.from_domain(await subjects.view(ctx, tenant_id, subject_id))

    @get("/{subject_id:uuid}/events", summary="List a person's events")
    async def subject_events(
        self, ctx: Ctx, tenant_id: TenantId, subject_id: UUID, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> EventList:
        """In ledger order, with their proof."""
        page = await subjects.history(ctx, tenant_id, subject_id, decode_cursor(cursor, int), limit)
        return EventList(
            items=[EventRecordOut.from_domain(e) for e in page.items], next_cursor=encode_cursor(page.after)
        )

    @get("/{subject_id:uuid}/export", summary="Export everything held about a person")
    async def export_subject(self, ctx: Ctx, tenant_id: TenantId, subject_id: UUID) -> SubjectExportOut:
        """GDPR 15 and 20, format consent-svc.subject-export/1 (docs/subject-export.md)."""
        return SubjectExportOut.from_domain(await subjects.export(ctx, tenant_id, subject_id))

    @patch("/{subject_id:uuid}", summary="Rectify a person's identifiers or kind")
    async def rectify_subject(
        self, ctx: Ctx, tenant_id: TenantId, subject_id: UUID, data: SubjectPatchIn
    ) -> SubjectOut:
        """GDPR 16; recorded in the ledger. An old address stays suppressed."""
        return SubjectOut.from_domain(await subjects.rectify(ctx, tenant_id, subject_id, data))

    @delete("/{subject_id:uuid}", status_code=HTTP_200_OK, summary="Erase a person")
    async def erase_subject(
        self, ctx: Ctx, tenant_id: TenantId, subject_id: UUID, data: ErasureIn | None = None, dry_run: bool = False
    ) -> ErasureOut:
        """GDPR 17: personal data and events go, keyed-hash suppression entries stay. Answers the receipt
        (kept: GET /v1/erasures/{erasure_id}). ``?dry_run=true`` answers what would go and changes nothing."""
        reason = data.reason if data else None
        erased = await subjects.erase(ctx, tenant_id, subject_id, reason, dry_run=dry_run)
        return ErasureOut.from_domain(erased, dry_run=dry_run)
