"""Records the services hand to the edge (HTTP, CLI): what the store reads, as plain frozen Structs.

They live here, beside the other domain values, so that ``http`` and ``cli`` can name
them without importing ``store`` (docs/architecture.md: http talks to service, never
to store). The store's functions build them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import msgspec

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing: its items, and where the next page starts (None: this is the last)."""

    items: list[T]
    after: Any | None

    @classmethod
    def of(cls, rows: Sequence[T], limit: int, key: Callable[[T], Any]) -> Page[T]:
        """The page of ``rows`` read with ``LIMIT limit + 1``: one row more than asked means more follow."""
        items = list(rows[:limit])
        return cls(items, key(items[-1]) if len(rows) > limit else None)


class SiteRow(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: UUID
    site_key: str
    name: str
    origins: list[str]
    categories: list[dict[str, Any]]
    banner_version: int
    validity_days: int
    gpc_domains: list[str]
    created_at: datetime
    updated_at: datetime
    options: dict[str, Any] = {}  # policy_url, controller, languages, texts, reopen ... (service.banner)


class ReceiptRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    site_key: str
    visitor_id: str | None
    categories: dict[str, bool]
    action: str
    banner_version: int
    language: str
    gpc: bool
    recorded_at: datetime
    expires_at: datetime
    subject_id: UUID | None
    origin: str | None = None  # the page origin the choice came from
    texts_hash: bytes | None = None  # SHA-256 of the version's texts in the receipt's language


class BannerVersionRow(msgspec.Struct, frozen=True, kw_only=True):
    """What one banner version showed, per language, and the hash of each language's document."""

    site_key: str
    version: int
    shown: dict[str, dict[str, Any]]
    hashes: dict[str, str]
    created_at: datetime


class ChoiceCountRow(msgspec.Struct, frozen=True, kw_only=True):
    """Choices of one kind (day, version, action, GPC, categories) and how many there were."""

    day: date
    banner_version: int
    action: str
    gpc: bool
    categories: dict[str, bool]
    n: int


class WebhookRow(msgspec.Struct, frozen=True):
    id: UUID
    url: str
    events: list[str]
    created_at: datetime


class DeliveryRow(msgspec.Struct, frozen=True):
    id: UUID
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]


class ErasureRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    subject_id: UUID
    erased_at: datetime
    reason: str | None
    identifiers_removed: dict[str, int]
    events_erased: int
    receipts_removed: int
    messages_removed: int
    suppressions_kept: int


class PastIdentifier(msgspec.Struct, frozen=True):
    type: str
    hash: bytes
    sha256: bytes | None
    replaced_at: datetime


class SuppressionRow(msgspec.Struct, frozen=True):
    id: UUID
    ident_type: str
    value: str | None
    sha256: bytes | None
    scope: str
    channel: str | None
    reason: str
    source: str | None
    note: str | None
    created_at: datetime
    lifted_at: datetime | None
    lift_reason: str | None
    change_seq: int


class ActiveScope(msgspec.Struct, frozen=True):
    """What still blocks an identifier for one scope and channel: the reasons of its active entries."""

    scope: str
    channel: str | None
    reasons: list[str]


class TenantRow(msgspec.Struct, frozen=True):
    id: UUID
    name: str
    created_at: datetime


class KeyRow(msgspec.Struct, frozen=True):
    id: UUID
    tenant_id: UUID | None  # None: a platform key
    tenant_name: str
    scope: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class BrandingRow(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    display_name: str | None
    logo_url: str | None
    primary_color: str | None
    privacy_policy_url: str | None
    unsubscribe_mailto: str | None


class EventRow(msgspec.Struct, frozen=True):
    id: UUID
    seq: int
    subject_id: UUID
    type: str
    purpose: str | None
    channels: list[str]
    occurred_at: datetime
    recorded_at: datetime
    source: str
    proof: dict[str, Any]
    idempotency_key: str | None
    subject_kind: str | None


class SubjectRow(msgspec.Struct, frozen=True):
    id: UUID
    kind: str
    facts: bytes | None
    identifiers: list[tuple[str, bytes, str | None]]  # (type, hash, value: None for a personal number)


class SubjectSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A person as a listing shows them: no decisions (those cost a fold each)."""

    id: UUID
    kind: str
    created_at: datetime
    last_event_at: datetime | None
    identifiers: list[tuple[str, str | None]]  # (type, value: None for a personal number)


class SweepRunRow(msgspec.Struct, frozen=True, kw_only=True):
    """The audit record of one retention sweep of a tenant (no personal data)."""

    id: UUID
    started_at: datetime
    finished_at: datetime
    as_of: datetime
    dry_run: bool
    scanned: int
    swept: int
    counts: dict[str, int]


class MessageRecord(msgspec.Struct, frozen=True):
    """A webhook message about a person, as their export lists it (no payload)."""

    id: UUID
    webhook_id: UUID
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None


class IntegrationRow(msgspec.Struct, frozen=True, kw_only=True):
    """An email or SMS provider integration. ``settings`` as they may be shown: a secret field
    that is set reads ``"***"`` (secrets are write-only)."""

    id: UUID
    provider: str
    name: str
    settings: dict[str, Any]
    purposes: dict[str, str]
    sync_suppressions: bool
    created_at: datetime
    updated_at: datetime


class FeedbackRow(msgspec.Struct, frozen=True, kw_only=True):
    """One provider event received (the provenance of what it changed)."""

    event_id: str
    kind: str
    provider_event: str
    provider_group: str | None
    occurred_at: datetime
    received_at: datetime
    payload_sha256: str
    outcome: str | None
    suppression_ids: list[UUID]
    lifted_ids: list[UUID]
    event_ids: list[UUID]


class IntegrationDeliveryRow(msgspec.Struct, frozen=True, kw_only=True):
    """One suppression change to push to a provider, and how it went."""

    id: UUID
    suppression_id: UUID
    action: str
    origin: str
    status: str
    attempts: int
    created_at: datetime
    done_at: datetime | None
    request: str | None
    status_code: int | None
    last_error: str | None


class SignupRow(msgspec.Struct, frozen=True, kw_only=True):
    """A double opt-in sign-up (docs/forms.md). ``email`` is held only while it waits."""

    tenant_id: UUID
    id: UUID
    ident_hash: bytes
    email: str | None
    phone: str | None
    purposes: list[str]
    language: str
    proof: dict[str, Any]
    form_key: str | None
    status: str
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    subject_id: UUID | None
    delivery: str
    message_at: datetime | None
    message_id: str | None
    mail_status: str | None
    mail_attempts: int
    mail_sent_at: datetime | None


class FormRow(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: UUID
    form_key: str
    name: str
    origins: list[str]
    purposes: list[str]
    fields: list[str]
    success_url: str | None
    language: str
    created_at: datetime


class ReconsentLinkRow(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: UUID
    id: UUID
    subject_id: UUID
    purpose: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    event_id: UUID | None
