"""Response bodies of the HTTP API (request bodies are the service's commands)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from consent_svc.domain.models import Decision, PurposeConfig
from consent_svc.domain.records import SuppressionRow
from consent_svc.service.decisions import DecisionItem


class PurposeVersionOut(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    created_at: str
    config: PurposeConfig


class PurposeVersionsOut(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    versions: list[PurposeVersionOut]


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    event_id: UUID
    subject_id: UUID
    recorded_at: datetime


class EventBatchOut(msgspec.Struct, frozen=True, kw_only=True):
    results: list[EventOut]


class DecisionOut(msgspec.Struct, frozen=True, kw_only=True):
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

    @classmethod
    def of(cls, decision: Decision, purpose: str, channel: str, decided_at: datetime) -> DecisionOut:
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
        )


class DecisionBatchOut(msgspec.Struct, frozen=True, kw_only=True):
    purpose: str
    channel: str
    decided_at: datetime
    results: list[DecisionItem]


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
    def of(cls, row: SuppressionRow) -> SuppressionOut:
        return cls(
            id=row.id, type=row.ident_type, scope=row.scope, channel=row.channel, reason=row.reason,
            source=row.source, note=row.note, created_at=row.created_at, lifted_at=row.lifted_at,
            lift_reason=row.lift_reason,
        )  # fmt: skip


class SuppressionListOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SuppressionOut]


class ExportItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: UUID
    type: str
    scope: str
    channel: str | None
    reason: str
    created_at: datetime
    lifted_at: datetime | None
    sha256: str | None = None
    email: str | None = None
    phone: str | None = None


class ExportOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ExportItem]
    next_cursor: str
