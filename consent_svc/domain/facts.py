"""A subject's facts: the ledger folded down to what the rules read.

The fold keeps, for every kind of event that the rules look at, the latest
one by (``occurred_at``, recording sequence). Taking a maximum does not depend
on the order events arrive in, so folding the events of the ledger in any
order gives the same facts, and the store can keep them current by folding
each new event into the stored value inside the transaction that records it.

Consents, withdrawals and objections are kept per channel (``"*"`` for an
event that names no channel, which covers every channel): a consent for SMS
must not revive email after a withdrawal of everything, and an objection to
phone calls must not stop the newsletter. A consent's ref carries the notice
version it names, which the rules need after a material change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from consent_svc.domain.models import Ref, later

ALL = "*"


class Facts(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Mutable accumulator; the rules only read it."""

    given: dict[str, dict[str, Ref]] = msgspec.field(default_factory=dict)
    # The consents confirmed by the person (double opt-in), per purpose, per channel: the only
    # ones that count for a purpose with ``double_opt_in``.
    confirmed: dict[str, dict[str, Ref]] = msgspec.field(default_factory=dict)
    withdrawn: dict[str, dict[str, Ref]] = msgspec.field(default_factory=dict)
    # Per purpose (or "*" for all direct marketing), per channel (or "*").
    objected: dict[str, dict[str, Ref]] = msgspec.field(default_factory=dict)
    # Facts folded before objections were kept per channel: {purpose: ref}.
    # Read once by :func:`decode` into ``objected`` as covering every channel
    # (what it meant then, and the more protective reading).
    objection: dict[str, Ref] = msgspec.field(default_factory=dict)
    purchase: Ref | None = None
    customer_started: Ref | None = None
    customer_ended: Ref | None = None
    event_attended: Ref | None = None
    lead_activity: Ref | None = None
    prospect_declined: Ref | None = None
    restriction_started: Ref | None = None
    restriction_lifted: Ref | None = None


SINGLE_SLOTS = (
    "purchase",
    "customer_started",
    "customer_ended",
    "event_attended",
    "lead_activity",
    "prospect_declined",
    "restriction_started",
    "restriction_lifted",
)
_SINGLE = frozenset(SINGLE_SLOTS)


def _put(slots: dict[str, Ref], key: str, ref: Ref) -> None:
    current = slots.get(key)
    if current is None or ref.key() > current.key():
        slots[key] = ref


def _put_channels(per_purpose: dict[str, dict[str, Ref]], purpose: str, channels: Sequence[str], ref: Ref) -> None:
    per_channel = per_purpose.setdefault(purpose, {})
    for channel in channels or (ALL,):
        _put(per_channel, channel, ref)


def fold(
    facts: Facts, event_type: str, purpose: str | None, channels: Sequence[str], ref: Ref, *, confirmed: bool = False
) -> None:
    """Fold one event into ``facts`` (in place). Events the rules do not read
    (``subject_rectified``) leave the facts unchanged. ``confirmed``: a consent the person
    confirmed (double opt-in), which the service alone records (see :func:`is_confirmed`)."""
    if event_type == "consent_given":
        if purpose is None:
            raise ValueError("consent_given needs a purpose")
        _put_channels(facts.given, purpose, channels, ref)
        if confirmed:
            _put_channels(facts.confirmed, purpose, channels, ref)
    elif event_type == "consent_withdrawn":
        _put_channels(facts.withdrawn, purpose or ALL, channels, ref)
    elif event_type == "objection":
        _put_channels(facts.objected, purpose or ALL, channels, ref)
    elif event_type in _SINGLE:
        setattr(facts, event_type, later(getattr(facts, event_type), ref))
    elif event_type != "subject_rectified":
        raise ValueError(f"unknown event type {event_type!r}")


# Proof blocks only the service writes (a client's proof cannot name them: the API refuses
# unknown proof fields): a double opt-in confirmation and a re-permission link's.
CONFIRMATION_PROOFS = ("double_opt_in", "reconsent")


def is_confirmed(event_type: str, proof: dict[str, object]) -> bool:
    """A consent the person confirmed by a link sent to them (double opt-in, re-permission)."""
    if event_type != "consent_given":
        return False
    # A loop, not any(): no generator object per event of a 10,000-event batch.
    for key in CONFIRMATION_PROOFS:  # noqa: SIM110
        if isinstance(proof.get(key), dict):
            return True
    return False


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


def latest_covering(per_purpose: dict[str, dict[str, Ref]], purpose: str, channel: str) -> Ref | None:
    """The latest ref for ``purpose`` or for every purpose, covering ``channel``."""
    return later(covering(per_purpose.get(purpose), channel), covering(per_purpose.get(ALL), channel))


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Facts)


def encode(facts: Facts) -> bytes:
    return _encoder.encode(facts)


def decode(raw: bytes | None) -> Facts:
    if not raw:
        return Facts()
    facts = _decoder.decode(raw)
    if facts.objection:
        for purpose, ref in facts.objection.items():
            _put(facts.objected.setdefault(purpose, {}), ALL, ref)
        facts.objection = {}
    return facts
