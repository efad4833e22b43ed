"""Retention windows (gallring), one day either side, from the seed policies' examples,
and the retention rules of decision-rules.md v2 (rows marked "v2:" failed before)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.retention import (
    KeptEntry,
    Lapse,
    consent_end,
    lapsed_at,
    lapses,
    objection_entries,
    relationship_end,
    sweepable,
)
from tests.domain.rules_helpers import NOW, SECOND, Ev, days, facts, given, purpose

LEADS = purpose(key="offers", legal_basis="legitimate_interest", retention_days=0, channels=("email", "post"))
NEWSLETTER = purpose(retention_days=180)
LI90 = purpose(key="offers", legal_basis="legitimate_interest", retention_days=90)
INVOICES = purpose(key="invoices", legal_basis="legal_obligation", direct_marketing=False, retention_days=2555)
SMS_ONLY = purpose(retention_days=0, channels=("email", "sms"))
SERVICE = purpose(key="service", direct_marketing=False, retention_days=30)


@pytest.mark.parametrize(
    ("name", "events", "purposes", "swept"),
    [
        ("leads deleted 24 months after last activity", [Ev("lead_activity", NOW - days(731))], [LEADS], True),
        ("... not before", [Ev("lead_activity", NOW - days(729))], [LEADS], False),
        ("prospects who decline kept 3 months",
         [Ev("lead_activity", NOW - days(200)), Ev("prospect_declined", NOW - days(91))], [LI90], True),
        ("... not before", [Ev("lead_activity", NOW - days(200)), Ev("prospect_declined", NOW - days(89))], [LI90], False),
        ("a withdrawn subscriber kept 180 days after the withdrawal",
         [given(NOW - days(400)), Ev("consent_withdrawn", NOW - days(181), "newsletter")], [NEWSLETTER], True),
        ("... not before", [given(NOW - days(400)), Ev("consent_withdrawn", NOW - days(179), "newsletter")],
         [NEWSLETTER], False),
        ("an expired consent lapsed at given + ttl", [given(NOW - days(730 + 181))], [NEWSLETTER], True),
        ("... not before", [given(NOW - days(730 + 179))], [NEWSLETTER], False),
        ("any purpose with a basis keeps the person",
         [given(NOW - days(10)), Ev("lead_activity", NOW - days(900))], [NEWSLETTER, LEADS], False),
        ("retention counts from the lapse (1 day before)",
         [Ev("lead_activity", NOW - days(759))], [purpose(key="o", legal_basis="legitimate_interest", retention_days=30)],
         False),
        ("retention counts from the lapse (1 day after)",
         [Ev("lead_activity", NOW - days(761))], [purpose(key="o", legal_basis="legitimate_interest", retention_days=30)],
         True),
        ("v2: a legal obligation does not keep leads",
         [Ev("lead_activity", NOW - days(900))], [LEADS, INVOICES], True),
        ("... whatever the order of the purposes", [Ev("lead_activity", NOW - days(900))], [INVOICES, LEADS], True),
        ("only a legal obligation, no relationship: no purpose says how long, kept",
         [Ev("lead_activity", NOW - days(900))], [INVOICES], False),
        ("a lead window ends exactly at its last instant", [Ev("lead_activity", NOW - days(730))],
         [purpose(key="o", legal_basis="legitimate_interest", retention_days=0, channels=("post",))], False),
        ("exactly at the end of the retention: kept", [Ev("lead_activity", NOW - days(760))],
         [purpose(key="o", legal_basis="legitimate_interest", retention_days=30)], False),
        ("v2: a legal obligation keeps a customer for its retention after the relationship",
         [Ev("purchase", NOW - days(2500))], [INVOICES], False),
        ("... and lets them go after it", [Ev("purchase", NOW - days(2556))], [INVOICES], True),
        ("... keeps an active customer", [Ev("customer_started", NOW - days(5000))], [INVOICES], False),
        ("v2: an sms-only consent keeps the person",
         [given(NOW - days(10), channels=("sms",))], [SMS_ONLY], False),
        ("v2: a restricted person is never swept",
         [Ev("lead_activity", NOW - days(2000)), Ev("restriction_started", NOW - days(1500))], [LEADS], False),
        ("... until the restriction is lifted",
         [Ev("lead_activity", NOW - days(2000)), Ev("restriction_started", NOW - days(1500)),
          Ev("restriction_lifted", NOW - days(1400))], [LEADS], True),
        ("a withdrawal ends direct marketing to an active customer",
         [Ev("customer_started", NOW - days(500)), Ev("consent_withdrawn", NOW - days(100))],
         [purpose(key="o", legal_basis="legitimate_interest", retention_days=90, channels=("post",))], True),
        ("... kept while the retention after it runs",
         [Ev("customer_started", NOW - days(500)), Ev("consent_withdrawn", NOW - days(80))],
         [purpose(key="o", legal_basis="legitimate_interest", retention_days=90, channels=("post",))], False),
        ("a never-used purpose lapses at the last activity", [Ev("lead_activity", NOW - days(31))], [SERVICE], True),
        ("... kept for its retention", [Ev("lead_activity", NOW - days(29))], [SERVICE], False),
    ],
)  # fmt: skip
def test_windows(name: str, events: list[Ev], purposes: list[PurposeConfig], swept: bool) -> None:
    result = sweepable(purposes, facts(*events), "business_contact", NOW)
    assert (result is not None) is swept, name
    if result is not None:
        assert all(lapse.delete_after < NOW for lapse in result)


def test_nobody_without_events_is_swept() -> None:
    assert lapses([NEWSLETTER], facts(), "consumer", NOW) is None


def test_a_lapse_names_purpose_reason_and_dates() -> None:
    withdrawn_at = NOW - days(181)
    found = sweepable(
        [NEWSLETTER],
        facts(given(NOW - days(400)), Ev("consent_withdrawn", withdrawn_at, "newsletter")),
        "consumer",
        NOW,
    )
    assert found == [Lapse("newsletter", "withdrawn", withdrawn_at, withdrawn_at + days(180))]


def test_a_legal_obligation_lapse_is_dated_at_the_relationship_end() -> None:
    bought = NOW - days(2556)
    assert lapses([INVOICES], facts(Ev("purchase", bought)), "consumer", NOW) == [
        Lapse("invoices", "legal_obligation", bought, bought + days(2555))
    ]


def test_a_lapse_is_never_dated_in_the_future() -> None:
    """A withdrawal ends direct marketing although the relationship window runs on."""
    p = purpose(key="o", legal_basis="legitimate_interest", retention_days=0, channels=("post",))
    f = facts(Ev("customer_started", NOW - days(500)), Ev("consent_withdrawn", NOW - days(3)))
    assert lapses([p], f, "consumer", NOW) == [Lapse("o", "withdrawn", NOW - days(3), NOW - days(3))]


@pytest.mark.parametrize(
    ("name", "p", "events", "channel", "expected"),
    [
        ("ttl", NEWSLETTER, [given(NOW - days(800))], "email", NOW - days(70)),
        ("no ttl, no end", purpose(consent_ttl_days=None), [given(NOW - days(800))], "email", None),
        ("no consent", NEWSLETTER, [], "email", None),
        ("a later withdrawal", NEWSLETTER, [given(NOW - days(50)), Ev("consent_withdrawn", NOW - days(20))], "email",
         NOW - days(20)),
        ("a later withdrawal for this channel", NEWSLETTER,
         [given(NOW - days(50)), Ev("consent_withdrawn", NOW - days(20), None, ("email",))], "email", NOW - days(20)),
        ("a later objection for this channel", NEWSLETTER,
         [given(NOW - days(50)), Ev("objection", NOW - days(20), "newsletter", ("email",))], "email", NOW - days(20)),
        ("an earlier withdrawal does not end it", purpose(consent_ttl_days=None),
         [Ev("consent_withdrawn", NOW - days(60)), given(NOW - days(50))], "email", None),
        ("a withdrawal for another channel does not end it", purpose(consent_ttl_days=None),
         [given(NOW - days(50)), Ev("consent_withdrawn", NOW - days(20), None, ("sms",))], "email", None),
        ("a later objection ends a marketing consent", NEWSLETTER, [given(NOW - days(50)), Ev("objection", NOW - days(20))],
         "email", NOW - days(20)),
        ("v2: a later objection does not end a service consent", purpose(direct_marketing=False, consent_ttl_days=None),
         [given(NOW - days(50)), Ev("objection", NOW - days(20))], "email", None),
        ("the re-consent deadline ends an old-notice consent",
         purpose(reconsent_required_before=NOW - days(5), notice_versions=("1", "2"), notice_deadlines={"1": NOW - days(5)}),
         [given(NOW - days(50), nv="1")], "email", NOW - days(5)),
        ("... not a new-notice one",
         purpose(reconsent_required_before=NOW - days(5), notice_versions=("1", "2"), notice_deadlines={"1": NOW - days(5)}),
         [given(NOW - days(50), nv="2")], "email", NOW - days(50) + days(730)),
        ("the first end wins", purpose(reconsent_required_before=NOW - days(5), notice_versions=("1", "2"), notice_deadlines={"1": NOW - days(5)},
                                       consent_ttl_days=10),
         [given(NOW - days(50), nv="1")], "email", NOW - days(40)),
    ],
)  # fmt: skip
def test_consent_end(name: str, p: PurposeConfig, events: list[Ev], channel: str, expected: datetime | None) -> None:
    assert consent_end(p, facts(*events), channel) == expected, name


LI_P = purpose(key="o", legal_basis="legitimate_interest")
SOFT_P = purpose(key="o", legal_basis="legitimate_interest", soft_opt_in=True)
CONTRACT_P = purpose(key="c", legal_basis="contract", direct_marketing=False)


@pytest.mark.parametrize(
    ("name", "p", "events", "kind", "channel", "expected"),
    [
        ("lead window", LI_P, [Ev("lead_activity", NOW - days(800))], "consumer", "post", NOW - days(70)),
        ("event window", LI_P, [Ev("event_attended", NOW - days(1200))], "consumer", "phone", NOW - days(105)),
        ("customer window", LI_P, [Ev("purchase", NOW - days(800))], "consumer", "post", NOW - days(70)),
        ("the latest window", LI_P, [Ev("purchase", NOW - days(800)), Ev("event_attended", NOW - days(1100))],
         "consumer", "post", NOW - days(5)),
        ("a decline in force", LI_P, [Ev("lead_activity", NOW - days(100)), Ev("prospect_declined", NOW - days(50))],
         "consumer", "post", NOW - days(50)),
        ("v2: email to a consumer: leads were never a basis", LI_P, [Ev("lead_activity", NOW - days(800))], "consumer",
         "email", None),
        ("... sms too", LI_P, [Ev("lead_activity", NOW - days(800))], "sole_trader", "sms", None),
        ("... but a business contact's were", LI_P, [Ev("lead_activity", NOW - days(800))], "business_contact",
         "email", NOW - days(70)),
        ("soft opt-in: the customer window", SOFT_P, [Ev("purchase", NOW - days(800))], "consumer", "email",
         NOW - days(70)),
        ("soft opt-in: a decline ends it", SOFT_P, [Ev("purchase", NOW - days(800)), Ev("prospect_declined", NOW - days(9))],
         "consumer", "email", NOW - days(9)),
        ("soft opt-in needs a purchase", SOFT_P, [Ev("customer_started", NOW - days(900)),
                                                 Ev("customer_ended", NOW - days(800))], "consumer", "email", None),
        ("a contract ends with the customer relationship", CONTRACT_P,
         [Ev("customer_started", NOW - days(900)), Ev("customer_ended", NOW - days(800))], "consumer", "email",
         NOW - days(800)),
        ("a purchase alone is no contract", CONTRACT_P, [Ev("purchase", NOW - days(900))], "consumer", "email", None),
        ("an end without a start is no contract", CONTRACT_P, [Ev("customer_ended", NOW - days(900))], "consumer",
         "email", None),
        ("consent purposes have no relationship end", NEWSLETTER, [Ev("purchase", NOW - days(900))], "consumer", "post",
         None),
    ],
)  # fmt: skip
def test_relationship_end(name: str, p: PurposeConfig, events: list[Ev], kind: Any, channel: str,
                          expected: datetime | None) -> None:  # fmt: skip
    assert relationship_end(p, facts(*events), kind, channel) == expected, name


def test_an_objection_in_force_cuts_the_basis_short() -> None:
    f = facts(Ev("customer_started", NOW - days(50)), Ev("objection", NOW - days(20)))
    assert lapsed_at(LI_P, f, "consumer", "post", NOW - days(1)) == NOW - days(20)


def test_a_consent_after_the_objection_dates_the_lapse_itself() -> None:
    f = facts(Ev("objection", NOW - days(60)), given(NOW - days(50)))
    p = purpose(consent_ttl_days=10)
    assert lapsed_at(p, f, "consumer", "email", NOW - days(1)) == NOW - days(40)


def test_without_any_basis_the_lapse_is_the_fallback() -> None:
    fallback = NOW - days(3)
    assert lapsed_at(NEWSLETTER, facts(Ev("lead_activity", NOW - days(9))), "consumer", "email", fallback) == fallback


def test_the_latest_channel_dates_a_purpose() -> None:
    """v2: retention is judged per channel; the purpose lapses with its last channel."""
    p = purpose(retention_days=0, channels=("email", "sms"), consent_ttl_days=100)
    f = facts(given(NOW - days(300), channels=("email",)), given(NOW - days(200), channels=("sms",)))
    assert lapses([p], f, "consumer", NOW) == [Lapse("newsletter", "consent_expired", NOW - days(100), NOW - days(100))]


def test_objection_entries_keep_scope_and_channels() -> None:
    marketing = purpose(key="newsletter")
    service = purpose(key="service", direct_marketing=False)
    f = facts(
        Ev("objection", NOW - days(9)),
        Ev("objection", NOW - days(8), "newsletter", ("phone", "sms")),
        Ev("objection", NOW - days(7), "service"),
        Ev("objection", NOW - days(6), "gone"),
    )
    assert objection_entries([marketing, service], f) == [
        KeptEntry("objection", "all", None),
        KeptEntry("objection", "newsletter", "phone"),
        KeptEntry("objection", "newsletter", "sms"),
    ]


def test_the_sweep_agrees_with_the_decisions_at_the_edge() -> None:
    """A person is kept exactly while some channel still allows; one second later the lapse begins."""
    p = purpose(retention_days=0, channels=("email", "sms"), consent_ttl_days=30)
    given_at = NOW - days(30)
    f = facts(given(given_at, channels=("sms",)))
    assert lapses([p], f, "consumer", given_at + days(30) - SECOND) is None
    assert lapses([p], f, "consumer", given_at + days(30)) == [
        Lapse("newsletter", "no_consent", given_at + days(30), given_at + days(30))
    ]


def test_a_consent_for_the_channel_after_the_objection_dates_the_lapse_itself() -> None:
    f = facts(Ev("objection", NOW - days(60)), given(NOW - days(50), channels=("email",)))
    p = purpose(consent_ttl_days=10)
    assert lapsed_at(p, f, "consumer", "email", NOW - days(1)) == NOW - days(40)


@pytest.mark.parametrize("blocker", ["objection", "consent_withdrawn"])
def test_a_blocker_for_the_channel_cuts_a_relationship_short(blocker: str) -> None:
    f = facts(Ev("customer_started", NOW - days(50)), Ev(blocker, NOW - days(20), None, ("post",)))
    assert lapsed_at(LI_P, f, "consumer", "post", NOW - days(1)) == NOW - days(20)


def test_an_objection_after_an_earlier_consent_cuts_the_window_short() -> None:
    f = facts(Ev("lead_activity", NOW - days(100)), given(NOW - days(50), "o"), Ev("objection", NOW - days(20)))
    assert lapsed_at(LI_P, f, "consumer", "post", NOW - days(1)) == NOW - days(20)


def test_leads_were_never_a_basis_for_emailing_a_consumer() -> None:
    """R6: the lapse of a consumer's email falls back to the last activity; a business contact's
    follows the lead window."""
    lead = Ev("lead_activity", NOW - days(800))
    email_only = purpose(key="o", legal_basis="legitimate_interest", channels=("email",), retention_days=0)
    assert lapsed_at(LI_P, facts(lead), "consumer", "email", NOW - days(1)) == NOW - days(1)
    assert lapsed_at(LI_P, facts(lead), "business_contact", "email", NOW - days(1)) == NOW - days(70)
    recent = Ev("lead_activity", NOW - days(100))
    assert lapses([email_only], facts(recent), "consumer", NOW) == [
        Lapse("o", "no_eprivacy_consent", NOW - days(100), NOW - days(100))
    ]
    assert lapses([email_only], facts(recent), "business_contact", NOW) is None
    assert sweepable([email_only], facts(recent), "consumer", NOW) is not None
    assert sweepable([email_only], facts(recent), "business_contact", NOW) is None


def test_a_stale_register_never_sweeps_a_customer() -> None:
    """Opt-out registers decide whom to contact now, not whether the data may be kept: a phone
    purpose whose NIX-Telefon wash is missing (every call denied register_stale) still holds
    its customers for retention."""
    phone = purpose(legal_basis="legitimate_interest", channels=("phone",), registers=None, retention_days=0)
    customer = facts(Ev("customer_started", NOW - days(10)))
    assert lapses([phone], customer, "consumer", NOW) is None
    assert sweepable([phone], customer, "consumer", NOW) is None
