"""Domain values: frozen msgspec Structs and the vocabulary of decision-rules.md."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

import msgspec

LegalBasis = Literal["consent", "legitimate_interest", "contract", "legal_obligation"]
Channel = Literal["email", "sms", "phone", "post"]
SubjectKind = Literal["consumer", "sole_trader", "business_contact"]
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
    "web_form",
    "preference_center",
    "unsubscribe",
    "banner",
    "api",
    "import",
    "phone_call",
    "paper",
    "integration",  # feedback from an email or SMS provider (proof.provider_feedback says which)
]
SuppressionReason = Literal["unsubscribe", "objection", "complaint", "hard_bounce", "erasure", "register", "manual"]
Scope = Literal["check", "record", "admin"]

LEGAL_BASES: tuple[LegalBasis, ...] = (
    "consent",
    "legitimate_interest",
    "contract",
    "legal_obligation",
)
CHANNELS: tuple[Channel, ...] = ("email", "sms", "phone", "post")
SUBJECT_KINDS: tuple[SubjectKind, ...] = ("consumer", "sole_trader", "business_contact")
EVENT_TYPES: tuple[EventType, ...] = (
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
)
# Events that concern one purpose (or, without one, all purposes).
PURPOSE_EVENTS = frozenset({"consent_given", "consent_withdrawn", "objection"})
# Key scopes: what each may call. ``admin`` implies the others.
KEY_SCOPES: tuple[Scope, ...] = ("check", "record", "admin")
# Subject kinds from the most protected to the least (decision-rules.md, "Subject kind").
_PROTECTION = {"consumer": 2, "sole_trader": 1, "business_contact": 0}


def more_protective(current: SubjectKind, named: SubjectKind | None) -> SubjectKind:
    """The kind a subject keeps when an event names ``named``: an event may only move a
    subject towards more protection (business_contact -> sole_trader -> consumer); the
    other way is a rectification."""
    if named is None or _PROTECTION[named] <= _PROTECTION[current]:
        return current
    return named


class PurposeConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A purpose (ändamål) as configured by a tenant; decision-rules.md, Vocabulary."""

    key: str
    legal_basis: LegalBasis
    direct_marketing: bool
    channels: tuple[Channel, ...]
    notice_version: str
    title: dict[str, str]
    description: dict[str, str]
    consent_ttl_days: int | None = 730
    reconsent_required_before: datetime | None = None
    soft_opt_in: bool = False
    # Only consents confirmed by the person (double opt-in: a link sent to the address) count.
    double_opt_in: bool = False
    customer_after_end_days: int = 730
    event_days: int = 1095
    lead_inactivity_days: int = 730
    retention_days: int = 730
    version: int = 1
    # Derived by the service from the purpose's versions, never given by a client
    # (consent_svc.domain.purposes): every notice version the purpose has
    # published, oldest first, and for each notice that a material change
    # superseded, the re-consent deadline after which consents naming it no
    # longer count.
    notice_versions: tuple[str, ...] = ()
    notice_deadlines: dict[str, datetime] = msgspec.field(default_factory=dict)
    # Opt-out registers R1 checks for direct marketing (consent_svc.domain.registers): None = the
    # defaults of the channel (phone: nix-telefon; post: nix-adresserat, spar-reklamsparr).
    registers: tuple[str, ...] | None = None

    def notice_deadline(self, notice: str | None) -> datetime | None:
        """Until when a consent naming ``notice`` counts (None: no re-consent deadline).
        A notice the purpose never published (a consent folded before notice versions
        were kept) is judged as the oldest one."""
        if notice in self.notice_deadlines:
            return self.notice_deadlines[notice]
        if notice not in self.notice_versions and self.notice_deadlines:
            return min(self.notice_deadlines.values())
        return None


# gc=False: a batch makes one per event, and nothing in it can lead back to it (no cycle), so the
# collector need not walk them (GC during a 10,000-event batch ~40 -> ~27 ms).
class Ref(msgspec.Struct, frozen=True, array_like=True, omit_defaults=True, gc=False):
    """A pointer to one ledger event: its id, ``occurred_at``, recording sequence and,
    for a consent, the notice version it names (``nv``).

    Events compare by ``occurred_at``; equal instants by the order they were
    recorded in (``seq``), the later recorded one winning.
    """

    id: UUID
    at: datetime
    seq: int
    nv: str | None = None

    def key(self) -> tuple[datetime, int]:
        return (self.at, self.seq)


def later(a: Ref | None, b: Ref | None) -> Ref | None:
    """The later of two refs (``None`` is earlier than anything)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a.key() >= b.key() else b


def is_after(a: Ref | None, b: Ref | None) -> bool:
    """True when ``a`` exists and is later than ``b`` (or ``b`` is absent)."""
    if a is None:
        return False
    return b is None or a.key() > b.key()


class SuppressionFact(msgspec.Struct, frozen=True, kw_only=True):
    """An active suppression entry matching one of the subject's identifiers."""

    id: UUID
    scope: str  # "all" or a purpose key
    channel: Channel | None
    reason: SuppressionReason
    created_at: datetime


class RegisterFact(msgspec.Struct, frozen=True, kw_only=True):
    """An opt-out register of the tenant as R1 sees it for one subject."""

    name: str
    # The channel it blocks; None for a register of the tenant's own never imported (unknown).
    channel: Channel | None
    snapshot_id: UUID | None = None  # the snapshot in force; None: never imported
    version_date: date | None = None
    listed: bool = False  # one of the subject's identifiers is in the snapshot
    identifier: str | None = None  # the kind of identifier it lists (phone, personal_number, ...)
    # False when neither the identifier asked nor any the subject has is of that kind: the
    # register cannot be checked for this person (R1 register_unverifiable).
    checkable: bool = True


class RegisterVersion(msgspec.Struct, frozen=True, kw_only=True):
    """A register a decision consulted, and the version it read."""

    name: str
    version_date: date | None
    snapshot_id: UUID | None


class SignupFact(msgspec.Struct, frozen=True, kw_only=True):
    """A sign-up for the purpose that waits for its confirmation (a link sent by email)."""

    id: UUID
    expires_at: datetime


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of decision-rules.md, "The answer"."""

    allowed: bool
    reason: str
    rule: str
    legal_basis: LegalBasis | None
    legal_reference: str
    expires_at: datetime | None
    evidence: tuple[UUID, ...]
    obligations: tuple[str, ...]
    subject_known: bool
    # The opt-out registers consulted (direct marketing on their channel), with their versions.
    registers: tuple[RegisterVersion, ...] = ()
