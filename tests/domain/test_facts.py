"""The fold: the latest event of each kind, per purpose and channel, stored as msgpack."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from consent_svc.domain import facts as facts_mod
from consent_svc.domain.facts import ALL, Facts, fold, latest_covering
from consent_svc.domain.models import Ref
from tests.domain.rules_helpers import NOW, days


def ref(at_days: float, seq: int, nv: str | None = None) -> Ref:
    return Ref(uuid.uuid4(), NOW - days(at_days), seq, nv)


def test_consents_withdrawals_and_objections_are_kept_per_channel() -> None:
    f = Facts()
    fold(f, "consent_given", "newsletter", ("email", "sms"), a := ref(5, 1, "2"))
    fold(f, "consent_withdrawn", None, ("sms",), b := ref(4, 2))
    fold(f, "objection", "newsletter", ("phone",), c := ref(3, 3))
    fold(f, "objection", None, (), d := ref(2, 4))
    assert f.given == {"newsletter": {"email": a, "sms": a}}
    assert f.withdrawn == {ALL: {"sms": b}}
    assert f.objected == {"newsletter": {"phone": c}, ALL: {ALL: d}}
    assert latest_covering(f.objected, "newsletter", "phone") == d
    assert latest_covering(f.objected, "events", "email") == d


def test_the_latest_wins_whatever_the_order_of_folding() -> None:
    early, late = ref(5, 1), ref(1, 2)
    for order in ((early, late), (late, early)):
        f = Facts()
        for r in order:
            fold(f, "purchase", None, (), r)
            fold(f, "consent_given", "n", (), r)
        assert (f.purchase, f.given["n"][ALL]) == (late, late)


def test_a_rectification_folds_to_nothing() -> None:
    f = Facts()
    fold(f, "subject_rectified", None, (), ref(1, 1))
    assert f == Facts()


def test_bad_events_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^consent_given needs a purpose$"):
        fold(Facts(), "consent_given", None, (), ref(1, 1))
    with pytest.raises(ValueError, match=r"^unknown event type 'gift'$"):
        fold(Facts(), "gift", None, (), ref(1, 1))


def test_encode_and_decode_round_trip() -> None:
    f = Facts()
    fold(f, "consent_given", "n", ("email",), ref(3, 1, "2026-03"))
    fold(f, "restriction_started", None, (), ref(2, 2))
    assert facts_mod.decode(facts_mod.encode(f)) == f
    assert facts_mod.decode(None) == Facts()
    assert facts_mod.decode(b"") == Facts()


class _FactsV1(msgspec.Struct, omit_defaults=True):
    """How rules v1 stored facts: one objection per purpose, for every channel."""

    objection: dict[str, Ref] = msgspec.field(default_factory=dict)
    purchase: Ref | None = None


def test_facts_folded_by_rules_v1_are_read_the_safe_way() -> None:
    old_all, old_news, bought = ref(9, 1), ref(8, 2), ref(7, 3)
    raw = msgspec.msgpack.encode(_FactsV1(objection={ALL: old_all, "newsletter": old_news}, purchase=bought))
    f = facts_mod.decode(raw)
    assert f.objected == {ALL: {ALL: old_all}, "newsletter": {ALL: old_news}}
    assert (f.objection, f.purchase) == ({}, bought)
