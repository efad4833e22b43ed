"""Retention (gallring): when has a person had no basis, for every purpose, for long enough?

decision-rules.md, "Retention (gallring)". A person is kept while any purpose
allows contacting them on any of its channels (the decision rules, asked per
channel, with the suppression list left out: an entry blocks contact, it is
not a basis). Otherwise, per purpose and channel, the basis lapsed at an
instant the facts give, and the purpose's lapse is the latest of its channels:

* a consent stopped counting at the first of its expiry (given + ttl), the
  re-consent deadline when it names a notice from before a material change, a
  later withdrawal, and, for direct marketing, a later objection;
* legitimate interest (and soft opt-in) ended when the last relationship
  window closed, or at a prospect's decline after every relationship event;
  for email and sms marketing to a natural person only soft opt-in counts;
* a contract ended when the customer relationship did;
* for direct marketing, an objection or a withdrawal still in force ends any
  basis no later than the instant it was made;
* never a basis at all: the person's last activity (their latest event).

A ``legal_obligation`` purpose keeps only people with a relationship it
covers (a purchase or customer relationship): while it is active, and for
``retention_days`` after it ended. It does not keep prospects, leads or event
contacts. A person under an active restriction (Art 18) is never swept.

A person may be swept when every purpose's basis lapsed more than that
purpose's ``retention_days`` ago. The answer names, per purpose, the reason of
the current decision, so a dry run can count per purpose and rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from consent_svc.domain.facts import ALL, SINGLE_SLOTS, Facts, covering
from consent_svc.domain.models import PurposeConfig, Ref, SubjectKind, is_after
from consent_svc.domain.rules import (
    ELECTRONIC_CHANNELS,
    NATURAL_PERSONS,
    Relationship,
    consents_of,
    decide,
    decline_in_force,
    li_windows,
    objection_of,
    withdrawal_of,
)


@dataclass(frozen=True, slots=True)
class Lapse:
    purpose: str
    reason: str  # the reason of the current (deny) decision on the purpose's first channel
    lapsed_at: datetime
    delete_after: datetime


def _refs(facts: Facts) -> list[Ref]:
    refs: list[Ref] = []
    for per_purpose in (facts.given, facts.withdrawn, facts.objected):
        for slots in per_purpose.values():
            refs.extend(slots.values())
    for name in SINGLE_SLOTS:
        ref = getattr(facts, name)
        if ref is not None:
            refs.append(ref)
    return refs


def last_activity(facts: Facts) -> datetime | None:
    refs = _refs(facts)
    return max(r.at for r in refs) if refs else None


def restricted(facts: Facts) -> bool:
    return is_after(facts.restriction_started, facts.restriction_lifted)


def consent_end(purpose: PurposeConfig, facts: Facts, channel: str) -> datetime | None:
    """When the latest consent covering ``channel`` stopped counting: the first of its
    expiry, the re-consent deadline (old notice only), and a later withdrawal or (direct
    marketing only) objection. None: there is no consent, or it never stops by itself."""
    consent = covering(consents_of(purpose, facts), channel)
    if consent is None:
        return None
    ends: list[datetime] = []
    if purpose.consent_ttl_days is not None:
        ends.append(consent.at + timedelta(days=purpose.consent_ttl_days))
    deadline = purpose.notice_deadline(consent.nv)
    if deadline is not None:
        ends.append(deadline)
    blockers = [withdrawal_of(purpose, facts, channel)]
    if purpose.direct_marketing:
        blockers.append(objection_of(purpose, facts, channel))
    ends.extend(ref.at for ref in blockers if ref is not None and is_after(ref, consent))
    return min(ends) if ends else None


def relationship_end(purpose: PurposeConfig, facts: Facts, kind: SubjectKind, channel: str) -> datetime | None:
    """When the last relationship basis of this purpose closed on ``channel`` (None: it never had one)."""
    if purpose.legal_basis == "contract":
        relationship = Relationship(facts)
        ended = facts.customer_ended
        started = facts.customer_started
        return ended.at if ended is not None and started is not None and not relationship.active else None
    if purpose.legal_basis != "legitimate_interest":
        return None
    declined = decline_in_force(facts)
    if purpose.direct_marketing and channel in ELECTRONIC_CHANNELS and kind in NATURAL_PERSONS:
        # R6: only soft opt-in can have been a basis here.
        if not purpose.soft_opt_in or facts.purchase is None:
            return None
        if declined is not None:
            return declined.at
        return Relationship(facts).end_plus(purpose.customer_after_end_days)
    if declined is not None:
        return declined.at
    ends = [end for _, end, _ in li_windows(purpose, facts) if end is not None]
    return max(ends) if ends else None


def lapsed_at(purpose: PurposeConfig, facts: Facts, kind: SubjectKind, channel: str, fallback: datetime) -> datetime:
    """The latest moment a basis held on ``channel`` (conservative: never earlier than it really was)."""
    ends = [e for e in (consent_end(purpose, facts, channel), relationship_end(purpose, facts, kind, channel)) if e]
    end = max(ends) if ends else fallback
    if purpose.direct_marketing:
        # An objection (GDPR 21(3)) or a withdrawal still in force ends direct marketing on any basis.
        consent = covering(consents_of(purpose, facts), channel)
        for blocker in (objection_of(purpose, facts, channel), withdrawal_of(purpose, facts, channel)):
            if blocker is not None and not is_after(consent, blocker):
                end = min(end, blocker.at)
    return end


def lapses(purposes: Sequence[PurposeConfig], facts: Facts, kind: SubjectKind, now: datetime) -> list[Lapse] | None:
    """Per purpose, when the basis lapsed and when the data may go; None while the person
    is kept (any purpose still has a basis on any channel, or processing is restricted)."""
    fallback = last_activity(facts)
    if fallback is None or restricted(facts):
        return None
    out: list[Lapse] = []
    for configured in purposes:
        # Opt-out registers say whom not to contact now, not whether the data may be kept: a
        # basis is judged without them (a stale wash must never sweep a customer).
        purpose = msgspec.structs.replace(configured, registers=())
        retention = timedelta(days=purpose.retention_days)
        if purpose.legal_basis == "legal_obligation":
            relationship = Relationship(facts)
            if relationship.active:
                return None
            if relationship.ended is not None:
                at = min(relationship.ended.at, now)
                out.append(Lapse(purpose.key, "legal_obligation", at, at + retention))
            continue  # no relationship: this purpose holds nothing for the person
        answers = [decide(purpose, facts, kind, [], channel, now) for channel in purpose.channels]
        if any(answer.allowed for answer in answers):
            return None
        at = min(max(lapsed_at(purpose, facts, kind, channel, fallback) for channel in purpose.channels), now)
        out.append(Lapse(purpose.key, answers[0].reason, at, at + retention))
    return out


def sweepable(purposes: Sequence[PurposeConfig], facts: Facts, kind: SubjectKind, now: datetime) -> list[Lapse] | None:
    """The lapses when every purpose's retention has run out (the person may be swept), else None."""
    found = lapses(purposes, facts, kind, now)
    if not found:
        # Kept, or no purpose says for how long (a tenant without purposes sweeps nobody).
        return None
    if any(now <= lapse.delete_after for lapse in found):
        return None
    return found


@dataclass(frozen=True, slots=True)
class KeptEntry:
    """A suppression entry the sweep keeps (as keyed hashes) before removing a person."""

    reason: str
    scope: str  # "all" or a purpose key
    channel: str | None


def objection_entries(purposes: Sequence[PurposeConfig], facts: Facts) -> list[KeptEntry]:
    """decision-rules.md, "Retention": a person who objected keeps ``objection`` entries with
    the scope and channels of each objection, so a later import cannot make them contactable.
    Only objections R2 honours: to all direct marketing, or to a direct-marketing purpose."""
    marketing = {p.key for p in purposes if p.direct_marketing}
    kept: list[KeptEntry] = []
    for key, per_channel in sorted(facts.objected.items()):
        if key != ALL and key not in marketing:
            continue
        for channel in sorted(per_channel):
            kept.append(KeptEntry("objection", "all" if key == ALL else key, None if channel == ALL else channel))
    return kept
