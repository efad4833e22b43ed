"""The decision table, row by row: every rule, every reason code, every subject kind,
every channel, one second either side of every expiry, and the exact answer: legal
basis, legal reference, expiry, evidence and obligations.

Rows marked "v2:" are the wrong allows and over-blocks found by the legal review
(issue 12); each failed on the rules before v2.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from consent_svc.domain.facts import Facts
from consent_svc.domain.models import (
    CHANNELS,
    SUBJECT_KINDS,
    PurposeConfig,
    RegisterFact,
    RegisterVersion,
    SignupFact,
    SuppressionFact,
)
from consent_svc.domain.registers import valid_until
from consent_svc.domain.rules import (
    REASONS,
    REF_CHANNEL,
    REF_CONFIRMATION,
    REF_CONSENT,
    REF_CONSENT_EPRIVACY,
    REF_CONTRACT,
    REF_LEGAL_OBLIGATION,
    REF_LI,
    REF_NO_EPRIVACY,
    REF_NOT_LAWFUL,
    REF_OBJECTED,
    REF_RECONSENT,
    REF_REGISTER,
    REF_REGISTER_STALE,
    REF_REGISTER_UNVERIFIABLE,
    REF_RESTRICTED,
    REF_SOFT_OPT_IN,
    REF_SUPPRESSED,
    REF_WITHDRAWN,
    ConsentJudgement,
    decide,
)
from tests.domain.rules_helpers import (
    NOW,
    SECOND,
    Ev,
    confirmed,
    days,
    facts,
    given,
    purpose,
    signup,
    suppression,
)

LI = {"legal_basis": "legitimate_interest"}
SOFT = {"legal_basis": "legitimate_interest", "soft_opt_in": True}
T0 = NOW - days(100)  # a reference instant in the past
EL = ("unsubscribe_link", "identify_sender", "objection_notice")  # email/sms marketing
OTHER = ("identify_sender", "objection_notice")  # phone/post marketing
NONE: tuple[str, ...] = ()


@dataclass
class Case:
    name: str
    purpose: PurposeConfig
    events: list[Ev]
    expect: dict[str, Any]
    kind: str = "consumer"
    channel: str = "email"
    now: datetime = NOW
    suppressions: list[SuppressionFact] = field(default_factory=list)
    known: bool = True
    signups: list[SignupFact] = field(default_factory=list)
    registers: list[RegisterFact] = field(default_factory=list)


def allow(reason: str, rule: str, basis: str, ref: str, expires: datetime | None, evidence: list[Any],
          obligations: tuple[str, ...] = EL) -> dict[str, Any]:  # fmt: skip
    return {"allowed": True, "reason": reason, "rule": rule, "legal_basis": basis, "legal_reference": ref,
            "expires_at": expires, "evidence": tuple(e.id for e in evidence), "obligations": obligations}  # fmt: skip


def deny(reason: str, rule: str, ref: str, evidence: list[Any]) -> dict[str, Any]:
    return {"allowed": False, "reason": reason, "rule": rule, "legal_basis": None, "legal_reference": ref,
            "expires_at": None, "evidence": tuple(e.id for e in evidence), "obligations": ()}  # fmt: skip


def consent_allow(rule: str, consent: Ev, expires: datetime | None, ref: str = REF_CONSENT_EPRIVACY,
                  obligations: tuple[str, ...] = EL) -> dict[str, Any]:  # fmt: skip
    return allow("consent_active", rule, "consent", ref, expires, [consent], obligations)


def material(deadline: datetime, since: tuple[str, ...] = ("2",), **overrides: Any) -> PurposeConfig:
    """A purpose whose notice changed materially: version "2" published with a re-consent deadline."""
    return purpose(reconsent_required_before=deadline, notice_versions=("1", *since), notice_deadlines={"1": deadline},
                   **overrides)  # fmt: skip


def g(at: datetime, nv: str | None = "1", channels: tuple[str, ...] = (), key: str = "newsletter") -> Ev:
    """A consent naming a notice version."""
    return Ev("consent_given", at, key, channels, nv)


# Events reused by several rows (a row's expected evidence names them).
c_t0 = given(T0)
c_89 = given(NOW - days(89))
c_91 = given(NOW - days(91))
c_sms = given(T0, channels=("sms",))
p_200 = Ev("purchase", NOW - days(200))
p_366 = Ev("purchase", NOW - days(366))
p_364 = Ev("purchase", NOW - days(364))
p_t0 = Ev("purchase", T0)
start_t0 = Ev("customer_started", T0)
obj_news = Ev("objection", T0 + days(1), "newsletter")
obj_all = Ev("objection", T0 + days(1))
obj_phone = Ev("objection", T0 + days(1), "newsletter", ("phone",))
lead_t0 = Ev("lead_activity", T0)
wd_all = Ev("consent_withdrawn", T0 + days(1))
wd_news = Ev("consent_withdrawn", T0 + days(1), "newsletter")
wd_sms = Ev("consent_withdrawn", T0 + days(1), "newsletter", ("sms",))
restr = Ev("restriction_started", T0 + days(1))
unsub_all = suppression()
unsub_news = suppression(scope="newsletter")
reg = suppression(reason="register")
reg_phone = suppression(reason="register", channel="phone")
manual_all = suppression(reason="manual")
bounce_all = suppression(reason="hard_bounce", created_at=NOW - days(2))
erased_sms = suppression(reason="erasure", channel="sms")
erased_early = suppression(reason="erasure", channel="sms", created_at=NOW - days(9))
c_old_before = g(NOW - days(10), "1")
c_new_before = g(NOW - days(10), "2")
c_old_after = g(NOW - days(1), "1")
c_legacy = g(NOW - days(10), None)
customer_ended_at = NOW - days(730) + SECOND  # soft opt-in / li_customer window edge
ended_edge = Ev("customer_ended", customer_ended_at)
start_long_ago = Ev("customer_started", T0 - days(2000))
p_edge_in = Ev("purchase", NOW - days(730) + SECOND)
p_edge_out = Ev("purchase", NOW - days(730) - SECOND)
ev_in = Ev("event_attended", NOW - days(1095) + SECOND)
lead_in = Ev("lead_activity", NOW - days(730) + SECOND)
lead_700 = Ev("lead_activity", NOW - days(700))
ev_10 = Ev("event_attended", NOW - days(10))
decl = Ev("prospect_declined", T0 + days(1))
decl_then_event_d = Ev("prospect_declined", T0)
event_after_decl = Ev("event_attended", T0 + days(1))
c_expired = given(NOW - days(730) - SECOND)
# Double opt-in (issue 17): a purpose that counts only confirmed consents, and sign-ups waiting.
DOI = {"double_opt_in": True, "channels": ("email",)}
cc_t0 = confirmed(T0)
c_unconfirmed_later = given(T0 + days(2))
waiting = signup(NOW + days(1))
waiting_edge = signup(NOW + SECOND)

CASES = [
    # --- R1 suppression ---------------------------------------------------------------
    Case("R1 suppressed, consent cannot override", purpose(), [c_t0], deny("suppressed", "R1", REF_SUPPRESSED, [unsub_all]),
         suppressions=[unsub_all]),
    Case("R1 purpose-scoped entry", purpose(), [c_t0], deny("suppressed", "R1", REF_SUPPRESSED, [unsub_news]),
         suppressions=[unsub_news]),
    Case("R1 other purpose's entry does not match", purpose(), [c_t0],
         consent_allow("R7", c_t0, T0 + days(730)), suppressions=[suppression(scope="events")]),
    Case("R1 channel-scoped entry on another channel", purpose(), [c_t0],
         consent_allow("R7", c_t0, T0 + days(730)), suppressions=[suppression(channel="sms")]),
    Case("R1 channel-scoped entry on this channel", purpose(), [c_t0],
         deny("suppressed", "R1", REF_SUPPRESSED, [unsub_all]), suppressions=[unsub_all]),
    Case("R1 the earliest matching entry is the evidence", purpose(), [c_t0],
         deny("suppressed", "R1", REF_SUPPRESSED, [bounce_all]), suppressions=[unsub_news, bounce_all]),
    Case("v2: R1 unsubscribe from everything leaves service messages alone",
         purpose(direct_marketing=False), [c_t0],
         consent_allow("R7", c_t0, T0 + days(730), REF_CONSENT, NONE), suppressions=[unsub_all]),
    Case("v2: R1 complaint to all leaves service messages alone", purpose(direct_marketing=False), [c_t0],
         consent_allow("R7", c_t0, T0 + days(730), REF_CONSENT, NONE), suppressions=[suppression(reason="complaint")]),
    Case("v2: R1 objection entry to all leaves service messages alone", purpose(direct_marketing=False), [c_t0],
         consent_allow("R7", c_t0, T0 + days(730), REF_CONSENT, NONE),
         suppressions=[suppression(reason="objection")]),
    Case("R1 a hard bounce blocks every purpose", purpose(direct_marketing=False), [c_t0],
         deny("suppressed", "R1", REF_SUPPRESSED, [bounce_all]), suppressions=[bounce_all]),
    Case("R1 a manual entry blocks every purpose", purpose(direct_marketing=False), [c_t0],
         deny("suppressed", "R1", REF_SUPPRESSED, [manual_all]), suppressions=[manual_all]),
    Case("R1 a purpose-scoped unsubscribe blocks a service purpose", purpose(direct_marketing=False), [c_t0],
         deny("suppressed", "R1", REF_SUPPRESSED, [unsub_news]), suppressions=[unsub_news]),
    Case("R1 register entry blocks an unknown person", purpose(**LI), [],
         deny("suppressed", "R1", REF_REGISTER, [reg]), channel="phone", suppressions=[reg], known=False),
    Case("R1 register entry: a manual entry beside it blocks as itself", purpose(), [c_89],
         deny("suppressed", "R1", REF_SUPPRESSED, [manual_all]), channel="phone", suppressions=[reg, manual_all]),
    Case("R1 register entries concern direct marketing only",
         purpose(legal_basis="contract", direct_marketing=False), [start_t0],
         allow("contract_active", "R9", "contract", REF_CONTRACT, None, [start_t0], NONE),
         channel="phone", suppressions=[reg]),
    Case("R1 register entry for phone does not concern post", purpose(**LI), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, T0 + days(730), [lead_t0], OTHER),
         channel="post", suppressions=[reg_phone]),
    Case("v2: R1 register: a consent counts 90 days (1 day before)", purpose(), [c_89],
         consent_allow("R7", c_89, c_89.at + days(90), REF_CONSENT, OTHER), channel="phone", suppressions=[reg]),
    Case("v2: R1 register: a consent counts 90 days (1 day after)", purpose(), [c_91],
         deny("suppressed", "R1", REF_REGISTER, [reg]), channel="phone", suppressions=[reg]),
    Case("v2: R1 register: 1 s before 90 days", purpose(), [c_89], consent_allow("R7", c_89, c_89.at + days(90),
         REF_CONSENT, OTHER), channel="phone", now=c_89.at + days(90) - SECOND, suppressions=[reg]),
    Case("v2: R1 register: at 90 days", purpose(), [c_89], deny("suppressed", "R1", REF_REGISTER, [reg]),
         channel="phone", now=c_89.at + days(90), suppressions=[reg]),
    Case("R1 register: a consent for another channel is no exception", purpose(),
         [given(NOW - days(5), channels=("email",))], deny("suppressed", "R1", REF_REGISTER, [reg]),
         channel="phone", suppressions=[reg]),
    Case("R1 register: a consent for another purpose is no exception", purpose(),
         [given(NOW - days(5), purpose="events")], deny("suppressed", "R1", REF_REGISTER, [reg]),
         channel="phone", suppressions=[reg]),
    Case("R1 register: a withdrawn consent is no exception", purpose(**LI),
         [c_89, Ev("consent_withdrawn", NOW - days(1), "newsletter", ("phone",))],
         deny("suppressed", "R1", REF_REGISTER, [reg]), channel="phone", suppressions=[reg]),
    Case("R1 register: the exception ends with a shorter consent", purpose(consent_ttl_days=60),
         [c_30 := given(NOW - days(30))], consent_allow("R7", c_30, NOW + days(30), REF_CONSENT, OTHER),
         channel="phone", suppressions=[reg]),
    Case("v2: R1 register: a customer needs soft opt-in (own similar products)", purpose(**LI), [p_200],
         deny("suppressed", "R1", REF_REGISTER, [reg]), channel="phone", suppressions=[reg]),
    Case("v2: R1 register: customer exception expires with the exception, not the LI window", purpose(**SOFT),
         [p_200], allow("li_customer", "R8", "legitimate_interest", REF_LI, p_200.at + days(365), [p_200], OTHER),
         channel="phone", suppressions=[reg]),
    Case("R1 register: customer within 365 days (1 day before)", purpose(**SOFT), [p_364],
         allow("li_customer", "R8", "legitimate_interest", REF_LI, p_364.at + days(365), [p_364], OTHER),
         channel="phone", suppressions=[reg]),
    Case("R1 register: customer after 365 days", purpose(**SOFT), [p_366],
         deny("suppressed", "R1", REF_REGISTER, [reg]), channel="phone", suppressions=[reg]),
    Case("R1 register: an active customer, no expiry", purpose(**SOFT), [start_t0],
         allow("li_customer", "R8", "legitimate_interest", REF_LI, None, [start_t0], OTHER), channel="phone",
         suppressions=[reg]),
    Case("v2: R1 register: two exceptions, the later end caps the allow", purpose(**SOFT),
         [Ev("purchase", NOW - days(300)), given(NOW - days(10), channels=("phone",))],
         allow("consent_active", "R8", "consent", REF_CONSENT, NOW + days(80), [], OTHER), channel="phone",
         suppressions=[reg]),
    Case("R1 register: exactly 365 days after the relationship ended", purpose(**SOFT), [p_200], deny("suppressed",
         "R1", REF_REGISTER, [reg]), channel="phone", now=p_200.at + days(365), suppressions=[reg]),
    Case("R1 register on email: soft opt-in needs the natural person's kind", purpose(**SOFT), [p_200],
         allow("soft_opt_in", "R6", "legitimate_interest", REF_SOFT_OPT_IN, p_200.at + days(365), [p_200]),
         suppressions=[reg]),
    Case("R1 register: an exception that holds does not hide a later objection", purpose(**SOFT), [p_200, obj_reg :=
         Ev("objection", NOW - days(1))], deny("objected", "R2", REF_OBJECTED, [obj_reg]), channel="phone",
         suppressions=[reg]),
    Case("R1 register: an active customer's consent expires with the consent", purpose(**SOFT),
         [start_t0, c_ph := given(NOW - days(10), channels=("phone",))],
         allow("consent_active", "R8", "consent", REF_CONSENT, c_ph.at + days(730), [c_ph, start_t0], OTHER),
         channel="phone", suppressions=[reg]),
    # --- R2 objection -----------------------------------------------------------------
    Case("R2 objection to this purpose", purpose(**LI), [lead_t0, obj_news], deny("objected", "R2", REF_OBJECTED, [obj_news]),
         kind="business_contact"),
    Case("R2 objection to all direct marketing", purpose(), [c_t0, obj_all], deny("objected", "R2", REF_OBJECTED, [obj_all])),
    Case("R2 objection followed by a new consent", purpose(), [Ev("objection", T0), c_after := given(T0 + days(1))],
         consent_allow("R7", c_after, T0 + days(1) + days(730))),
    Case("R2 only for direct marketing", purpose(direct_marketing=False), [c_t0, obj_all],
         consent_allow("R7", c_t0, T0 + days(730), REF_CONSENT, NONE)),
    Case("v2: R2 the objection applies again when the later consent expires", purpose(consent_ttl_days=30),
         [obj_all, given(T0 + days(2))], deny("objected", "R2", REF_OBJECTED, [obj_all])),
    Case("v2: R2 ... and when it is withdrawn", purpose(**LI),
         [start_t0, obj_all, given(T0 + days(2)), Ev("consent_withdrawn", T0 + days(3), "newsletter")],
         deny("objected", "R2", REF_OBJECTED, [obj_all]), channel="phone"),
    Case("v2: R2 ... so an active customer is not marketed again on LI", purpose(**SOFT, consent_ttl_days=30),
         [start_t0, p_t0, obj_all, given(T0 + days(2))], deny("objected", "R2", REF_OBJECTED, [obj_all])),
    Case("R2 a consent lifts an objection only for its channels", purpose(),
         [obj_all, given(T0 + days(2), channels=("sms",))], deny("objected", "R2", REF_OBJECTED, [obj_all])),
    Case("v2: R2 a consent after the objection on an old notice past the deadline", material(NOW - SECOND),
         [obj_all, g(T0 + days(2), "1")], deny("objected", "R2", REF_OBJECTED, [obj_all])),
    Case("v2: R2 an objection to phone calls leaves email alone", purpose(), [c_t0, obj_phone],
         consent_allow("R7", c_t0, T0 + days(730))),
    Case("R2 an objection to phone calls stops phone calls", purpose(), [c_t0, obj_phone],
         deny("objected", "R2", REF_OBJECTED, [obj_phone]), channel="phone"),
    # --- R3 restriction and erasure ------------------------------------------------------
    Case("R3 active restriction", purpose(), [c_t0, restr], deny("restricted", "R3", REF_RESTRICTED, [restr])),
    Case("R3 lifted restriction", purpose(), [c_t0, restr, Ev("restriction_lifted", T0 + days(2))],
         consent_allow("R7", c_t0, T0 + days(730))),
    Case("R3 restriction before a later lift-less restriction", purpose(),
         [c_t0, Ev("restriction_lifted", T0 + days(1)), r2 := Ev("restriction_started", T0 + days(2))],
         deny("restricted", "R3", REF_RESTRICTED, [r2])),
    Case("R3 an erasure entry, whatever its channel", purpose(), [c_t0],
         deny("restricted", "R3", REF_RESTRICTED, [erased_sms]), suppressions=[erased_sms]),
    Case("R3 the earliest erasure entry is the evidence", purpose(), [c_t0],
         deny("restricted", "R3", REF_RESTRICTED, [erased_early]),
         suppressions=[suppression(reason="erasure", channel="phone"), erased_early]),
    # --- R4 withdrawal ----------------------------------------------------------------
    Case("R4 withdrawal after consent", purpose(), [c_t0, wd_news], deny("withdrawn", "R4", REF_WITHDRAWN, [wd_news])),
    Case("R4 withdrawal of all purposes", purpose(), [c_t0, wd_all], deny("withdrawn", "R4", REF_WITHDRAWN, [wd_all])),
    Case("R4 consent after withdrawal", purpose(), [Ev("consent_withdrawn", T0), c7 := given(T0 + SECOND)],
         consent_allow("R7", c7, T0 + SECOND + days(730))),
    Case("R4 an sms consent does not revive email", purpose(), [c_t0, wd_all, given(T0 + days(2), channels=("sms",))],
         deny("withdrawn", "R4", REF_WITHDRAWN, [wd_all])),
    Case("R4 a withdrawal for sms leaves email alone", purpose(), [c_t0, wd_sms], consent_allow("R7", c_t0, T0 + days(730))),
    Case("R4 a withdrawal for sms stops sms", purpose(), [c_t0, wd_sms], deny("withdrawn", "R4", REF_WITHDRAWN, [wd_sms]),
         channel="sms"),
    Case("R4 same instant: the later recorded wins (withdrawal)", purpose(),
         [c_t0, w := Ev("consent_withdrawn", T0, "newsletter")], deny("withdrawn", "R4", REF_WITHDRAWN, [w])),
    Case("R4 same instant: the later recorded wins (consent)", purpose(),
         [Ev("consent_withdrawn", T0, "newsletter"), c2 := given(T0)], consent_allow("R7", c2, T0 + days(730))),
    Case("R4 a withdrawal stops direct marketing on legitimate interest", purpose(**LI), [start_t0, wd_all],
         deny("withdrawn", "R4", REF_WITHDRAWN, [wd_all]), channel="post"),
    Case("R4 a withdrawal ends a service consent too", purpose(direct_marketing=False), [c_t0, wd_all],
         deny("withdrawn", "R4", REF_WITHDRAWN, [wd_all])),
    Case("R4 does not switch off a contract", purpose(legal_basis="contract", direct_marketing=False),
         [start_t0, wd_all], allow("contract_active", "R9", "contract", REF_CONTRACT, None, [start_t0], NONE)),
    Case("R4 does not apply to a legitimate-interest service purpose", purpose(**LI, direct_marketing=False),
         [start_t0, wd_all], allow("li_customer", "R8", "legitimate_interest", REF_LI, None, [start_t0], NONE)),
    # --- R5 channels and lawful configuration ---------------------------------------------
    Case("R5 channel not in the purpose", purpose(channels=("email",)), [c_t0],
         deny("channel_not_allowed", "R5", REF_CHANNEL, []), channel="sms"),
    Case("v2: R5 direct marketing on a legal obligation allows nothing",
         purpose(legal_basis="legal_obligation"), [], deny("purpose_not_lawful", "R5", REF_NOT_LAWFUL, []),
         channel="post", known=False),
    Case("v2: R5 direct marketing on a contract allows nothing", purpose(legal_basis="contract"), [start_t0],
         deny("purpose_not_lawful", "R5", REF_NOT_LAWFUL, []), channel="phone"),
    # --- R6 ePrivacy gate -------------------------------------------------------------
    Case("R6 consumer, LI newsletter, no consent", purpose(**LI), [lead_t0], deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, [])),
    Case("R6 sms too", purpose(**LI), [lead_t0], deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, []), channel="sms"),
    Case("R6 sole trader is a natural person too", purpose(**LI), [lead_t0],
         deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, []), kind="sole_trader"),
    Case("R6 consumer with consent on an LI purpose", purpose(**LI), [c_t0], consent_allow("R6", c_t0, T0 + days(730))),
    Case("R6 soft opt-in for a customer", purpose(**SOFT), [p_t0],
         allow("soft_opt_in", "R6", "legitimate_interest", REF_SOFT_OPT_IN, T0 + days(730), [p_t0])),
    Case("R6 soft opt-in on sms", purpose(**SOFT), [p_t0],
         allow("soft_opt_in", "R6", "legitimate_interest", REF_SOFT_OPT_IN, T0 + days(730), [p_t0]), channel="sms"),
    Case("R6 soft opt-in while the relationship is active", purpose(**SOFT), [p_t0, start_t0],
         allow("soft_opt_in", "R6", "legitimate_interest", REF_SOFT_OPT_IN, None, [start_t0, p_t0])),
    Case("R6 soft opt-in after the relationship ended", purpose(**SOFT),
         [p_t0, start_t0, e := Ev("customer_ended", T0 + days(5))],
         allow("soft_opt_in", "R6", "legitimate_interest", REF_SOFT_OPT_IN, T0 + days(5) + days(730),
               [start_t0, e, p_t0])),
    Case("R6 soft opt-in needs a purchase", purpose(**SOFT), [start_t0], deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, [])),
    Case("R6 soft opt-in needs the purpose flag", purpose(**LI), [p_t0], deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, [])),
    Case("v2: R6 soft opt-in ends with a later prospect_declined", purpose(**SOFT), [p_t0, decl],
         deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, [])),
    Case("R6 ... on every channel (phone: R8)", purpose(**SOFT), [p_t0, decl],
         deny("prospect_declined", "R8", REF_LI, [decl]), channel="phone"),
    Case("R6 a purchase after the decline restores soft opt-in", purpose(**SOFT), [decl, p2 := Ev("purchase", T0 + days(2))],
         allow("soft_opt_in", "R6", "legitimate_interest", REF_SOFT_OPT_IN, T0 + days(2) + days(730), [p2])),
    Case("R6 soft opt-in window: 1 s before end", purpose(**SOFT), [p_edge_in],
         allow("soft_opt_in", "R6", "legitimate_interest", REF_SOFT_OPT_IN, NOW + SECOND, [p_edge_in])),
    Case("R6 soft opt-in window: exactly at the end", purpose(**SOFT), [p_edge_in],
         deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, []), now=p_edge_in.at + days(730)),
    Case("R6 soft opt-in window: 1 s after end", purpose(**SOFT), [p_edge_out], deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, [])),
    Case("R6 does not apply to phone", purpose(**LI), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, T0 + days(730), [lead_t0], OTHER), channel="phone"),
    Case("R6 does not apply to business contacts", purpose(**LI), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, T0 + days(730), [lead_t0]), kind="business_contact"),
    Case("R6 does not apply to service messages", purpose(**LI, direct_marketing=False), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, T0 + days(730), [lead_t0], NONE)),
    # --- R7 consent ---------------------------------------------------------------------
    Case("R7 no consent", purpose(), [], deny("no_consent", "R7", REF_CONSENT, []), known=False),
    Case("R7 consent for another channel only", purpose(), [c_sms], deny("no_consent", "R7", REF_CONSENT, [])),
    Case("R7 consent active", purpose(), [c_t0], consent_allow("R7", c_t0, T0 + days(730))),
    Case("R7 consent for a business contact is not ePrivacy consent", purpose(), [c_t0],
         consent_allow("R7", c_t0, T0 + days(730), REF_CONSENT), kind="business_contact"),
    Case("R7 phone consent", purpose(), [c_t0], consent_allow("R7", c_t0, T0 + days(730), REF_CONSENT, OTHER), channel="phone"),
    Case("R7 ttl: 1 s before expiry", purpose(), [c1 := given(NOW - days(730) + SECOND)], consent_allow("R7", c1, NOW + SECOND)),
    Case("R7 ttl: 1 s after expiry", purpose(), [c_expired], deny("consent_expired", "R7", REF_CONSENT, [c_expired])),
    Case("R7 no ttl: no expiry", purpose(consent_ttl_days=None), [c3 := given(NOW - days(5000))], consent_allow("R7", c3, None)),
    Case("R7 old notice: 1 s before the deadline", material(NOW + SECOND), [c_old_before],
         consent_allow("R7", c_old_before, NOW + SECOND)),
    Case("R7 old notice: 1 s after the deadline", material(NOW - SECOND), [c_old_before],
         deny("reconsent_required", "R7", REF_RECONSENT, [c_old_before])),
    Case("v2: R7 a consent on the new notice given during the grace period counts after it",
         material(NOW - days(5)), [c_new_before], consent_allow("R7", c_new_before, c_new_before.at + days(730))),
    Case("v2: R7 a consent on the old form after the change does not count", material(NOW - days(5)), [c_old_after],
         deny("reconsent_required", "R7", REF_RECONSENT, [c_old_after])),
    Case("R7 a consent on the old form before the deadline counts until it", material(NOW + days(5)), [c_old_after],
         consent_allow("R7", c_old_after, NOW + days(5))),
    Case("R7 a consent that names no notice version is judged as an old one", material(NOW - days(5)), [c_legacy],
         deny("reconsent_required", "R7", REF_RECONSENT, [c_legacy])),
    Case("R7 notices published after the change count too", material(NOW - days(5), since=("2", "3")),
         [c4 := g(NOW - days(1), "3")], consent_allow("R7", c4, c4.at + days(730))),
    Case("R7 without a material change every notice counts", purpose(notice_versions=("1", "2")),
         [c5 := g(NOW - days(1), "1")], consent_allow("R7", c5, c5.at + days(730))),
    Case("R7 an expired consent on the new notice", material(NOW - days(5)), [c6 := g(NOW - days(731), "2")],
         deny("consent_expired", "R7", REF_CONSENT, [c6])),
    # --- R7 double opt-in and sign-ups waiting for their confirmation (issue 17) --------------
    Case("R7 double opt-in: a consent nobody confirmed does not count", purpose(**DOI), [c_t0],
         deny("no_consent", "R7", REF_CONSENT, [])),
    Case("R7 double opt-in: a confirmed consent counts", purpose(**DOI), [cc_t0], consent_allow("R7", cc_t0, T0 + days(730))),
    Case("R7 double opt-in: a later unconfirmed consent does not replace the confirmed one", purpose(**DOI),
         [cc_t0, c_unconfirmed_later], consent_allow("R7", cc_t0, T0 + days(730))),
    Case("R7 without double opt-in the later consent is the one judged", purpose(), [cc_t0, c_unconfirmed_later],
         consent_allow("R7", c_unconfirmed_later, c_unconfirmed_later.at + days(730))),
    Case("R7 double opt-in: confirmation_pending while a sign-up waits", purpose(**DOI), [],
         deny("confirmation_pending", "R7", REF_CONFIRMATION, [waiting]), known=False, signups=[waiting]),
    Case("R7 double opt-in: an unconfirmed consent beside a waiting sign-up", purpose(**DOI), [c_t0],
         deny("confirmation_pending", "R7", REF_CONFIRMATION, [waiting]), signups=[waiting]),
    Case("R7 sign-up: 1 s before it expires", purpose(**DOI), [],
         deny("confirmation_pending", "R7", REF_CONFIRMATION, [waiting_edge]), known=False, signups=[waiting_edge],
         now=NOW),
    Case("R7 sign-up: at its expiry it no longer waits", purpose(**DOI), [], deny("no_consent", "R7", REF_CONSENT, []),
         known=False, signups=[waiting_edge], now=NOW + SECOND),
    Case("R7 a sign-up is confirmed by email: it does not concern sms", purpose(), [],
         deny("no_consent", "R7", REF_CONSENT, []), known=False, channel="sms", signups=[waiting]),
    Case("R7 a sign-up waiting after an expired consent", purpose(), [c_expired],
         deny("confirmation_pending", "R7", REF_CONFIRMATION, [c_expired, waiting]), signups=[waiting]),
    Case("R7 a valid consent is not held back by a waiting sign-up", purpose(**DOI), [cc_t0],
         consent_allow("R7", cc_t0, T0 + days(730)), signups=[waiting]),
    Case("R4 double opt-in: an unconfirmed consent after a withdrawal does not revive it", purpose(**DOI),
         [cc_t0, wd_news, c_unconfirmed_later], deny("withdrawn", "R4", REF_WITHDRAWN, [wd_news])),
    Case("R2 double opt-in: an unconfirmed consent after an objection does not lift it", purpose(**DOI),
         [obj_all, c_unconfirmed_later], deny("objected", "R2", REF_OBJECTED, [obj_all])),
    Case("R2 double opt-in: a confirmed consent after an objection lifts it", purpose(**DOI),
         [obj_all, cc_late := confirmed(T0 + days(2))], consent_allow("R7", cc_late, cc_late.at + days(730))),
    Case("R6 double opt-in on legitimate interest: only a confirmed consent is ePrivacy consent",
         purpose(**LI, **DOI), [c_t0], deny("no_eprivacy_consent", "R6", REF_NO_EPRIVACY, []), signups=[waiting]),
    Case("R6 double opt-in on legitimate interest: a confirmed consent", purpose(**LI, **DOI), [cc_t0],
         consent_allow("R6", cc_t0, T0 + days(730))),
    # --- R8 legitimate interest -----------------------------------------------------------
    Case("R8 B2B contact on an LI newsletter", purpose(**LI), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, T0 + days(730), [lead_t0]), kind="business_contact"),
    Case("v2: R8 a valid consent allows whatever the relationships", purpose(**LI), [c_t0],
         consent_allow("R8", c_t0, T0 + days(730), REF_CONSENT, OTHER), channel="phone"),
    Case("v2: R8 a valid consent beats an expired relationship", purpose(**LI, lead_inactivity_days=10), [lead_t0, c_t0],
         consent_allow("R8", c_t0, T0 + days(730), REF_CONSENT, OTHER), channel="post"),
    Case("R8 a business contact's consent by email carries the email obligations", purpose(**LI), [c_t0],
         consent_allow("R8", c_t0, T0 + days(730), REF_CONSENT), kind="business_contact"),
    Case("R8 an expired consent falls back to the relationship", purpose(**LI), [c_expired, lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, T0 + days(730), [lead_t0], OTHER), channel="phone"),
    Case("R8 active customer", purpose(**LI), [start_t0],
         allow("li_customer", "R8", "legitimate_interest", REF_LI, None, [start_t0], OTHER), channel="post"),
    Case("R8 customer ended: 1 s before window end", purpose(**LI), [start_long_ago, ended_edge],
         allow("li_customer", "R8", "legitimate_interest", REF_LI, customer_ended_at + days(730),
               [start_long_ago, ended_edge], OTHER), channel="post"),
    Case("R8 customer ended: 1 s after window end", purpose(**LI),
         [start_long_ago, e2 := Ev("customer_ended", NOW - days(730) - SECOND)],
         deny("li_window_expired", "R8", REF_LI, [start_long_ago, e2]), channel="post"),
    Case("R8 event: 1 s before 36 months", purpose(**LI), [ev_in],
         allow("li_event", "R8", "legitimate_interest", REF_LI, NOW + SECOND, [ev_in], OTHER), channel="post"),
    Case("R8 event: 1 s after 36 months", purpose(**LI), [e3 := Ev("event_attended", NOW - days(1095) - SECOND)],
         deny("li_window_expired", "R8", REF_LI, [e3]), channel="post"),
    Case("R8 lead: 1 s before inactivity window", purpose(**LI), [lead_in],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, NOW + SECOND, [lead_in], OTHER), channel="phone"),
    Case("R8 lead: exactly at the end of the inactivity window", purpose(**LI), [lead_in],
         deny("li_window_expired", "R8", REF_LI, [lead_in]), channel="phone", now=lead_in.at + days(730)),
    Case("R8 lead: 1 s after inactivity window", purpose(**LI), [e4 := Ev("lead_activity", NOW - days(730) - SECOND)],
         deny("li_window_expired", "R8", REF_LI, [e4]), channel="phone"),
    Case("R8 latest-expiring basis wins", purpose(**LI), [lead_700, ev_10],
         allow("li_event", "R8", "legitimate_interest", REF_LI, NOW - days(10) + days(1095), [ev_10], OTHER),
         channel="post"),
    Case("R8 an active customer outlasts every window", purpose(**LI), [ev_10, start_t0],
         allow("li_customer", "R8", "legitimate_interest", REF_LI, None, [start_t0], OTHER), channel="post"),
    Case("R8 prospect declined after every relationship event", purpose(**LI), [lead_t0, decl],
         deny("prospect_declined", "R8", REF_LI, [decl]), channel="phone"),
    Case("R8 new relationship after a decline", purpose(**LI), [decl_then_event_d, event_after_decl],
         allow("li_event", "R8", "legitimate_interest", REF_LI, T0 + days(1) + days(1095), [event_after_decl], OTHER),
         channel="phone"),
    Case("R8 no relationship", purpose(**LI), [], deny("no_relationship", "R8", REF_LI, []), channel="post", known=False),
    # --- R9 contract, R10 legal obligation ---------------------------------------------
    Case("R9 active contract", purpose(legal_basis="contract", direct_marketing=False), [start_t0],
         allow("contract_active", "R9", "contract", REF_CONTRACT, None, [start_t0], NONE)),
    Case("R9 ended contract", purpose(legal_basis="contract", direct_marketing=False),
         [start_t0, e5 := Ev("customer_ended", T0 + days(1))], deny("no_contract", "R9", REF_CONTRACT, [start_t0, e5])),
    Case("R10 legal obligation", purpose(legal_basis="legal_obligation", direct_marketing=False), [],
         allow("legal_obligation", "R10", "legal_obligation", REF_LEGAL_OBLIGATION, None, [], NONE), known=False),
]  # fmt: skip

# --- R1 opt-out registers (issue 19) --------------------------------------------------------------


def register(name: str = "nix-telefon", age: int = 10, listed: bool = True, channel: str | None = None) -> RegisterFact:
    """A register whose snapshot in force is ``age`` days old (by its version date)."""
    builtin = {"nix-telefon": "phone", "nix-adresserat": "post", "spar-reklamsparr": "post"}
    return RegisterFact(name=name, channel=channel or builtin[name], snapshot_id=uuid.uuid4(),  # type: ignore[arg-type]
                        version_date=NOW.date() - days(age), listed=listed)  # fmt: skip


def snap(*registers: RegisterFact) -> list[Any]:
    """Registers as evidence (the snapshot id)."""
    return [SimpleNamespace(id=r.snapshot_id) for r in registers]


def version(r: RegisterFact) -> RegisterVersion:
    return RegisterVersion(name=r.name, version_date=r.version_date, snapshot_id=r.snapshot_id)


DEF = {"registers": None}  # a purpose saved without ``registers``: the channel's defaults
nix = register()
nix_clear = register(listed=False)
nix_end = valid_until(nix.version_date or date.min)
nix_59, nix_60, nix_61 = register(age=59, listed=False), register(age=60, listed=False), register(age=61, listed=False)
adr, spar_old = register("nix-adresserat", listed=False), register("spar-reklamsparr", age=70, listed=False)
spar = register("spar-reklamsparr", age=20, listed=True)
own_sms = register("egen", listed=True, channel="sms")
c_ph_10 = given(NOW - days(10), channels=("phone",))
adr_unknown = msgspec.structs.replace(adr, checkable=False)  # the person's personal number was never given
c_sms_10 = given(NOW - days(10), channels=("sms",))
c_ph_100 = given(NOW - days(100), channels=("phone",))
p_300 = Ev("purchase", NOW - days(300))

CASES += [
    Case("R1 registers: a number in NIX-Telefon is blocked", purpose(**LI, **DEF), [lead_t0],
         {**deny("suppressed", "R1", REF_REGISTER, snap(nix)), "registers": (version(nix),)}, channel="phone",
         registers=[nix]),
    Case("R1 registers: an unknown person in NIX-Telefon is blocked", purpose(**LI, **DEF), [],
         deny("suppressed", "R1", REF_REGISTER, snap(nix)), channel="phone", registers=[nix], known=False),
    Case("R1 registers: not in the register, the allow ends with the wash", purpose(**LI, **DEF), [lead_t0],
         {**allow("li_lead", "R8", "legitimate_interest", REF_LI, nix_end, [lead_t0], OTHER),
          "registers": (version(nix_clear),)}, channel="phone", registers=[nix_clear]),
    Case("R1 registers: never imported, phone marketing is not allowed", purpose(**LI, **DEF), [lead_t0],
         deny("register_stale", "R1", REF_REGISTER_STALE, []), channel="phone"),
    Case("R1 registers: 1 s before the wash's validity ends", purpose(**LI, **DEF), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, nix_end, [lead_t0], OTHER), channel="phone",
         now=nix_end - SECOND, registers=[nix_clear]),
    Case("R1 registers: at the end of the wash's validity", purpose(**LI, **DEF), [lead_t0],
         deny("register_stale", "R1", REF_REGISTER_STALE, snap(nix_clear)), channel="phone", now=nix_end,
         registers=[nix_clear]),
    Case("R1 registers: a version 59 days old is valid", purpose(**LI, **DEF), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, valid_until(NOW.date() - days(59)), [lead_t0], OTHER),
         channel="phone", registers=[nix_59]),
    Case("R1 registers: a version 60 days old is stale", purpose(**LI, **DEF), [lead_t0],
         deny("register_stale", "R1", REF_REGISTER_STALE, snap(nix_60)), channel="phone", registers=[nix_60]),
    Case("R1 registers: a version 61 days old is stale", purpose(**LI, **DEF), [lead_t0],
         deny("register_stale", "R1", REF_REGISTER_STALE, snap(nix_61)), channel="phone", registers=[nix_61]),
    Case("R1 registers: post checks NIX-Adresserat and SPAR, one stale", purpose(**LI, **DEF), [lead_t0],
         deny("register_stale", "R1", REF_REGISTER_STALE, snap(spar_old)), channel="post",
         registers=[adr, spar_old, nix]),
    Case("R1 registers: post, nobody gave the person's personal number", purpose(**LI, **DEF), [lead_t0],
         deny("register_unverifiable", "R1", REF_REGISTER_UNVERIFIABLE, snap(adr_unknown)), channel="post",
         registers=[adr_unknown, spar]),
    Case("R1 registers: a stale register answers before an uncheckable one", purpose(**LI, **DEF), [lead_t0],
         deny("register_stale", "R1", REF_REGISTER_STALE, snap(spar_old)), channel="post",
         registers=[adr_unknown, spar_old]),
    Case("R1 registers: post, listed in SPAR", purpose(**LI, **DEF), [lead_t0],
         {**deny("suppressed", "R1", REF_REGISTER, snap(spar)), "registers": (version(adr), version(spar))},
         channel="post", registers=[adr, spar]),
    Case("R1 registers: post, the earliest wash caps the allow", purpose(**LI, **DEF), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, valid_until(NOW.date() - days(20)), [lead_t0], OTHER),
         channel="post", registers=[adr, register("spar-reklamsparr", age=20, listed=False)]),
    Case("R1 registers: a consent within 90 days is an exception, capped by the wash", purpose(**LI, **DEF),
         [c_ph_10], consent_allow("R8", c_ph_10, nix_end, REF_CONSENT, OTHER), channel="phone", registers=[nix]),
    Case("R1 registers: a consent's exception ends at 90 days", purpose(**LI, **DEF), [c_ph_10],
         deny("suppressed", "R1", REF_REGISTER, snap(nix_later := register(age=10 - 80))), channel="phone",
         now=c_ph_10.at + days(90), registers=[nix_later]),
    Case("R1 registers: a consent 100 days old is no exception", purpose(**LI, **DEF), [c_ph_100],
         deny("suppressed", "R1", REF_REGISTER, snap(nix)), channel="phone", registers=[nix]),
    Case("R1 registers: a customer within 365 days (own similar products)", purpose(**SOFT, **DEF), [p_300],
         allow("li_customer", "R8", "legitimate_interest", REF_LI, min(p_300.at + days(365), nix_end), [p_300],
               OTHER), channel="phone", registers=[nix]),
    Case("R1 registers: a customer 365 days after is no exception", purpose(**SOFT, **DEF), [p_300],
         deny("suppressed", "R1", REF_REGISTER, snap(nix_year := register(age=-60))), channel="phone",
         now=p_300.at + days(365), registers=[nix_year]),
    Case("R1 registers: a stale wash denies even where an exception would hold", purpose(**SOFT, **DEF),
         [start_t0], deny("register_stale", "R1", REF_REGISTER_STALE, snap(nix_60)), channel="phone",
         registers=[nix_60]),
    Case("R1 registers: a service purpose checks none", purpose(legal_basis="contract", direct_marketing=False,
         **DEF), [start_t0], allow("contract_active", "R9", "contract", REF_CONTRACT, None, [start_t0], NONE),
         channel="phone"),
    Case("R1 registers: registers [] checks none", purpose(**LI), [lead_t0],
         allow("li_lead", "R8", "legitimate_interest", REF_LI, T0 + days(730), [lead_t0], OTHER), channel="phone"),
    Case("R1 registers: email checks no default register", purpose(**DEF), [c_t0],
         consent_allow("R7", c_t0, T0 + days(730)), registers=[nix]),
    Case("R1 registers: a register of another channel is not checked", purpose(**LI, registers=("nix-telefon",)),
         [lead_t0], allow("li_lead", "R8", "legitimate_interest", REF_LI, T0 + days(730), [lead_t0], OTHER),
         channel="post", registers=[nix]),
    Case("R1 registers: an own register on sms, a consent within 90 days", purpose(registers=("egen",)), [c_sms_10],
         consent_allow("R7", c_sms_10, valid_until(NOW.date() - days(10))), channel="sms", registers=[own_sms]),
    Case("R1 registers: an own register on sms, no consent", purpose(registers=("egen",)), [],
         deny("suppressed", "R1", REF_REGISTER, snap(own_sms)), channel="sms", registers=[own_sms]),
    Case("R1 registers: an own register never imported blocks every channel", purpose(registers=("egen",)),
         [c_t0], deny("register_stale", "R1", REF_REGISTER_STALE, []), registers=[nix]),
]  # fmt: skip

# The register case with two exceptions names the consent and the purchase: fill in its evidence.
_two = next(c for c in CASES if c.name.startswith("v2: R1 register: two exceptions"))
_two.expect["evidence"] = (_two.events[1].id, _two.events[0].id)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule_table(case: Case) -> None:
    f: Facts | None = facts(*case.events) if case.known else None
    answer = decide(case.purpose, f, case.kind, case.suppressions, case.channel, case.now, case.signups,  # type: ignore[arg-type]
                    case.registers)  # fmt: skip
    got = {k: getattr(answer, k) for k in case.expect}
    assert got == case.expect
    assert answer.subject_known is case.known


def test_every_reason_code_is_reached_by_the_table() -> None:
    assert {c.expect["reason"] for c in CASES} == set(REASONS)


def test_every_rule_is_reached_by_the_table() -> None:
    assert {c.expect["rule"] for c in CASES} == {f"R{i}" for i in range(1, 11)}


def test_every_kind_and_channel_is_covered() -> None:
    assert {c.kind for c in CASES} == set(SUBJECT_KINDS)
    assert {c.channel for c in CASES} == set(CHANNELS)


def test_seed_policy_windows() -> None:
    """The source policies: customers up to 2 years after, event contacts up to 36 months."""
    li = purpose(**SOFT)
    bought = Ev("purchase", NOW - days(365 * 2) + days(1))
    assert decide(li, facts(bought), "consumer", [], "email", NOW).reason == "soft_opt_in"
    event = Ev("event_attended", NOW - days(30 * 35))
    assert decide(li, facts(event), "business_contact", [], "email", NOW).reason == "li_event"


@pytest.mark.parametrize(
    ("name", "p", "events", "valid", "reason", "expires"),
    [
        ("none", purpose(), [], False, "no_consent", None),
        ("active", purpose(), [c_t0], True, "consent_active", T0 + days(730)),
        ("withdrawn", purpose(), [c_t0, wd_news], False, "withdrawn", None),
        ("expired", purpose(), [c_expired], False, "consent_expired", None),
        ("old notice after the deadline", material(NOW - SECOND), [c_old_before], False, "reconsent_required", None),
        ("old notice before the deadline", material(NOW + days(1)), [c_old_before], True, "consent_active",
         NOW + days(1)),
    ],
)  # fmt: skip
def test_the_consent_judgement(name: str, p: PurposeConfig, events: list[Ev], valid: bool, reason: str,
                               expires: datetime | None) -> None:  # fmt: skip
    """The one judgement R2, R6, R7, R8 and the register exception share."""
    judged = ConsentJudgement(p, facts(*events), "email", NOW)
    assert (judged.valid, judged.reason, judged.expires_at) == (valid, reason, expires), name
    assert judged.valid is valid
