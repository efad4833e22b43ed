"""A subject's facts: the ledger folded down to what the rules read.

The fold keeps, for every kind of event that the rules look at, the latest
one by (``occurred_at``, recording sequence). Taking a maximum does not depend
on the order events arrive in, so folding the events of the ledger in any
order gives the same facts, and the store can keep them current by folding
each new event into the stored value inside the transaction that records it.

Consents and withdrawals are kept per channel (``"*"`` for an event that
names no channel, which covers every channel): a consent for SMS must not
revive email after a withdrawal of everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from consent_svc.domain.models import Ref, later

ALL = "*"


class Facts(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Mutable accumulator; the rules only read it."""

    given: dict[str, dict[str, Ref]] = msgspec.field(default_factory=dict)
    withdrawn: dict[str, dict[str, Ref]] = msgspec.field(default_factory=dict)
    objection: dict[str, Ref] = msgspec.field(default_factory=dict)
    purchase: Ref | None = None
    customer_started: Ref | None = None
    customer_ended: Ref | None = None
    event_attended: Ref | None = None
    lead_activity: Ref | None = None
    prospect_declined: Ref | None = None
    restriction_started: Ref | None = None
    restriction_lifted: Ref | None = None


_SINGLE_SLOTS = frozenset(
    {
        "purchase",
        "customer_started",
        "customer_ended",
        "event_attended",
        "lead_activity",
        "prospect_declined",
        "restriction_started",
        "restriction_lifted",
    }
)


def _put(slots: dict[str, Ref], key: str, ref: Ref) -> None:
    current = slots.get(key)
    if current is None or ref.key() > current.key():
        slots[key] = ref


def fold(facts: Facts, event_type: str, purpose: str | None, channels: Sequence[str], ref: Ref) -> None:
    """Fold one event into ``facts`` (in place)."""
    if event_type == "consent_given":
        if purpose is None:
            raise ValueError("consent_given needs a purpose")
        per_channel = facts.given.setdefault(purpose, {})
        for channel in channels or (ALL,):
            _put(per_channel, channel, ref)
    elif event_type == "consent_withdrawn":
        per_channel = facts.withdrawn.setdefault(purpose or ALL, {})
        for channel in channels or (ALL,):
            _put(per_channel, channel, ref)
    elif event_type == "objection":
        _put(facts.objection, purpose or ALL, ref)
    elif event_type in _SINGLE_SLOTS:
        setattr(facts, event_type, later(getattr(facts, event_type), ref))
    else:
        raise ValueError(f"unknown event type {event_type!r}")


def fold_all(events: Iterable[tuple[str, str | None, Sequence[str], Ref]]) -> Facts:
    facts = Facts()
    for event_type, purpose, channels, ref in events:
        fold(facts, event_type, purpose, channels, ref)
    return facts


def covering(slots: dict[str, Ref] | None, channel: str) -> Ref | None:
    """The latest ref among those for ``channel`` and those for every channel."""
    if not slots:
        return None
    return later(slots.get(channel), slots.get(ALL))


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Facts)


def encode(facts: Facts) -> bytes:
    return _encoder.encode(facts)


def decode(raw: bytes | None) -> Facts:
    return Facts() if not raw else _decoder.decode(raw)
