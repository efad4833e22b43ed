"""The decision rules against the reference oracle (tests/domain/oracle.py), over generated histories.

Every generated case is decided twice: by ``consent_svc.domain.rules.decide``
on the folded facts, and by the oracle on the raw event list. Both must give
the same ``allowed``, ``reason``, ``rule`` and ``expires_at``. The histories
are built to land on the boundaries that matter: instants a whole number of
days from now (90, 365, ttl, window lengths) plus or minus a second, equal
instants recorded in either order, notice versions before and after a
material change, suppression entries of every reason and scope.

``CONSENT_ORACLE_EXAMPLES`` sets the number of examples (the suite runs a few
thousand; a long run: ``CONSENT_ORACLE_EXAMPLES=200000 ./dev test tests/domain/test_oracle.py``).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent_svc.domain.facts import Facts, fold
from consent_svc.domain.models import (
    EVENT_TYPES,
    LEGAL_BASES,
    Channel,
    LegalBasis,
    PurposeConfig,
    Ref,
    RegisterFact,
    SignupFact,
    SuppressionFact,
)
from consent_svc.domain.rules import decide
from tests.domain.oracle import OEvent, oracle
from tests.domain.rules_helpers import NOW

EXAMPLES = int(os.environ.get("CONSENT_ORACLE_EXAMPLES", "4000"))
CHANNELS: tuple[Channel, ...] = ("email", "sms", "phone", "post")
PURPOSE_KEYS = ("newsletter", "events")
NOTICES = ("1", "2", "3")
# Weighted towards what makes histories interesting: register entries (with their
# exceptions) and relationships; restrictions and erasures (which end every
# question early) are rare.
REASONS = ("unsubscribe", "objection", "complaint", "hard_bounce", "erasure", "manual", *("register",) * 6)
TYPES = (
    *("consent_given",) * 4,
    *("consent_withdrawn",) * 2,
    *("objection",) * 2,
    *("purchase",) * 3,
    "customer_started",
    "customer_ended",
    "event_attended",
    "lead_activity",
    "prospect_declined",
    "restriction_started",
    "restriction_lifted",
)
assert set(TYPES) == set(EVENT_TYPES)
BASES = (*("consent",) * 3, *("legitimate_interest",) * 4, "contract", "legal_obligation")
assert set(BASES) == set(LEGAL_BASES)
# Day counts the rules care about; an instant is "now - days ± seconds".
DAYS = st.one_of(
    st.sampled_from((0, 1, 30, 89, 90, 91, 364, 365, 366, 729, 730, 731, 1094, 1095, 1096)),
    st.integers(0, 2500),
)
SECONDS = st.sampled_from((-1, 0, 1, 3600))


@st.composite
def purposes(draw: st.DrawFn) -> PurposeConfig:
    basis: LegalBasis = draw(st.sampled_from(BASES))
    material = draw(st.booleans())
    # Double opt-in (issue 17) is configured on email-only purposes.
    double_opt_in = draw(st.sampled_from((False, False, True)))
    channels = (
        ("email",)
        if double_opt_in
        else tuple(draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=4, unique=True)))
    )
    # Notices published at or after the material change ("1" always came before it).
    since = tuple(draw(st.lists(st.sampled_from(NOTICES[1:]), max_size=2, unique=True))) if material else ()
    deadline = NOW + timedelta(days=draw(st.integers(-400, 400)), seconds=draw(SECONDS)) if material else None
    return PurposeConfig(
        key="newsletter",
        legal_basis=basis,
        # Direct marketing on a contract or legal obligation is refused since rules v2, but
        # may be stored from before: generated rarely, it must allow nothing.
        direct_marketing=draw(st.booleans())
        if basis in ("consent", "legitimate_interest")
        else draw(st.sampled_from((False, False, False, True))),
        channels=channels,
        double_opt_in=double_opt_in,
        notice_version=NOTICES[-1],
        title={"sv": "Nyhetsbrev", "en": "Newsletter"},
        description={"sv": "Nyheter", "en": "News"},
        consent_ttl_days=draw(st.one_of(st.none(), st.sampled_from((90, 365, 730)), st.integers(1, 2000))),
        reconsent_required_before=deadline,
        soft_opt_in=basis != "consent" and draw(st.booleans()),
        customer_after_end_days=draw(st.sampled_from((0, 365, 730, 1000))),
        event_days=draw(st.sampled_from((0, 365, 1095))),
        lead_inactivity_days=draw(st.sampled_from((0, 730))),
        notice_versions=NOTICES,
        notice_deadlines={nv: deadline for nv in NOTICES if nv not in since} if deadline is not None else {},
        registers=draw(st.sampled_from((None, None, (), ("nix-telefon",), ("nix-adresserat", "egen"), REGISTER_NAMES))),
    )


REGISTER_NAMES = ("nix-telefon", "nix-adresserat", "spar-reklamsparr", "egen")
BUILTIN_CHANNELS: dict[str, Channel] = {"nix-telefon": "phone", "nix-adresserat": "post", "spar-reklamsparr": "post"}


@st.composite
def register_facts(draw: st.DrawFn) -> tuple[RegisterFact, ...]:
    """The tenant's registers: some never imported, the others with a version around 60 days old
    (the day it lapses, the days either side), each listing the subject or not."""
    out = []
    for name in REGISTER_NAMES:
        if draw(st.integers(0, 4)) == 0:
            continue  # never imported
        age = draw(st.sampled_from((0, 1, 30, 58, 59, 59, 60, 60, 61, 200)))
        out.append(
            RegisterFact(
                name=name,
                channel=BUILTIN_CHANNELS.get(name) or draw(st.sampled_from(CHANNELS)),
                snapshot_id=uuid.uuid4(),
                version_date=NOW.date() - timedelta(days=age),
                listed=draw(st.booleans()),
            )
        )
    return tuple(out)


@st.composite
def histories(draw: st.DrawFn) -> list[OEvent]:
    count = draw(st.integers(0, 10))
    events: list[OEvent] = []
    instants: list[datetime] = []
    for seq in range(count):
        if instants and draw(st.integers(0, 5)) == 0:
            at = draw(st.sampled_from(instants))  # the same instant as an earlier event
        else:
            at = NOW - timedelta(days=draw(DAYS), seconds=draw(SECONDS))
        instants.append(at)
        type_ = draw(st.sampled_from(TYPES))
        purpose: str | None = None
        channels: tuple[str, ...] = ()
        notice = None
        confirmed = False
        if type_ in ("consent_given", "consent_withdrawn", "objection"):
            keys = PURPOSE_KEYS if type_ == "consent_given" else (*PURPOSE_KEYS, None)
            purpose = draw(st.sampled_from(keys))
            channels = tuple(draw(st.lists(st.sampled_from(CHANNELS), max_size=2, unique=True)))
        if type_ == "consent_given":
            notice = draw(st.sampled_from((*NOTICES, None)))
            confirmed = draw(st.booleans())
        events.append(OEvent(uuid.uuid4(), type_, purpose, channels, at, seq, notice, confirmed))
    return events


@st.composite
def entries(draw: st.DrawFn) -> list[SuppressionFact]:
    out = []
    for _ in range(draw(st.sampled_from((0, 0, 1, 1, 2)))):
        out.append(
            SuppressionFact(
                id=uuid.uuid4(),
                scope=draw(st.sampled_from(("all", *PURPOSE_KEYS))),
                channel=draw(st.sampled_from((None, *CHANNELS))),
                reason=draw(st.sampled_from(REASONS)),
                created_at=NOW - timedelta(days=draw(st.integers(0, 100))),
            )
        )
    return out


@st.composite
def signups(draw: st.DrawFn) -> tuple[SignupFact, ...]:
    """Sign-ups waiting for their confirmation, expiring around now (some expired)."""
    count = draw(st.sampled_from((0, 0, 0, 1, 2)))
    return tuple(
        SignupFact(
            id=uuid.uuid4(), expires_at=NOW + timedelta(hours=draw(st.integers(-100, 100)), seconds=draw(SECONDS))
        )
        for _ in range(count)
    )


def _facts(events: list[OEvent]) -> Facts:
    facts = Facts()
    for e in events:
        fold(facts, e.type, e.purpose, e.channels, Ref(e.id, e.at, e.seq, e.notice_version), confirmed=e.confirmed)
    return facts


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[
    PurposeConfig, list[OEvent], list[SuppressionFact], str, str, tuple[SignupFact, ...], tuple[RegisterFact, ...]
]:
    p = draw(purposes())
    # Mostly a channel the purpose uses (R5 answers the rest at once).
    channel = draw(st.sampled_from(p.channels if draw(st.integers(0, 4)) else CHANNELS))
    kind = draw(st.sampled_from(("consumer", "sole_trader", "business_contact")))
    return p, draw(histories()), draw(entries()), kind, channel, draw(signups()), draw(register_facts())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from((True, True, True, False)))
def test_rules_agree_with_the_oracle(case, known) -> None:  # type: ignore[no-untyped-def]
    p, events, sups, kind, channel, waiting, registers = case
    if not known:
        events = []
    answer = decide(p, _facts(events) if known else None, kind, sups, channel, NOW, waiting, registers)
    # The generator superseded every notice not published since the change (see purposes()).
    since = tuple(nv for nv in NOTICES if nv not in p.notice_deadlines)
    expected = oracle(p, events, kind, sups, channel, NOW, since, waiting, registers)
    assert (answer.allowed, answer.reason, answer.rule, answer.expires_at) == (
        expected.allowed,
        expected.reason,
        expected.rule,
        expected.expires_at,
    )
    # No allow without evidence, except where the basis needs none (a legal obligation).
    if answer.allowed and answer.reason != "legal_obligation":
        assert answer.evidence
    if answer.allowed:
        assert answer.legal_basis is not None
        assert answer.expires_at is None or answer.expires_at > NOW
        assert set(expected.evidence) <= set(answer.evidence)


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_an_allow_lapses_exactly_when_its_basis_does(case) -> None:  # type: ignore[no-untyped-def]
    """No allow expires after the basis that justifies it, nor before: just before
    ``expires_at`` the same allow holds; at ``expires_at`` it does not."""
    p, events, sups, kind, channel, waiting, registers = case
    facts = _facts(events)
    answer = decide(p, facts, kind, sups, channel, NOW, waiting, registers)
    if not answer.allowed or answer.expires_at is None:
        return
    before = decide(p, facts, kind, sups, channel, answer.expires_at - timedelta(microseconds=1), waiting, registers)
    assert (before.allowed, before.reason, before.expires_at) == (True, answer.reason, answer.expires_at)
    at = decide(p, facts, kind, sups, channel, answer.expires_at, waiting, registers)
    assert not (at.allowed and at.reason == answer.reason and at.evidence == answer.evidence)
