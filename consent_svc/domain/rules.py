"""The decision table of decision-rules.md: "may we contact X for purpose Y over channel Z?".

A pure function of (purpose configuration, subject facts, suppression
entries, channel, now). Rules are tried in order; the first that answers wins.

    R1  suppressed            an active suppression entry matches
    R2  objected              objection to direct marketing, not followed by consent
    R3  restricted            Art 18 restriction active (or the subject was erased)
    R4  withdrawn             latest withdrawal later than latest consent
    R5  channel_not_allowed   the purpose does not use this channel
    R6  ePrivacy gate         email/sms marketing to a natural person needs consent
                              or soft opt-in (consent-based purposes go to R7)
    R7  consent               the latest consent covering the channel is valid
    R8  legitimate interest   a relationship within its window
    R9  contract              an active customer relationship
    R10 legal obligation      always

Clarifications of the table (docs/decision-rules.md explains them):

* Consents, withdrawals and objections are compared per channel: a consent
  names the channels it covers (none named: all of them), and only a consent
  covering the asked channel can outweigh a withdrawal or objection.
* R4 applies to purposes based on consent or used for direct marketing; a
  withdrawal of consent cannot switch off a contract or a legal obligation.
* The customer relationship is active while the latest ``customer_started``
  is later than the latest ``customer_ended``; otherwise it ended at the later
  of ``customer_ended`` and the latest ``purchase`` (a one-off purchase is a
  relationship that ended on the day of the purchase).
* ``reconsent_required_before`` in the future is a deadline: earlier consents
  still count until that instant, and the answer expires then.
* An allow expires at a computed instant ``t``: it holds while ``now < t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from consent_svc.domain.facts import ALL, Facts, covering
from consent_svc.domain.models import (
    Decision,
    LegalBasis,
    PurposeConfig,
    Ref,
    SubjectKind,
    SuppressionFact,
    is_after,
    later,
)

REGISTER_CUSTOMER_DAYS = 365

REF_CONSENT = "GDPR 6(1)(a), 7(1)"
REF_CONSENT_EPRIVACY = "GDPR 6(1)(a), 7(1); ePrivacy 13(1), MFL 19 §"
REF_SOFT_OPT_IN = "ePrivacy 13(2), MFL 19 § 2 st."
REF_LI = "GDPR 6(1)(f), recital 47"
REF_CONTRACT = "GDPR 6(1)(b)"
REF_LEGAL_OBLIGATION = "GDPR 6(1)(c)"
REF_SUPPRESSED = "GDPR 21(3), 7(3): suppression list (spärrlista)"
REF_REGISTER = "MFL 21 §: opt-out register (NIX)"
REF_OBJECTED = "GDPR 21(2)-(3)"
REF_RESTRICTED = "GDPR 18"
REF_WITHDRAWN = "GDPR 7(3)"
REF_CHANNEL = "GDPR 5(1)(b): purpose limitation"
REF_NO_EPRIVACY = "ePrivacy 13(1), MFL 19 §"
REF_RECONSENT = "GDPR 7(1); EDPB Guidelines 05/2020"

OBLIGATIONS_ELECTRONIC = ("unsubscribe_link", "identify_sender", "objection_notice")
OBLIGATIONS_OTHER_MARKETING = ("identify_sender", "objection_notice")


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


def _allow(
    purpose: PurposeConfig,
    channel: str,
    rule: str,
    reason: str,
    basis: LegalBasis,
    reference: str,
    expires_at: datetime | None,
    evidence: Sequence[UUID],
    known: bool,
) -> Decision:
    obligations: tuple[str, ...]
    if purpose.direct_marketing:
        obligations = OBLIGATIONS_ELECTRONIC if channel in ("email", "sms") else OBLIGATIONS_OTHER_MARKETING
    else:
        obligations = ()
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


class _Relationship:
    """The customer relationship as the rules see it (see module docstring)."""

    __slots__ = ("active", "ended", "evidence")

    def __init__(self, facts: Facts) -> None:
        started, ended, purchase = facts.customer_started, facts.customer_ended, facts.purchase
        self.active = started is not None and is_after(started, ended)
        self.ended: Ref | None = None if self.active else later(ended, purchase)
        self.evidence = _ids(started, ended, purchase)

    def within(self, now: datetime, days: int) -> bool:
        """Active, or ended less than ``days`` ago."""
        if self.active:
            return True
        return self.ended is not None and now < self.ended.at + timedelta(days=days)


class _ConsentJudgement:
    """R7's judgement of the latest consent covering the channel."""

    __slots__ = ("expires_at", "reason", "ref", "valid")

    def __init__(self, purpose: PurposeConfig, facts: Facts, channel: str, now: datetime) -> None:
        ref = covering(facts.given.get(purpose.key), channel)
        self.ref = ref
        self.valid = False
        self.expires_at: datetime | None = None
        if ref is None:
            self.reason = "no_consent"
            return
        deadline = purpose.reconsent_required_before
        if deadline is not None and ref.at < deadline and now >= deadline:
            self.reason = "reconsent_required"
            return
        expires: datetime | None = None
        if purpose.consent_ttl_days is not None:
            expires = ref.at + timedelta(days=purpose.consent_ttl_days)
            if now >= expires:
                self.reason = "consent_expired"
                return
        if deadline is not None and ref.at < deadline and (expires is None or deadline < expires):
            expires = deadline
        self.valid = True
        self.reason = "consent_active"
        self.expires_at = expires


def _active_register_exception(purpose: PurposeConfig, facts: Facts, channel: str, now: datetime) -> bool:
    """R1: a register (NIX) entry does not block an express consent or a recent customer."""
    consent = _ConsentJudgement(purpose, facts, channel, now)
    if consent.valid and not is_after(_withdrawal(purpose, facts, channel), consent.ref):
        return True
    return _Relationship(facts).within(now, REGISTER_CUSTOMER_DAYS)


def _withdrawal(purpose: PurposeConfig, facts: Facts, channel: str) -> Ref | None:
    return later(
        covering(facts.withdrawn.get(purpose.key), channel),
        covering(facts.withdrawn.get(ALL), channel),
    )


def decide(
    purpose: PurposeConfig,
    facts: Facts | None,
    kind: SubjectKind,
    suppressions: Sequence[SuppressionFact],
    channel: str,
    now: datetime,
) -> Decision:
    """Answer "may we contact this subject for ``purpose`` over ``channel`` at ``now``?".

    ``facts`` is ``None`` for a subject nobody has recorded: it is judged as a
    subject with no events. ``suppressions`` are the active entries found for
    any of the subject's identifiers; this function checks scope and channel.
    """
    known = facts is not None
    facts = facts if facts is not None else Facts()

    # R1: suppression list.
    matching = sorted(
        (s for s in suppressions if s.scope in ("all", purpose.key) and (s.channel is None or s.channel == channel)),
        key=lambda s: (s.created_at, s.id),
    )
    if matching:
        blocking = [s for s in matching if s.reason != "register"]
        if blocking:
            return _deny("R1", "suppressed", REF_SUPPRESSED, [blocking[0].id], known)
        if not _active_register_exception(purpose, facts, channel, now):
            return _deny("R1", "suppressed", REF_REGISTER, [matching[0].id], known)

    consent_ref = covering(facts.given.get(purpose.key), channel)

    # R2: objection to direct marketing is absolute until a later consent.
    if purpose.direct_marketing:
        objection = later(facts.objection.get(purpose.key), facts.objection.get(ALL))
        if objection is not None and not is_after(consent_ref, objection):
            return _deny("R2", "objected", REF_OBJECTED, [objection.id], known)

    # R3: restriction of processing (Art 18).
    if is_after(facts.restriction_started, facts.restriction_lifted):
        assert facts.restriction_started is not None
        return _deny("R3", "restricted", REF_RESTRICTED, [facts.restriction_started.id], known)

    # R4: withdrawal later than the latest consent.
    if purpose.legal_basis == "consent" or purpose.direct_marketing:
        withdrawal = _withdrawal(purpose, facts, channel)
        if withdrawal is not None and not is_after(consent_ref, withdrawal):
            return _deny("R4", "withdrawn", REF_WITHDRAWN, [withdrawal.id], known)

    # R5: the purpose's channels.
    if channel not in purpose.channels:
        return _deny("R5", "channel_not_allowed", REF_CHANNEL, [], known)

    # R6: ePrivacy 13 for email and sms marketing to natural persons.
    if (
        purpose.direct_marketing
        and channel in ("email", "sms")
        and kind in ("consumer", "sole_trader")
        and purpose.legal_basis != "consent"
    ):
        consent = _ConsentJudgement(purpose, facts, channel, now)
        if consent.valid:
            assert consent.ref is not None
            return _allow(
                purpose, channel, "R7", "consent_active", "consent", REF_CONSENT_EPRIVACY,
                consent.expires_at, [consent.ref.id], known,
            )  # fmt: skip
        relationship = _Relationship(facts)
        if (
            purpose.soft_opt_in
            and facts.purchase is not None
            and relationship.within(now, purpose.customer_after_end_days)
        ):
            expires = (
                None
                if relationship.active or relationship.ended is None
                else relationship.ended.at + timedelta(days=purpose.customer_after_end_days)
            )
            return _allow(
                purpose, channel, "R6", "soft_opt_in", "legitimate_interest", REF_SOFT_OPT_IN,
                expires, relationship.evidence, known,
            )  # fmt: skip
        return _deny("R6", "no_eprivacy_consent", REF_NO_EPRIVACY, [], known)

    basis = purpose.legal_basis
    if basis == "consent":
        return _decide_consent(purpose, facts, channel, kind, now, known)
    if basis == "legitimate_interest":
        return _decide_legitimate_interest(purpose, facts, channel, now, known)
    if basis == "contract":
        relationship = _Relationship(facts)
        if relationship.active:
            return _allow(
                purpose, channel, "R9", "contract_active", "contract", REF_CONTRACT,
                None, relationship.evidence, known,
            )  # fmt: skip
        return _deny("R9", "no_contract", REF_CONTRACT, relationship.evidence, known)
    return _allow(
        purpose, channel, "R10", "legal_obligation", "legal_obligation", REF_LEGAL_OBLIGATION,
        None, [], known,
    )  # fmt: skip


def _decide_consent(
    purpose: PurposeConfig,
    facts: Facts,
    channel: str,
    kind: SubjectKind,
    now: datetime,
    known: bool,
) -> Decision:
    consent = _ConsentJudgement(purpose, facts, channel, now)
    evidence = _ids(consent.ref)
    electronic_marketing = purpose.direct_marketing and channel in ("email", "sms") and kind != "business_contact"
    if consent.valid:
        reference = REF_CONSENT_EPRIVACY if electronic_marketing else REF_CONSENT
        return _allow(
            purpose, channel, "R7", "consent_active", "consent", reference,
            consent.expires_at, evidence, known,
        )  # fmt: skip
    reference = REF_RECONSENT if consent.reason == "reconsent_required" else REF_CONSENT
    return _deny("R7", consent.reason, reference, evidence, known)


def relationship_events(facts: Facts) -> tuple[Ref | None, ...]:
    """The events that make a relationship for legitimate interest."""
    return (facts.customer_started, facts.customer_ended, facts.purchase, facts.event_attended, facts.lead_activity)


def decline_in_force(facts: Facts) -> Ref | None:
    """A prospect's decline later than every relationship event, if there is one."""
    declined = facts.prospect_declined
    if declined is not None and all(is_after(declined, ref) for ref in relationship_events(facts)):
        return declined
    return None


def _decide_legitimate_interest(
    purpose: PurposeConfig, facts: Facts, channel: str, now: datetime, known: bool
) -> Decision:
    relationship = _Relationship(facts)
    relationship_events_ = relationship_events(facts)
    declined = decline_in_force(facts)
    if declined is not None:
        return _deny("R8", "prospect_declined", REF_LI, [declined.id], known)

    # Candidates: (reason, expires_at or None for "while active", evidence).
    candidates: list[tuple[str, datetime | None, list[UUID]]] = []
    if relationship.active:
        candidates.append(("li_customer", None, relationship.evidence))
    elif relationship.ended is not None:
        until = relationship.ended.at + timedelta(days=purpose.customer_after_end_days)
        if now < until:
            candidates.append(("li_customer", until, relationship.evidence))
    if facts.event_attended is not None:
        until = facts.event_attended.at + timedelta(days=purpose.event_days)
        if now < until:
            candidates.append(("li_event", until, [facts.event_attended.id]))
    if facts.lead_activity is not None:
        until = facts.lead_activity.at + timedelta(days=purpose.lead_inactivity_days)
        if now < until:
            candidates.append(("li_lead", until, [facts.lead_activity.id]))

    if candidates:
        # The latest-expiring basis wins; "no expiry" beats every date.
        reason, expires, evidence = max(
            candidates,
            key=lambda c: (c[1] is None, c[1] or datetime.min.replace(tzinfo=now.tzinfo)),
        )
        return _allow(purpose, channel, "R8", reason, "legitimate_interest", REF_LI, expires, evidence, known)
    had_any = any(ref is not None for ref in relationship_events_)
    evidence = _ids(*relationship_events_)
    return _deny("R8", "li_window_expired" if had_any else "no_relationship", REF_LI, evidence, known)


REASONS = (
    "suppressed",
    "objected",
    "restricted",
    "withdrawn",
    "channel_not_allowed",
    "no_eprivacy_consent",
    "soft_opt_in",
    "consent_active",
    "no_consent",
    "consent_expired",
    "reconsent_required",
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
