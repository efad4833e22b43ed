"""Retention windows (gallring), one day either side, from the seed policies' examples."""

from __future__ import annotations

import pytest

from consent_svc.domain.retention import sweepable
from tests.domain.rules_helpers import NOW, Ev, days, facts, given, purpose

LEADS = purpose(key="offers", legal_basis="legitimate_interest", retention_days=0, channels=("email", "post"))
NEWSLETTER = purpose(retention_days=180)


@pytest.mark.parametrize(
    ("events", "purposes", "swept"),
    [
        # "Leads deleted 24 months after last activity".
        ([Ev("lead_activity", NOW - days(731))], [LEADS], True),
        ([Ev("lead_activity", NOW - days(729))], [LEADS], False),
        # "Prospects who decline kept 3 months".
        ([Ev("lead_activity", NOW - days(200)), Ev("prospect_declined", NOW - days(91))],
         [purpose(key="offers", legal_basis="legitimate_interest", retention_days=90)], True),
        ([Ev("lead_activity", NOW - days(200)), Ev("prospect_declined", NOW - days(89))],
         [purpose(key="offers", legal_basis="legitimate_interest", retention_days=90)], False),
        # A withdrawn newsletter subscriber, kept 180 days after the withdrawal.
        ([given(NOW - days(400)), Ev("consent_withdrawn", NOW - days(181), "newsletter")], [NEWSLETTER], True),
        ([given(NOW - days(400)), Ev("consent_withdrawn", NOW - days(179), "newsletter")], [NEWSLETTER], False),
        # An expired consent: the basis lapsed at given + ttl.
        ([given(NOW - days(730 + 181))], [NEWSLETTER], True),
        ([given(NOW - days(730 + 179))], [NEWSLETTER], False),
        # Any purpose with a basis keeps the person.
        ([given(NOW - days(10)), Ev("lead_activity", NOW - days(900))], [NEWSLETTER, LEADS], False),
        # A legal obligation always has a basis.
        ([Ev("lead_activity", NOW - days(900))], [LEADS, purpose(key="invoices", legal_basis="legal_obligation",
                                                                 direct_marketing=False)], False),
        # Retention counts from the lapse: a 30-day retention after the 730-day lead window.
        ([Ev("lead_activity", NOW - days(759))], [purpose(key="o", legal_basis="legitimate_interest", retention_days=30)], False),
        ([Ev("lead_activity", NOW - days(761))], [purpose(key="o", legal_basis="legitimate_interest", retention_days=30)], True),
    ],
)  # fmt: skip
def test_windows(events: list[Ev], purposes: list, swept: bool) -> None:
    result = sweepable(purposes, facts(*events), "business_contact", NOW)
    assert (result is not None) is swept
    if result is not None:
        assert all(lapse.delete_after < NOW for lapse in result)
