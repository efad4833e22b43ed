"""The decision table, row by row: every rule, every reason code, every subject kind,
every channel, and one second either side of every expiry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from consent_svc.domain.facts import Facts
from consent_svc.domain.models import CHANNELS, SUBJECT_KINDS, PurposeConfig, SuppressionFact
from consent_svc.domain.rules import REASONS, decide
from tests.domain.rules_helpers import NOW, SECOND, Ev, days, facts, given, purpose, suppression

LI = {"legal_basis": "legitimate_interest"}
T0 = NOW - days(100)  # a reference instant in the past


@dataclass
class Case:
    name: str
    purpose: PurposeConfig
    events: list[Ev] = field(default_factory=list)
    allowed: bool = False
    reason: str = ""
    rule: str = ""
    kind: str = "consumer"
    channel: str = "email"
    now: datetime = NOW
    suppressions: list[SuppressionFact] = field(default_factory=list)
    expires_at: Any = "any"
    known: bool = True


customer_ended_at = NOW - days(730) + SECOND  # soft opt-in / li_customer window edge
CASES = [
    # R1 suppression
    Case("R1 suppressed, consent cannot override", purpose(), [given(T0)], False, "suppressed", "R1",
         suppressions=[suppression()]),
    Case("R1 purpose-scoped entry", purpose(), [given(T0)], False, "suppressed", "R1",
         suppressions=[suppression(scope="newsletter")]),
    Case("R1 other purpose's entry does not match", purpose(), [given(T0)], True, "consent_active", "R7",
         suppressions=[suppression(scope="events")]),
    Case("R1 channel-scoped entry on another channel", purpose(), [given(T0)], True, "consent_active", "R7",
         suppressions=[suppression(channel="sms")]),
    Case("R1 channel-scoped entry on this channel", purpose(), [given(T0)], False, "suppressed", "R1",
         suppressions=[suppression(channel="email")]),
    Case("R1 register entry skipped with active consent", purpose(), [given(T0)], True, "consent_active", "R7",
         suppressions=[suppression(reason="register")]),
    Case("R1 register entry skipped for a customer within 365 days", purpose(**LI),
         [Ev("purchase", NOW - days(364))], True, "li_customer", "R8", channel="phone",
         suppressions=[suppression(reason="register")]),
    Case("R1 register entry blocks a customer after 365 days", purpose(**LI),
         [Ev("purchase", NOW - days(366))], False, "suppressed", "R1", channel="phone",
         suppressions=[suppression(reason="register")]),
    Case("R1 register entry blocks an unknown person", purpose(**LI), [], False, "suppressed", "R1",
         channel="phone", suppressions=[suppression(reason="register")], known=False),
    # R2 objection
    Case("R2 objection to this purpose", purpose(**LI), [Ev("lead_activity", T0), Ev("objection", T0 + days(1), "newsletter")],
         False, "objected", "R2", kind="business_contact"),
    Case("R2 objection to all direct marketing", purpose(), [given(T0), Ev("objection", T0 + days(1))],
         False, "objected", "R2"),
    Case("R2 objection followed by a new consent", purpose(), [Ev("objection", T0), given(T0 + days(1))],
         True, "consent_active", "R7"),
    Case("R2 only for direct marketing", purpose(direct_marketing=False), [given(T0), Ev("objection", T0 + days(1))],
         True, "consent_active", "R7"),
    # R3 restriction
    Case("R3 active restriction", purpose(), [given(T0), Ev("restriction_started", T0 + days(1))],
         False, "restricted", "R3"),
    Case("R3 lifted restriction", purpose(),
         [given(T0), Ev("restriction_started", T0 + days(1)), Ev("restriction_lifted", T0 + days(2))],
         True, "consent_active", "R7"),
    # R4 withdrawal
    Case("R4 withdrawal after consent", purpose(), [given(T0), Ev("consent_withdrawn", T0 + days(1), "newsletter")],
         False, "withdrawn", "R4"),
    Case("R4 withdrawal of all purposes", purpose(), [given(T0), Ev("consent_withdrawn", T0 + days(1))],
         False, "withdrawn", "R4"),
    Case("R4 consent after withdrawal", purpose(), [Ev("consent_withdrawn", T0), given(T0 + days(1))],
         True, "consent_active", "R7"),
    Case("R4 an sms consent does not revive email", purpose(),
         [given(T0), Ev("consent_withdrawn", T0 + days(1)), given(T0 + days(2), channels=("sms",))],
         False, "withdrawn", "R4"),
    Case("R4 same instant: the later recorded wins (withdrawal)", purpose(),
         [given(T0), Ev("consent_withdrawn", T0, "newsletter")], False, "withdrawn", "R4"),
    Case("R4 same instant: the later recorded wins (consent)", purpose(),
         [Ev("consent_withdrawn", T0, "newsletter"), given(T0)], True, "consent_active", "R7"),
    Case("R4 does not switch off a contract", purpose(legal_basis="contract", direct_marketing=False),
         [Ev("customer_started", T0), Ev("consent_withdrawn", T0 + days(1))], True, "contract_active", "R9"),
    # R5 channels
    Case("R5 channel not in the purpose", purpose(channels=("email",)), [given(T0)], False,
         "channel_not_allowed", "R5", channel="sms"),
    # R6 ePrivacy gate
    Case("R6 consumer, LI newsletter, no consent", purpose(**LI), [Ev("lead_activity", T0)], False,
         "no_eprivacy_consent", "R6"),
    Case("R6 sole trader is a natural person too", purpose(**LI), [Ev("lead_activity", T0)], False,
         "no_eprivacy_consent", "R6", kind="sole_trader"),
    Case("R6 consumer with consent on an LI purpose", purpose(**LI), [given(T0)], True, "consent_active", "R7"),
    Case("R6 soft opt-in for a customer", purpose(**LI, soft_opt_in=True), [Ev("purchase", T0)], True,
         "soft_opt_in", "R6", expires_at=T0 + days(730)),
    Case("R6 soft opt-in while the relationship is active", purpose(**LI, soft_opt_in=True),
         [Ev("purchase", T0), Ev("customer_started", T0)], True, "soft_opt_in", "R6", expires_at=None),
    Case("R6 soft opt-in needs a purchase", purpose(**LI, soft_opt_in=True), [Ev("customer_started", T0)],
         False, "no_eprivacy_consent", "R6"),
    Case("R6 soft opt-in needs the purpose flag", purpose(**LI), [Ev("purchase", T0)], False,
         "no_eprivacy_consent", "R6"),
    Case("R6 soft opt-in window: 1 s before end", purpose(**LI, soft_opt_in=True),
         [Ev("purchase", NOW - days(730) + SECOND)], True, "soft_opt_in", "R6"),
    Case("R6 soft opt-in window: 1 s after end", purpose(**LI, soft_opt_in=True),
         [Ev("purchase", NOW - days(730) - SECOND)], False, "no_eprivacy_consent", "R6"),
    Case("R6 does not apply to phone", purpose(**LI), [Ev("lead_activity", T0)], True, "li_lead", "R8",
         channel="phone"),
    Case("R6 does not apply to business contacts", purpose(**LI), [Ev("lead_activity", T0)], True, "li_lead",
         "R8", kind="business_contact"),
    # R7 consent
    Case("R7 no consent", purpose(), [], False, "no_consent", "R7", known=False),
    Case("R7 consent for another channel only", purpose(), [given(T0, channels=("sms",))], False, "no_consent", "R7"),
    Case("R7 consent active", purpose(), [given(T0)], True, "consent_active", "R7", expires_at=T0 + days(730)),
    Case("R7 ttl: 1 s before expiry", purpose(), [given(NOW - days(730) + SECOND)], True, "consent_active", "R7",
         expires_at=NOW + SECOND),
    Case("R7 ttl: 1 s after expiry", purpose(), [given(NOW - days(730) - SECOND)], False, "consent_expired", "R7"),
    Case("R7 no ttl: no expiry", purpose(consent_ttl_days=None), [given(NOW - days(5000))], True,
         "consent_active", "R7", expires_at=None),
    Case("R7 reconsent: 1 s before the deadline", purpose(reconsent_required_before=NOW + SECOND),
         [given(NOW - days(10))], True, "consent_active", "R7", expires_at=NOW + SECOND),
    Case("R7 reconsent: 1 s after the deadline", purpose(reconsent_required_before=NOW - SECOND),
         [given(NOW - days(10))], False, "reconsent_required", "R7"),
    Case("R7 reconsent: a consent after the deadline counts", purpose(reconsent_required_before=NOW - days(5)),
         [given(NOW - days(10)), given(NOW - days(1))], True, "consent_active", "R7"),
    # R8 legitimate interest
    Case("R8 B2B contact on an LI newsletter", purpose(**LI), [Ev("lead_activity", T0)], True, "li_lead", "R8",
         kind="business_contact"),
    Case("R8 active customer", purpose(**LI), [Ev("customer_started", T0)], True, "li_customer", "R8",
         channel="post", expires_at=None),
    Case("R8 customer ended: 1 s before window end", purpose(**LI),
         [Ev("customer_started", T0 - days(2000)), Ev("customer_ended", customer_ended_at)], True, "li_customer",
         "R8", channel="post", expires_at=customer_ended_at + days(730)),
    Case("R8 customer ended: 1 s after window end", purpose(**LI),
         [Ev("customer_started", T0 - days(2000)), Ev("customer_ended", NOW - days(730) - SECOND)], False,
         "li_window_expired", "R8", channel="post"),
    Case("R8 event: 1 s before 36 months", purpose(**LI), [Ev("event_attended", NOW - days(1095) + SECOND)],
         True, "li_event", "R8", channel="post", expires_at=NOW + SECOND),
    Case("R8 event: 1 s after 36 months", purpose(**LI), [Ev("event_attended", NOW - days(1095) - SECOND)],
         False, "li_window_expired", "R8", channel="post"),
    Case("R8 lead: 1 s before inactivity window", purpose(**LI), [Ev("lead_activity", NOW - days(730) + SECOND)],
         True, "li_lead", "R8", channel="phone"),
    Case("R8 lead: 1 s after inactivity window", purpose(**LI), [Ev("lead_activity", NOW - days(730) - SECOND)],
         False, "li_window_expired", "R8", channel="phone"),
    Case("R8 latest-expiring basis wins", purpose(**LI),
         [Ev("lead_activity", NOW - days(700)), Ev("event_attended", NOW - days(10))], True, "li_event", "R8",
         channel="post", expires_at=NOW - days(10) + days(1095)),
    Case("R8 prospect declined after every relationship event", purpose(**LI),
         [Ev("lead_activity", T0), Ev("prospect_declined", T0 + days(1))], False, "prospect_declined", "R8",
         channel="phone"),
    Case("R8 new relationship after a decline", purpose(**LI),
         [Ev("prospect_declined", T0), Ev("event_attended", T0 + days(1))], True, "li_event", "R8", channel="phone"),
    Case("R8 no relationship", purpose(**LI), [], False, "no_relationship", "R8", channel="post", known=False),
    # R9 contract
    Case("R9 active contract", purpose(legal_basis="contract", direct_marketing=False), [Ev("customer_started", T0)],
         True, "contract_active", "R9", expires_at=None),
    Case("R9 ended contract", purpose(legal_basis="contract", direct_marketing=False),
         [Ev("customer_started", T0), Ev("customer_ended", T0 + days(1))], False, "no_contract", "R9"),
    # R10 legal obligation
    Case("R10 legal obligation", purpose(legal_basis="legal_obligation", direct_marketing=False), [], True,
         "legal_obligation", "R10", known=False, expires_at=None),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule_table(case: Case) -> None:
    f: Facts | None = facts(*case.events) if case.known else None
    answer = decide(case.purpose, f, case.kind, case.suppressions, case.channel, case.now)  # type: ignore[arg-type]
    assert (answer.allowed, answer.reason, answer.rule) == (case.allowed, case.reason, case.rule)
    if case.expires_at != "any":
        assert answer.expires_at == case.expires_at
    assert answer.subject_known is case.known
    if answer.allowed:
        assert answer.legal_basis is not None
        assert answer.expires_at is None or answer.expires_at > case.now
    else:
        assert answer.legal_basis is None
        assert answer.expires_at is None
        assert answer.obligations == ()
    assert answer.legal_reference


def test_every_reason_code_is_reached_by_the_table() -> None:
    assert {c.reason for c in CASES} == set(REASONS)


def test_every_rule_is_reached_by_the_table() -> None:
    assert {c.rule for c in CASES} == {f"R{i}" for i in range(1, 11)}


def test_every_kind_and_channel_is_covered() -> None:
    assert {c.kind for c in CASES} == set(SUBJECT_KINDS)
    assert {c.channel for c in CASES} == set(CHANNELS)


def test_evidence_names_the_deciding_records() -> None:
    consent = given(T0)
    entry = suppression()
    allowed = decide(purpose(), facts(consent), "consumer", [], "email", NOW)
    assert allowed.evidence == (consent.id,)
    denied = decide(purpose(), facts(consent), "consumer", [entry], "email", NOW)
    assert denied.evidence == (entry.id,)


@pytest.mark.parametrize(
    ("channel", "obligations"),
    [
        ("email", ("unsubscribe_link", "identify_sender", "objection_notice")),
        ("sms", ("unsubscribe_link", "identify_sender", "objection_notice")),
        ("phone", ("identify_sender", "objection_notice")),
    ],
)
def test_obligations_of_direct_marketing(channel: str, obligations: tuple[str, ...]) -> None:
    answer = decide(purpose(), facts(given(T0)), "consumer", [], channel, NOW)
    assert answer.obligations == obligations


def test_no_marketing_obligations_outside_direct_marketing() -> None:
    answer = decide(purpose(direct_marketing=False), facts(given(T0)), "consumer", [], "email", NOW)
    assert answer.allowed and answer.obligations == ()


def test_seed_policy_windows() -> None:
    """The source policies: customers up to 2 years after, event contacts up to 36 months."""
    li = purpose(**LI, soft_opt_in=True)
    bought = Ev("purchase", NOW - days(365 * 2) + days(1))
    assert decide(li, facts(bought), "consumer", [], "email", NOW).reason == "soft_opt_in"
    event = Ev("event_attended", NOW - days(30 * 35))
    assert decide(li, facts(event), "business_contact", [], "email", NOW).reason == "li_event"
