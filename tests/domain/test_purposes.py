"""Purpose configuration the law rules out, and notice versions across material changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.purposes import check_lawful, published
from tests.domain.rules_helpers import NOW, days, purpose

D1 = NOW + days(30)
D2 = NOW + days(60)
PAST = NOW - days(1)


def put(current: PurposeConfig | None, nv: str, deadline: datetime | None = None, now: datetime = NOW) -> PurposeConfig:
    return published(current, purpose(notice_version=nv, reconsent_required_before=deadline), now)


def test_a_new_purpose_publishes_its_notice() -> None:
    p = put(None, "1")
    assert (p.notice_versions, p.notice_deadlines) == (("1",), {})


def test_a_new_notice_without_a_deadline_supersedes_nothing() -> None:
    p = put(put(None, "1"), "2")
    assert (p.notice_versions, p.notice_deadlines) == (("1", "2"), {})


def test_a_material_change_supersedes_every_earlier_notice() -> None:
    p = put(put(put(None, "1"), "2"), "3", D1)
    assert (p.notice_versions, p.notice_deadlines) == (("1", "2", "3"), {"1": D1, "2": D1})


def test_a_material_change_needs_a_new_notice() -> None:
    with pytest.raises(InvalidInput) as raised:
        put(put(None, "1"), "1", D1)
    assert raised.value.errors[0].field == "notice_version"


def test_a_notice_published_while_the_change_runs_counts_fully() -> None:
    p = put(put(put(None, "1"), "2", D1), "3", D1)
    assert (p.notice_versions, p.notice_deadlines) == (("1", "2", "3"), {"1": D1})


def test_a_pending_deadline_may_move_and_its_notices_follow() -> None:
    p = put(put(put(None, "1"), "2", D1), "2", D2)
    assert p.notice_deadlines == {"1": D2}


def test_a_pending_change_may_be_withdrawn() -> None:
    p = put(put(put(None, "1"), "2", D1), "2", None)
    assert p.notice_deadlines == {}


@pytest.mark.parametrize("deadline", [None, PAST + days(10)])
def test_a_passed_deadline_is_neither_removed_nor_postponed(deadline: datetime | None) -> None:
    changed = put(put(None, "1"), "2", PAST)
    with pytest.raises(InvalidInput) as raised:
        put(changed, "2", deadline)
    assert raised.value.errors[0].field == "reconsent_required_before"


def test_a_passed_deadline_may_move_earlier() -> None:
    changed = put(put(None, "1"), "2", PAST)
    assert put(changed, "2", PAST - days(5)).notice_deadlines == {"1": PAST - days(5)}


def test_a_second_change_keeps_the_first_ones_deadline() -> None:
    first = put(put(None, "1"), "2", PAST)
    second = put(first, "3", D1)
    assert second.notice_deadlines == {"1": PAST, "2": D1}


def test_a_superseded_notice_cannot_be_published_again() -> None:
    changed = put(put(None, "1"), "2", D1)
    with pytest.raises(InvalidInput) as raised:
        put(changed, "1", D1)
    assert raised.value.errors[0].field == "notice_version"


@pytest.mark.parametrize(
    ("key", "overrides", "field"),
    [
        ("all", {}, "key"),
        ("offers", {"legal_basis": "contract"}, "direct_marketing"),
        ("offers", {"legal_basis": "legal_obligation"}, "direct_marketing"),
        ("offers", {"soft_opt_in": True}, "soft_opt_in"),
    ],
)
def test_configurations_the_law_rules_out(key: str, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_lawful(key, purpose(**overrides))
    assert raised.value.errors[0].field == field


@pytest.mark.parametrize(
    "overrides",
    [
        {"legal_basis": "contract", "direct_marketing": False},
        {"legal_basis": "legal_obligation", "direct_marketing": False},
        {"legal_basis": "legitimate_interest", "soft_opt_in": True},
        {},
    ],
)
def test_lawful_configurations_pass(overrides: dict[str, Any]) -> None:
    check_lawful("offers", purpose(**overrides))
