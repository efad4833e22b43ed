"""The decision table of decision-rules.md: "may we contact X for purpose Y over channel Z?".

A pure function of (purpose configuration, subject facts, suppression
entries, channel, now). Rules are tried in order; the first that answers wins.

    R1  suppressed            an active suppression entry matches, or the subject is in
                              an opt-out register the purpose checks on this channel
                              (register entries and registers: unless an exception holds)
        register_stale        a register the purpose checks on this channel has no
                              snapshot, or its snapshot is past its validity
        register_unverifiable such a register lists identifiers of a kind (a personal
                              number, a phone number) that neither the question nor the
                              person's record gives: it cannot be checked
    R2  objected              objection to direct marketing, unless a later
                              consent for this purpose and channel is still valid
    R3  restricted            Art 18 restriction active, or an identifier was erased
    R4  withdrawn             latest withdrawal later than latest consent
    R5  channel_not_allowed   the purpose does not use this channel;
        purpose_not_lawful    direct marketing configured on a contract or a
                              legal obligation (refused at configuration since
                              rules v2; a stored one allows nothing)
    R6  ePrivacy gate         email/sms marketing to a natural person needs consent
                              or soft opt-in (consent-based purposes go to R7)
    R7  consent               the latest consent covering the channel is valid;
                              else confirmation_pending while a sign-up waits
    R8  legitimate interest   a valid consent, else a relationship within its window
    R9  contract              an active customer relationship
    R10 legal obligation      always

Clarifications of the table (docs/decision-rules.md explains them):

* Consents, withdrawals and objections are compared per channel: each names
  the channels it covers (none named: all of them).
* A consent is *valid* when it is the latest consent for the purpose covering
  the channel, no later withdrawal (for the purpose or all) covers the
  channel, its ``consent_ttl_days`` have not passed, and, after a material
  change, it names a notice version published since the change or the
  re-consent deadline of the notice it names has not passed. R2, R6, R7, R8 and the register
  exception all use this one judgement. For a purpose with ``double_opt_in`` only consents
  the person confirmed (by the link sent to their address) are consents at all: the
  latest *confirmed* one is judged, and unconfirmed ones are as if never given.
* A sign-up waiting for its confirmation (not yet expired) is confirmed by email, so it
  concerns the email channel: R7 answers ``confirmation_pending`` there instead of the
  reason the consent judgement gives.
* The customer relationship is active while the latest ``customer_started``
  is later than the latest ``customer_ended``; otherwise it ended at the later
  of ``customer_ended`` and the latest ``purchase`` (a one-off purchase is a
  relationship that ended on the day of the purchase).
* An allow expires at a computed instant ``t``: it holds while ``now < t``.
  An allow given under a register exception expires no later than the
  exception does; an allow on a channel with opt-out registers no later than
  the earliest validity of their snapshots (consent_svc.domain.registers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec

from consent_svc.domain import registers as register_rules
from consent_svc.domain.facts import Facts, covering, latest_covering
from consent_svc.domain.models import (
    Decision,
    LegalBasis,
    PurposeConfig,
    Ref,
    RegisterFact,
    RegisterVersion,
    SignupFact,
    SubjectKind,
    SuppressionFact,
    is_after,
    later,
)

# Register (NIX) exceptions: a consent counts for 90 days after it was given,
# a customer for 365 days after the relationship ended (decision-rules.md R1).
REGISTER_CONSENT_DAYS = 90
REGISTER_CUSTOMER_DAYS = 365

REF_CONSENT = "GDPR 6(1)(a), 7(1)"
REF_CONSENT_EPRIVACY = "GDPR 6(1)(a), 7(1); ePrivacy 13(1), MFL 19 §"
REF_SOFT_OPT_IN = "ePrivacy 13(2), MFL 19 § 2 st."
REF_LI = "GDPR 6(1)(f), recital 47"
REF_CONTRACT = "GDPR 6(1)(b)"
REF_LEGAL_OBLIGATION = "GDPR 6(1)(c)"
REF_SUPPRESSED = "GDPR 21(3), 7(3): suppression list (spärrlista)"
REF_REGISTER = "MFL 21 § (NIX opt-out registers); lag 1998:527 om SPAR (reklamspärr)"
REF_REGISTER_UNVERIFIABLE = (
    "MFL 21 §: the register lists identifiers of a kind not known for this person, so it cannot be checked"
)
REF_REGISTER_STALE = "MFL 21 §: opt-out register (NIX) not washed within 60 days"
REF_OBJECTED = "GDPR 21(2)-(3)"
REF_RESTRICTED = "GDPR 18"
REF_WITHDRAWN = "GDPR 7(3)"
REF_CHANNEL = "GDPR 5(1)(b): purpose limitation"
REF_NOT_LAWFUL = "GDPR 6(1)(b)-(c), 21(2): marketing is neither necessary for a contract nor required by law"
REF_NO_EPRIVACY = "ePrivacy 13(1), MFL 19 §"
REF_RECONSENT = "GDPR 7(1); EDPB Guidelines 05/2020"
REF_CONFIRMATION = "GDPR 7(1): double opt-in, the consent is not confirmed yet"

OBLIGATIONS_ELECTRONIC = ("unsubscribe_link", "identify_sender", "objection_notice")
OBLIGATIONS_OTHER_MARKETING = ("identify_sender", "objection_notice")

ELECTRONIC_CHANNELS = frozenset({"email", "sms"})
_FOREVER = datetime.max.replace(tzinfo=UTC)
NATURAL_PERSONS = frozenset({"consumer", "sole_trader"})
# Reasons whose scope "all" means every direct-marketing purpose (R1); the
# others (hard_bounce, erasure, manual) mean every purpose.
MARKETING_REASONS = frozenset({"unsubscribe", "objection", "complaint"})


def _deny(rule: str, reason: str, reference: str, evidence: Sequence[UUID], known: bool) -> Decision:
    return Decision(
        allowed=False,
        reason=reason,
        rule=rule,
        legal_basis=None,
        legal_reference=reference,
        expires_at=None,
        evidence=tuple(evidence),
        obligations=(),
        subject_known=known,
    )


def obligations_of(purpose: PurposeConfig, channel: str) -> tuple[str, ...]:
    """What an allowed message must carry: direct marketing identifies the sender and tells of the
    right to object; by email and sms it carries a working unsubscribe link too."""
    if not purpose.direct_marketing:
        return ()
    return OBLIGATIONS_ELECTRONIC if channel in ELECTRONIC_CHANNELS else OBLIGATIONS_OTHER_MARKETING


def _allow(
    rule: str,
    reason: str,
    basis: LegalBasis,
    reference: str,
    expires_at: datetime | None,
    evidence: Sequence[UUID],
    known: bool,
    obligations: tuple[str, ...],
) -> Decision:
    return Decision(
        allowed=True,
        reason=reason,
        rule=rule,
        legal_basis=basis,
        legal_reference=reference,
        expires_at=expires_at,
        evidence=tuple(evidence),
        obligations=obligations,
        subject_known=known,
    )


def _ids(*refs: Ref | None) -> list[UUID]:
    return [ref.id for ref in refs if ref is not None]


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two expiries, ``None`` meaning "no scheduled end"."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


class Relationship:
    """The customer relationship as the rules see it (see module docstring)."""

    __slots__ = ("active", "ended", "evidence")

    def __init__(self, facts: Facts) -> None:
        started, ended, purchase = facts.customer_started, facts.customer_ended, facts.purchase
        self.active = started is not None and is_after(started, ended)
        # The last event that ends a relationship (read only when it is not active).
        self.ended: Ref | None = later(ended, purchase)
        self.evidence = _ids(started, ended, purchase)

    def within(self, now: datetime, days: int) -> bool:
        """Active, or ended less than ``days`` ago."""
        if self.active:
            return True
        return self.ended is not None and now < self.ended.at + timedelta(days=days)

    def end_plus(self, days: int) -> datetime | None:
        """When a window of ``days`` after the relationship closes (None while it is active)."""
        if self.active or self.ended is None:
            return None
        return self.ended.at + timedelta(days=days)


def withdrawal_of(purpose: PurposeConfig, facts: Facts, channel: str) -> Ref | None:
    """The latest withdrawal for this purpose or all purposes covering ``channel``."""
    return latest_covering(facts.withdrawn, purpose.key, channel)


def objection_of(purpose: PurposeConfig, facts: Facts, channel: str) -> Ref | None:
    """The latest objection to this purpose or all direct marketing covering ``channel``."""
    return latest_covering(facts.objected, purpose.key, channel)


def consents_of(purpose: PurposeConfig, facts: Facts) -> dict[str, Ref] | None:
    """The consents that count for ``purpose``, per channel: with ``double_opt_in``, only confirmed ones."""
    return (facts.confirmed if purpose.double_opt_in else facts.given).get(purpose.key)


# A sign-up is confirmed by a link sent by email: it concerns this channel only.
SIGNUP_CHANNEL = "email"


def pending_signup(signups: Sequence[SignupFact], channel: str, now: datetime) -> SignupFact | None:
    """The earliest-made sign-up still waiting for its confirmation on ``channel``, if any."""
    if not signups or channel != SIGNUP_CHANNEL:  # nearly every recipient of a batch: no sign-up at all
        return None
    waiting = sorted((s for s in signups if now < s.expires_at), key=lambda s: s.id)
    return waiting[0] if waiting else None


class ConsentJudgement:
    """Is the latest consent for the purpose covering the channel valid at ``now``?

    ``reason`` is ``consent_active`` when it is, else ``no_consent``,
    ``reconsent_required``, ``consent_expired`` or ``withdrawn``; ``expires_at``
    is when a valid consent stops counting by itself (None: never).
    """

    __slots__ = ("expires_at", "reason", "ref", "valid")

    def __init__(self, purpose: PurposeConfig, facts: Facts, channel: str, now: datetime) -> None:
        ref = covering(consents_of(purpose, facts), channel)
        self.ref = ref
        self.valid = False
        self.expires_at: datetime | None = None
        if ref is None:
            self.reason = "no_consent"
            return
        deadline = purpose.notice_deadline(ref.nv)
        if deadline is not None and now >= deadline:
            self.reason = "reconsent_required"
            return
        expires = None if purpose.consent_ttl_days is None else ref.at + timedelta(days=purpose.consent_ttl_days)
        if expires is not None and now >= expires:
            self.reason = "consent_expired"
            return
        if is_after(withdrawal_of(purpose, facts, channel), ref):
            self.reason = "withdrawn"
            return
        self.valid = True
        self.reason = "consent_active"
        self.expires_at = _earliest(expires, deadline)


def consent_reference(purpose: PurposeConfig, channel: str, kind: SubjectKind) -> str:
    """Email and SMS marketing to a natural person rests on ePrivacy 13(1) as well."""
    electronic = purpose.direct_marketing and channel in ELECTRONIC_CHANNELS and kind in NATURAL_PERSONS
    return REF_CONSENT_EPRIVACY if electronic else REF_CONSENT


def entry_matches(entry: SuppressionFact, purpose: PurposeConfig, channel: str) -> bool:
    """R1: does this suppression entry cover this purpose and channel?"""
    if entry.channel is not None and entry.channel != channel:
        return False
    if entry.reason == "register":
        # Opt-out registers concern direct marketing only, whatever the scope.
        return purpose.direct_marketing and entry.scope in ("all", purpose.key)
    if entry.scope == purpose.key:
        return True
    if entry.scope != "all":
        return False
    return purpose.direct_marketing or entry.reason not in MARKETING_REASONS


class RegisterException:
    """R1: a register entry is skipped while (a) a valid consent for this purpose
    and channel is at most 90 days old, or (b) the purpose markets the tenant's own
    similar products and the customer relationship is active or ended at most 365
    days ago. ``until`` is when the last holding exception ends (None: not
    scheduled)."""

    __slots__ = ("evidence", "holds", "until")

    def __init__(self, purpose: PurposeConfig, facts: Facts, channel: str, now: datetime) -> None:
        ends: list[datetime | None] = []
        self.evidence: list[UUID] = []
        consent = ConsentJudgement(purpose, facts, channel, now)
        if consent.valid:
            assert consent.ref is not None
            window_end = consent.ref.at + timedelta(days=REGISTER_CONSENT_DAYS)
            if now < window_end:
                # (An allow under this exception rests on the consent itself and expires with
                # it too: the window is the exception's own end.)
                ends.append(window_end)
                self.evidence.append(consent.ref.id)
        relationship = Relationship(facts)
        if purpose.soft_opt_in and relationship.within(now, REGISTER_CUSTOMER_DAYS):
            ends.append(relationship.end_plus(REGISTER_CUSTOMER_DAYS))
            self.evidence.extend(relationship.evidence)
        self.holds = bool(ends)
        # The latest end among the exceptions that hold; None (no scheduled end) beats every date.
        self.until: datetime | None = None if not ends or None in ends else max(e for e in ends if e is not None)


def decide(
    purpose: PurposeConfig,
    facts: Facts | None,
    kind: SubjectKind,
    suppressions: Sequence[SuppressionFact],
    channel: str,
    now: datetime,
    signups: Sequence[SignupFact] = (),
    registers: Sequence[RegisterFact] = (),
) -> Decision:
    """Answer "may we contact this subject for ``purpose`` over ``channel`` at ``now``?".

    ``facts`` is ``None`` for a subject nobody has recorded: it is judged as a
    subject with no events. ``suppressions`` are the active entries found for
    any of the subject's identifiers; this function checks scope and channel.
    ``signups`` are the sign-ups for this purpose made with the person's address
    and not confirmed (expired ones are ignored here). ``registers`` are the
    tenant's opt-out registers with, for each, whether the subject is listed in
    its snapshot in force; this function picks those the purpose checks.
    """
    known = facts is not None
    facts = facts if facts is not None else Facts()
    return _decide(purpose, facts, kind, suppressions, channel, now, known, signups, registers)


def _decide(
    purpose: PurposeConfig,
    facts: Facts,
    kind: SubjectKind,
    suppressions: Sequence[SuppressionFact],
    channel: str,
    now: datetime,
    known: bool,
    signups: Sequence[SignupFact],
    registers: Sequence[RegisterFact],
) -> Decision:
    # R1: suppression list (nearly every recipient of a batch has no entry at all: nothing to sort).
    matching = (
        sorted((s for s in suppressions if entry_matches(s, purpose, channel)), key=lambda s: (s.created_at, s.id))
        if suppressions
        else []
    )
    blocking = [s for s in matching if s.reason != "register"]
    if blocking:
        return _deny("R1", "suppressed", REF_SUPPRESSED, [blocking[0].id], known)

    # R1: opt-out registers. A wash older than its validity (or none at all) allows nothing.
    needed = register_rules.needed(purpose, channel, registers)
    versions = tuple(
        RegisterVersion(name=r.name, version_date=r.version_date, snapshot_id=r.snapshot_id) for r in needed
    )
    stale = [r for r in needed if register_rules.is_stale(r.version_date, now)]
    if stale:
        denied = _deny("R1", "register_stale", REF_REGISTER_STALE, _snapshots(stale), known)
        return msgspec.structs.replace(denied, registers=versions)
    # A register that lists phone numbers says nothing of a person whose phone number nobody gave
    # (asked by email, the number kept in another system): no wash, no allow.
    unverifiable = [r for r in needed if not r.checkable]
    if unverifiable:
        denied = _deny("R1", "register_unverifiable", REF_REGISTER_UNVERIFIABLE, _snapshots(unverifiable), known)
        return msgspec.structs.replace(denied, registers=versions)
    listed = [r for r in needed if r.listed]
    # No allow outlives the wash it rests on.
    validity = min((register_rules.valid_until(r.version_date) for r in needed if r.version_date), default=None)

    if matching or listed:
        exception = RegisterException(purpose, facts, channel, now)
        if not exception.holds:
            evidence = [matching[0].id] if matching else _snapshots(listed)
            return msgspec.structs.replace(_deny("R1", "suppressed", REF_REGISTER, evidence, known), registers=versions)
        answer = _decide_after_suppressions(purpose, facts, kind, suppressions, channel, now, known, signups)
        if not answer.allowed:
            return msgspec.structs.replace(answer, registers=versions)
        evidence = list(answer.evidence) + [i for i in exception.evidence if i not in answer.evidence]
        return msgspec.structs.replace(
            answer,
            expires_at=_earliest(_earliest(answer.expires_at, exception.until), validity),
            evidence=tuple(evidence),
            registers=versions,
        )
    answer = _decide_after_suppressions(purpose, facts, kind, suppressions, channel, now, known, signups)
    if not needed:
        return answer
    if answer.allowed:
        return msgspec.structs.replace(answer, expires_at=_earliest(answer.expires_at, validity), registers=versions)
    return msgspec.structs.replace(answer, registers=versions)


def _snapshots(registers: Sequence[RegisterFact]) -> list[UUID]:
    return [r.snapshot_id for r in registers if r.snapshot_id is not None]


def _decide_after_suppressions(
    purpose: PurposeConfig,
    facts: Facts,
    kind: SubjectKind,
    suppressions: Sequence[SuppressionFact],
    channel: str,
    now: datetime,
    known: bool,
    signups: Sequence[SignupFact],
) -> Decision:
    consent = ConsentJudgement(purpose, facts, channel, now)

    # R2: an objection to direct marketing holds unless a later consent is still valid.
    if purpose.direct_marketing:
        objection = objection_of(purpose, facts, channel)
        if objection is not None and not (consent.valid and is_after(consent.ref, objection)):
            return _deny("R2", "objected", REF_OBJECTED, [objection.id], known)

    # R3: restriction of processing (Art 18), or an erasure of any of the identifiers (an
    # erasure entry covers every purpose and channel, so R1 has normally answered already).
    if is_after(facts.restriction_started, facts.restriction_lifted):
        assert facts.restriction_started is not None
        return _deny("R3", "restricted", REF_RESTRICTED, [facts.restriction_started.id], known)
    erased = sorted((s for s in suppressions if s.reason == "erasure"), key=lambda s: (s.created_at, s.id))
    if erased:
        return _deny("R3", "restricted", REF_RESTRICTED, [erased[0].id], known)

    # R4: withdrawal later than the latest consent.
    if purpose.legal_basis == "consent" or purpose.direct_marketing:
        withdrawal = withdrawal_of(purpose, facts, channel)
        if withdrawal is not None and not is_after(consent.ref, withdrawal):
            return _deny("R4", "withdrawn", REF_WITHDRAWN, [withdrawal.id], known)

    # R5: the purpose's channels, and a configuration the law rules out.
    if channel not in purpose.channels:
        return _deny("R5", "channel_not_allowed", REF_CHANNEL, [], known)
    if purpose.direct_marketing and purpose.legal_basis in ("contract", "legal_obligation"):
        return _deny("R5", "purpose_not_lawful", REF_NOT_LAWFUL, [], known)

    # R6: ePrivacy 13 for email and sms marketing to natural persons.
    if (
        purpose.direct_marketing
        and channel in ELECTRONIC_CHANNELS
        and kind in NATURAL_PERSONS
        and purpose.legal_basis != "consent"
    ):
        if consent.valid:
            return _allow(
                "R6", "consent_active", "consent", REF_CONSENT_EPRIVACY, consent.expires_at, _ids(consent.ref),
                known, OBLIGATIONS_ELECTRONIC,
            )  # fmt: skip
        relationship = Relationship(facts)
        if (
            purpose.soft_opt_in
            and facts.purchase is not None
            and decline_in_force(facts) is None
            and relationship.within(now, purpose.customer_after_end_days)
        ):
            return _allow(
                "R6", "soft_opt_in", "legitimate_interest", REF_SOFT_OPT_IN,
                relationship.end_plus(purpose.customer_after_end_days), relationship.evidence, known,
                OBLIGATIONS_ELECTRONIC,
            )  # fmt: skip
        return _deny("R6", "no_eprivacy_consent", REF_NO_EPRIVACY, [], known)

    basis = purpose.legal_basis
    if basis == "consent":
        # R7.
        if consent.valid:
            return _allow(
                "R7", "consent_active", "consent", consent_reference(purpose, channel, kind),
                consent.expires_at, _ids(consent.ref), known, obligations_of(purpose, channel),
            )  # fmt: skip
        waiting = pending_signup(signups, channel, now)
        if waiting is not None:
            return _deny("R7", "confirmation_pending", REF_CONFIRMATION, [*_ids(consent.ref), waiting.id], known)
        reference = REF_RECONSENT if consent.reason == "reconsent_required" else REF_CONSENT
        return _deny("R7", consent.reason, reference, _ids(consent.ref), known)
    if basis == "legitimate_interest":
        return _decide_legitimate_interest(purpose, facts, channel, now, known, consent)
    if basis == "contract":
        relationship = Relationship(facts)
        # A contract or a legal obligation is never direct marketing here (R5): nothing to carry.
        if relationship.active:
            return _allow("R9", "contract_active", "contract", REF_CONTRACT, None, relationship.evidence, known, ())
        return _deny("R9", "no_contract", REF_CONTRACT, relationship.evidence, known)
    return _allow("R10", "legal_obligation", "legal_obligation", REF_LEGAL_OBLIGATION, None, [], known, ())


def relationship_events(facts: Facts) -> tuple[Ref | None, ...]:
    """The events that make a relationship for legitimate interest."""
    return (facts.customer_started, facts.customer_ended, facts.purchase, facts.event_attended, facts.lead_activity)


def decline_in_force(facts: Facts) -> Ref | None:
    """A prospect's decline later than every relationship event, if there is one."""
    declined = facts.prospect_declined
    if declined is not None and all(is_after(declined, ref) for ref in relationship_events(facts)):
        return declined
    return None


def li_windows(purpose: PurposeConfig, facts: Facts) -> list[tuple[str, datetime | None, list[UUID]]]:
    """R8's relationship bases: (reason, end or None while active, evidence), whether open or closed."""
    relationship = Relationship(facts)
    windows: list[tuple[str, datetime | None, list[UUID]]] = []
    if relationship.active:
        windows.append(("li_customer", None, relationship.evidence))
    elif relationship.ended is not None:
        windows.append(("li_customer", relationship.end_plus(purpose.customer_after_end_days), relationship.evidence))
    if facts.event_attended is not None:
        windows.append(
            ("li_event", facts.event_attended.at + timedelta(days=purpose.event_days), [facts.event_attended.id])
        )
    if facts.lead_activity is not None:
        windows.append(
            ("li_lead", facts.lead_activity.at + timedelta(days=purpose.lead_inactivity_days), [facts.lead_activity.id])
        )
    return windows


def _decide_legitimate_interest(
    purpose: PurposeConfig,
    facts: Facts,
    channel: str,
    now: datetime,
    known: bool,
    consent: ConsentJudgement,
) -> Decision:
    obligations = obligations_of(purpose, channel)
    if consent.valid:
        # Email and sms marketing to a natural person was answered by R6: no ePrivacy reference here.
        return _allow(
            "R8", "consent_active", "consent", REF_CONSENT, consent.expires_at, _ids(consent.ref), known, obligations
        )
    declined = decline_in_force(facts)
    if declined is not None:
        return _deny("R8", "prospect_declined", REF_LI, [declined.id], known)
    windows = li_windows(purpose, facts)
    open_windows = [w for w in windows if w[1] is None or now < w[1]]
    if open_windows:
        # The latest-expiring basis wins; "no expiry" beats every date.
        reason, expires, evidence = max(open_windows, key=lambda c: c[1] or _FOREVER)
        return _allow("R8", reason, "legitimate_interest", REF_LI, expires, evidence, known, obligations)
    evidence = _ids(*relationship_events(facts))
    return _deny("R8", "li_window_expired" if windows else "no_relationship", REF_LI, evidence, known)


REASONS = (
    "suppressed",
    "register_stale",
    "register_unverifiable",
    "objected",
    "restricted",
    "withdrawn",
    "channel_not_allowed",
    "purpose_not_lawful",
    "no_eprivacy_consent",
    "soft_opt_in",
    "consent_active",
    "no_consent",
    "consent_expired",
    "reconsent_required",
    "confirmation_pending",
    "prospect_declined",
    "li_customer",
    "li_event",
    "li_lead",
    "li_window_expired",
    "no_relationship",
    "contract_active",
    "no_contract",
    "legal_obligation",
)
