"""Properties of the rules that must hold for any history (hypothesis)."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_svc.domain.facts import fold_all
from consent_svc.domain.models import EVENT_TYPES, LEGAL_BASES, PurposeConfig, Ref, SuppressionFact
from consent_svc.domain.rules import decide
from tests.domain.rules_helpers import NOW, purpose

PURPOSES = ("newsletter", "events")
channels = st.sampled_from(("email", "sms", "phone", "post"))
kinds = st.sampled_from(("consumer", "sole_trader", "business_contact"))


@st.composite
def purposes(draw: st.DrawFn) -> PurposeConfig:
    basis = draw(st.sampled_from(LEGAL_BASES))
    return purpose(
        legal_basis=basis,
        direct_marketing=draw(st.booleans()),
        channels=tuple(draw(st.lists(channels, min_size=1, max_size=4, unique=True))),
        consent_ttl_days=draw(st.one_of(st.none(), st.integers(1, 2000))),
        soft_opt_in=basis != "consent" and draw(st.booleans()),
        reconsent_required_before=draw(st.one_of(st.none(), st.just(NOW - timedelta(days=30)))),
    )


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, str | None, tuple[str, ...], Ref]]:
    """Events with distinct instants spread over six years before NOW."""
    count = draw(st.integers(0, 12))
    offsets = draw(st.lists(st.integers(1, 6 * 365 * 24), min_size=count, max_size=count, unique=True))
    out = []
    for seq, hours in enumerate(offsets):
        type_: str = draw(st.sampled_from(EVENT_TYPES))
        purpose_key: str | None = None
        chans: tuple[str, ...] = ()
        if type_ in ("consent_given", "consent_withdrawn", "objection"):
            purpose_key = (
                draw(st.sampled_from(PURPOSES))
                if type_ == "consent_given"
                else draw(st.sampled_from((*PURPOSES, None)))
            )
            if type_ != "objection":
                chans = tuple(draw(st.lists(channels, max_size=2, unique=True)))
        out.append((type_, purpose_key, chans, Ref(uuid.uuid4(), NOW - timedelta(hours=hours), seq)))
    return out


def _suppression(scope: str = "all", channel: str | None = None, reason: str = "unsubscribe") -> SuppressionFact:
    return msgspec.convert(
        {"id": uuid.uuid4(), "scope": scope, "channel": channel, "reason": reason, "created_at": NOW},
        SuppressionFact,
        from_attributes=True,
    )


@settings(max_examples=300, deadline=None)
@given(
    purposes(),
    histories(),
    kinds,
    channels,
    st.sampled_from(("all", "newsletter")),
    st.booleans(),
    st.sampled_from(("unsubscribe", "objection", "complaint", "hard_bounce", "erasure", "manual")),
)
def test_a_matching_suppression_is_never_allowed(p, history, kind, channel, scope, channel_scoped, reason) -> None:  # type: ignore[no-untyped-def]
    """Scope "all" of unsubscribe, objection and complaint means every direct-marketing purpose;
    of the other reasons, every purpose; a purpose scope, that purpose."""
    entry = _suppression(scope, channel if channel_scoped else None, reason)
    answer = decide(p, fold_all(history), kind, [entry], channel, NOW)
    if scope == "all" and reason in ("unsubscribe", "objection", "complaint") and not p.direct_marketing:
        return
    assert not answer.allowed
    assert answer.reason == ("restricted" if reason == "erasure" and answer.rule == "R3" else "suppressed")


@settings(max_examples=300, deadline=None)
@given(purposes(), histories(), kinds, channels)
def test_an_objection_is_never_allowed_for_direct_marketing(p, history, kind, channel) -> None:  # type: ignore[no-untyped-def]
    p = PurposeConfig(**{**{f: getattr(p, f) for f in p.__struct_fields__}, "direct_marketing": True})
    # Only events up to now; then an objection after all of them.
    last = max((ref.at for *_, ref in history), default=NOW - timedelta(days=1))
    objection = ("objection", None, (), Ref(uuid.uuid4(), last + timedelta(seconds=1), 10_000))
    answer = decide(p, fold_all([*history, objection]), kind, [], channel, NOW + timedelta(days=1))
    assert not answer.allowed


@settings(max_examples=300, deadline=None)
@given(purposes(), histories(), kinds, channels, st.booleans())
def test_withdrawal_after_consent_is_never_allowed(p, history, kind, channel, for_all) -> None:  # type: ignore[no-untyped-def]
    if not (p.legal_basis == "consent" or p.direct_marketing):
        p = purpose(legal_basis="consent", channels=p.channels)
    last = max((ref.at for *_, ref in history), default=NOW - timedelta(days=2))
    consent = ("consent_given", "newsletter", (), Ref(uuid.uuid4(), last + timedelta(seconds=1), 10_000))
    withdrawal = (
        "consent_withdrawn",
        None if for_all else "newsletter",
        (),
        Ref(uuid.uuid4(), last + timedelta(seconds=2), 10_001),
    )
    answer = decide(p, fold_all([*history, consent, withdrawal]), kind, [], channel, NOW + timedelta(days=1))
    assert not answer.allowed


@settings(max_examples=300, deadline=None)
@given(purposes(), histories(), kinds, channels, st.integers(0, 3 * 365))
def test_an_allow_expires_in_the_future_or_never(p, history, kind, channel, later_days) -> None:  # type: ignore[no-untyped-def]
    now = NOW + timedelta(days=later_days)
    answer = decide(p, fold_all(history), kind, [], channel, now)
    if answer.allowed:
        assert answer.expires_at is None or answer.expires_at > now
    else:
        assert answer.expires_at is None


@settings(max_examples=300, deadline=None)
@given(purposes(), histories(), kinds, channels, st.randoms(use_true_random=False))
def test_the_answer_depends_on_occurred_at_not_on_recording_order(  # type: ignore[no-untyped-def]
    p, history, kind, channel, rnd: random.Random
) -> None:
    """Record the same events in another order (new recording sequence numbers): same answer."""
    shuffled = list(history)
    rnd.shuffle(shuffled)
    resequenced = [(t, pk, ch, Ref(ref.id, ref.at, seq)) for seq, (t, pk, ch, ref) in enumerate(shuffled)]
    a = decide(p, fold_all(history), kind, [], channel, NOW)
    b = decide(p, fold_all(resequenced), kind, [], channel, NOW)
    assert a == b


@settings(max_examples=300, deadline=None)
@given(st.lists(purposes(), min_size=1, max_size=3), histories(), kinds, st.integers(0, 3 * 365))
def test_the_sweep_never_takes_a_person_a_purpose_still_allows(ps, history, kind, later_days) -> None:  # type: ignore[no-untyped-def]
    """Retention and decisions agree: nobody is swept while a purpose allows contact on any of its
    channels (a legal obligation, which always answers allow, keeps only customers), and nobody
    under an active restriction is swept."""
    from consent_svc.domain.retention import restricted, sweepable

    ps = [
        PurposeConfig(**{**{f: getattr(p, f) for f in p.__struct_fields__}, "key": f"p{i}"}) for i, p in enumerate(ps)
    ]
    now = NOW + timedelta(days=later_days)
    f = fold_all(history)
    if sweepable(ps, f, kind, now) is None:
        return
    assert not restricted(f)
    for p in ps:
        if p.legal_basis == "legal_obligation":
            continue
        for channel in p.channels:
            assert not decide(p, f, kind, [], channel, now).allowed
