"""The shapes the client sends and receives: msgspec Structs written by hand from the OpenAPI
document (openapi/openapi.json), which a test in the service's suite compares them against
(``SCHEMAS`` below names the document's schema of each).

Answers ignore fields they do not know, so a newer server does not break an older client;
inputs leave out the fields you did not set (``omit_defaults``), so the server's defaults apply.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

Channel = Literal["email", "sms", "phone", "post"]
EventType = Literal[
    "consent_given",
    "consent_withdrawn",
    "objection",
    "purchase",
    "customer_started",
    "customer_ended",
    "event_attended",
    "lead_activity",
    "prospect_declined",
    "restriction_started",
    "restriction_lifted",
]
Source = Literal[
    "web_form", "preference_center", "unsubscribe", "banner", "api", "import", "phone_call", "paper", "integration"
]
SubjectKind = Literal["consumer", "sole_trader", "business_contact"]
ExportFormat = Literal["sha256", "plain"]


class Recipient(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """One recipient of a send list: exactly one of ``email``, ``phone``, ``external_id``,
    ``personal_number`` (a Swedish personnummer, held by the service only as a keyed hash)."""

    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    personal_number: str | None = None


class RegisterVersion(msgspec.Struct, frozen=True, kw_only=True):
    """An opt-out register a decision consulted (NIX-Telefon ...) and the snapshot it read; a
    register never imported has neither ``version_date`` nor ``snapshot_id``."""

    name: str
    version_date: date | None
    snapshot_id: UUID | None


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to one question (``GET /v1/decisions``): may we contact this person for this
    purpose over this channel? ``allowed`` is what to act on; the rest says why."""

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
    registers: list[RegisterVersion] = []


class BatchItem(msgspec.Struct, frozen=True, kw_only=True):
    """One answer of a send list, in the list's order: a decision, or for a recipient that could
    not be judged ``allowed=False``, ``reason="invalid_identifier"`` and the ``error``
    (``{"field", "message"}``). Never an allow without a decision."""

    allowed: bool
    reason: str
    rule: str | None = None
    legal_basis: str | None = None
    legal_reference: str | None = None
    expires_at: datetime | None = None
    evidence: list[UUID] | None = None
    obligations: list[str] | None = None
    subject_known: bool | None = None
    registers: list[RegisterVersion] | None = None
    error: dict[str, str] | None = None


class SubjectRef(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Who an event is about: at least one of ``email``, ``phone``, ``external_id``,
    ``personal_number``."""

    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    personal_number: str | None = None
    kind: SubjectKind | None = None


class ProviderProof(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Written only by the service's own provider integrations (a client sending it gets a 400)."""

    provider: Literal["ses", "sendgrid", "postmark", "mailgun", "twilio"]
    integration_id: UUID
    event_id: str
    provider_event: str
    occurred_at: datetime
    payload_sha256: str


class ImportProof(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Written only by the service's console import (a client sending it gets a 400)."""

    imported_from: Literal["mailchimp", "brevo", "csv"]
    file_sha256: str
    row: int


class Proof(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """What the person saw and did. ``consent_given`` needs ``notice_version``."""

    notice_version: str | None = None
    notice_text_sha256: str | None = None
    form_url: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    consent_id: str | None = None
    note: str | None = None
    provider_feedback: ProviderProof | None = None
    imported: ImportProof | None = None


class EventIn(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """One event for the ledger (``POST /v1/events``). ``record`` and ``record_many`` fill in
    ``idempotency_key`` when it is ``None``."""

    subject: SubjectRef
    type: EventType
    purpose: str | None = None
    channels: list[Channel] | None = None
    occurred_at: datetime | None = None
    source: Source | None = None
    proof: Proof | None = None
    idempotency_key: str | None = None


class EventBatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    events: list[EventIn]


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded event: its id, the person's subject id, and when it was recorded (the first
    time, for a retry with the same idempotency key)."""

    event_id: UUID
    subject_id: UUID
    recorded_at: datetime


class EventBatchOut(msgspec.Struct, frozen=True, kw_only=True):
    results: list[EventOut]


class ActiveEntry(msgspec.Struct, frozen=True, kw_only=True):
    """What blocks an identifier at the time of the read, for one scope and channel."""

    scope: str
    channel: str | None
    reasons: list[str]


class ExportItem(msgspec.Struct, frozen=True, kw_only=True):
    """One suppression entry added or lifted, with everything that blocks its identifier now
    (``active``; docs/api.md, "What to do with an item")."""

    id: UUID
    type: str
    scope: str
    channel: str | None
    reason: str
    created_at: datetime
    lifted_at: datetime | None
    active: list[ActiveEntry]
    sha256: str | None = None
    email: str | None = None
    phone: str | None = None


class ExportPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the suppression export. Apply ``items``, then save ``next_cursor``: it is
    where the next sync resumes (set on the last page too); ``has_more`` says whether more
    changes are waiting now."""

    items: list[ExportItem]
    next_cursor: str | None
    has_more: bool


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """An ``application/problem+json`` answer (RFC 9457)."""

    type: str = "about:blank"
    title: str = ""
    status: int = 0
    detail: str = ""
    errors: list[FieldError] = msgspec.field(default_factory=list)


class WebhookMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A verified webhook delivery (docs/webhooks.md). ``id`` is the same on every retry:
    deduplicate on it."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]


# Each model and the schema of openapi/openapi.json it mirrors; tests/clients/test_drift.py
# compares them field by field ("#/paths/..." for the batch request's inline recipient schema).
SCHEMAS: dict[type[msgspec.Struct], str] = {
    Recipient: "#/paths/~1v1~1decisions~1batch/post/requestBody/content/application~1json/schema/properties/"
    "recipients/items",
    Decision: "DecisionOut",
    RegisterVersion: "RegisterVersionOut",
    BatchItem: "BatchItemDoc",
    SubjectRef: "SubjectRef",
    ProviderProof: "ProviderProof",
    ImportProof: "ImportProof",
    Proof: "Proof",
    EventIn: "EventIn",
    EventBatchIn: "EventBatchIn",
    EventOut: "EventOut",
    EventBatchOut: "EventBatchOut",
    ActiveEntry: "ActiveOut",
    ExportItem: "ExportItem",
    ExportPage: "ExportOut",
}
