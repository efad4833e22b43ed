"""Time-ordered ids: one at a time and many at once keep one increasing order."""

from __future__ import annotations

import time
import uuid

from consent_svc.domain.ids import uuid7, uuid7_many


def test_many_are_version_7_and_increase_with_single_ones_around_them() -> None:
    before = uuid7()
    many = uuid7_many(10_000)  # more than 4,096 in a millisecond: the counter borrows the next one
    after = uuid7()
    ids = [before, *many, after]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_many_carry_the_time_they_were_made() -> None:
    now_ms = time.time_ns() // 1_000_000
    first, *_ = uuid7_many(3)
    assert abs((first.int >> 80) - now_ms) < 5_000


def test_none_asked_none_given() -> None:
    assert uuid7_many(0) == []


def test_an_id_is_an_ordinary_uuid() -> None:
    made = uuid7()
    again = uuid.UUID(str(made))
    assert again == made
    assert hash(again) == hash(made)
    assert again.int == made.int
    assert again.is_safe == made.is_safe
    assert str(made) == str(again)
