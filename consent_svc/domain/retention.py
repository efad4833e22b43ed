"""Retention (gallring): when has a person had no basis, for every purpose, for long enough?

For each purpose, the decision rules say whether there is a basis now. When
there is not, the basis lapsed at an instant the facts give:

* consent: the later of the latest withdrawal or objection, the consent's
  expiry (given + ttl) and the re-consent deadline it missed;
* legitimate interest: the end of the last relationship window (customer end
  + window, event + event_days, lead + lead_inactivity_days), or a prospect's
  decline;
* contract: the end of the customer relationship;
* never a basis at all: the person's last activity (their latest event).

A person may be swept when every purpose's basis lapsed more than that
purpose's ``retention_days`` ago. The answer names, per purpose, the reason of
the current decision, so a dry run can count per purpose and rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from consent_svc.domain.facts import ALL, Facts, covering
from consent_svc.domain.models import PurposeConfig, Ref, SubjectKind, is_after, later
from consent_svc.domain.rules import decide, decline_in_force


@dataclass(frozen=True, slots=True)
class Lapse:
    purpose: str
    reason: str  # the reason of the current (deny) decision
    lapsed_at: datetime
    delete_after: datetime


def _refs(facts: Facts) -> list[Ref]:
    refs: list[Ref] = []
    for per_purpose in (facts.given, facts.withdrawn):
        for slots in per_purpose.values():
            refs.extend(slots.values())
    refs.extend(facts.objection.values())
    for name in ("purchase", "customer_started", "customer_ended", "event_attended", "lead_activity",
                 "prospect_declined", "restriction_started", "restriction_lifted"):  # fmt: skip
        ref = getattr(facts, name)
        if ref is not None:
            refs.append(ref)
    return refs


def last_activity(facts: Facts) -> datetime | None:
    refs = _refs(facts)
    return max(r.at for r in refs) if refs else None


def _consent_end(purpose: PurposeConfig, facts: Facts) -> datetime | None:
    """When the latest consent stopped counting: the first of its expiry, its missed
    re-consent deadline, and a later withdrawal or objection. None: it never did."""
    channel = purpose.channels[0]
    consent = covering(facts.given.get(purpose.key), channel)
    if consent is None:
        return None
    ends: list[datetime] = []
    if purpose.consent_ttl_days is not None:
        ends.append(consent.at + timedelta(days=purpose.consent_ttl_days))
    deadline = purpose.reconsent_required_before
    if deadline is not None and consent.at < deadline:
        ends.append(deadline)
    withdrawal = later(covering(facts.withdrawn.get(purpose.key), channel), covering(facts.withdrawn.get(ALL), channel))
    objection = later(facts.objection.get(purpose.key), facts.objection.get(ALL))
    for ref in (withdrawal, objection):
        if is_after(ref, consent):
            assert ref is not None
            ends.append(ref.at)
    return min(ends) if ends else None


def _relationship_end(purpose: PurposeConfig, facts: Facts) -> datetime | None:
    """When the last legitimate-interest (or contract) window closed; a decline after every
    relationship event ends it at once."""
    declined = decline_in_force(facts)
    if declined is not None:
        return declined.at
    ends: list[datetime] = []
    if purpose.legal_basis == "contract":
        return facts.customer_ended.at if facts.customer_ended is not None else None
    window = timedelta(days=purpose.customer_after_end_days)
    for ref in (facts.customer_ended, facts.purchase):
        if ref is not None:
            ends.append(ref.at + window)
    if facts.event_attended is not None:
        ends.append(facts.event_attended.at + timedelta(days=purpose.event_days))
    if facts.lead_activity is not None:
        ends.append(facts.lead_activity.at + timedelta(days=purpose.lead_inactivity_days))
    return max(ends) if ends else None


def _lapsed_at(purpose: PurposeConfig, facts: Facts, fallback: datetime) -> datetime:
    """The latest moment a basis held (conservative: never earlier than it really was)."""
    ends = [_consent_end(purpose, facts)]
    if purpose.legal_basis in ("legitimate_interest", "contract"):
        ends.append(_relationship_end(purpose, facts))
    known = [e for e in ends if e is not None]
    end = max(known) if known else fallback
    if purpose.direct_marketing:
        # An objection ends direct marketing on any basis (GDPR 21(3)), unless consent came after it.
        objection = later(facts.objection.get(purpose.key), facts.objection.get(ALL))
        consent = covering(facts.given.get(purpose.key), purpose.channels[0])
        if objection is not None and not is_after(consent, objection):
            end = min(end, objection.at)
    return end


def lapses(purposes: Sequence[PurposeConfig], facts: Facts, kind: SubjectKind, now: datetime) -> list[Lapse] | None:
    """Per purpose, when the basis lapsed and when the data may go; None while any purpose
    still has a basis (the person is kept)."""
    fallback = last_activity(facts)
    if fallback is None:
        return None
    out: list[Lapse] = []
    for purpose in purposes:
        channel = purpose.channels[0]
        answer = decide(purpose, facts, kind, [], channel, now)
        if answer.allowed:
            return None
        at = min(_lapsed_at(purpose, facts, fallback), now)
        out.append(Lapse(purpose.key, answer.reason, at, at + timedelta(days=purpose.retention_days)))
    return out


def sweepable(purposes: Sequence[PurposeConfig], facts: Facts, kind: SubjectKind, now: datetime) -> list[Lapse] | None:
    """The lapses when every purpose's retention has run out (the person may be swept), else None."""
    found = lapses(purposes, facts, kind, now)
    if found is None or not found or any(now <= lapse.delete_after for lapse in found):
        return None
    return found
