"""A second, deliberately naive implementation of the decision table.

Written straight from ../shared/spec/decision-rules.md ("Rules, first match
wins", "Notice versions and material changes") and from nothing else: it
reads the raw list of events (no folded facts), scans it again for every
question, and shares no helper with ``consent_svc.domain.rules``. It is slow
and obvious on purpose; ``test_oracle.py`` requires both to give the same
``allowed``, ``reason``, ``rule`` and ``expires_at`` for generated histories.

Each block quotes the sentence of the contract it implements (for the opt-out
registers, the text of issue 19).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from consent_svc.domain.models import PurposeConfig, RegisterFact, SignupFact, SuppressionFact

# "defaults: phone direct marketing -> nix-telefon; post -> nix-adresserat, spar-reklamsparr"
REGISTER_DEFAULTS = {"phone": ("nix-telefon",), "post": ("nix-adresserat", "spar-reklamsparr")}
REGISTER_CHANNELS = {"nix-telefon": "phone", "nix-adresserat": "post", "spar-reklamsparr": "post"}


def wash_end(version: date) -> datetime:
    """ "numbers checked against a register version may be called for two months from that
    version": 60 days, counted in Swedish dates (wall-clock arithmetic on a Stockholm instant)."""
    return datetime(version.year, version.month, version.day, tzinfo=ZoneInfo("Europe/Stockholm")) + timedelta(days=60)


@dataclass(frozen=True)
class OEvent:
    id: UUID
    type: str
    purpose: str | None
    channels: tuple[str, ...]
    at: datetime  # occurred_at
    seq: int  # recording order
    notice_version: str | None = None
    confirmed: bool = False  # confirmed by the person (double opt-in)


@dataclass(frozen=True)
class OAnswer:
    allowed: bool
    reason: str
    rule: str
    expires_at: datetime | None
    evidence: tuple[UUID, ...] = ()


# "Ordering: "latest" and "later" compare occurred_at; events with the same
# occurred_at are ordered by when they were recorded (the later recorded one wins)."
def _order(e: OEvent) -> tuple[datetime, int]:
    return (e.at, e.seq)


def _is_later(a: OEvent | None, b: OEvent | None) -> bool:
    """a exists and is later than b (or b does not exist)."""
    return a is not None and (b is None or _order(a) > _order(b))


def _latest(events: list[OEvent], **where: Any) -> OEvent | None:
    found = None
    for e in events:
        wanted = all(where[k](getattr(e, k)) if callable(where[k]) else getattr(e, k) == where[k] for k in where)
        if wanted and (found is None or _order(e) > _order(found)):
            found = e
    return found


def _covers(channel: str) -> Any:
    # "channels: the channels it covers (none named: all of them)"
    return lambda chans: not chans or channel in chans


def _min(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


class Oracle:
    def __init__(
        self,
        purpose: PurposeConfig,
        events: list[OEvent],
        kind: str,
        suppressions: list[SuppressionFact],
        channel: str,
        now: datetime,
        since: tuple[str, ...] = (),
        signups: tuple[SignupFact, ...] = (),
        registers: tuple[RegisterFact, ...] = (),
    ) -> None:
        self.p = purpose
        self.registers = registers
        self.signups = signups
        # The notice versions published at or after the material change in force.
        self.since = since
        self.events = events
        self.kind = kind
        self.sup = suppressions
        self.channel = channel
        self.now = now

    # --- questions the table asks -------------------------------------------------

    def latest_consent(self) -> OEvent | None:
        # Issue 17: "For such a purpose [double_opt_in] a consent_given counts only when it
        # carries a confirmation": the others are not consents at all.
        if self.p.double_opt_in:
            return _latest(
                self.events, type="consent_given", purpose=self.p.key, channels=_covers(self.channel), confirmed=True
            )
        return _latest(self.events, type="consent_given", purpose=self.p.key, channels=_covers(self.channel))

    def latest_withdrawal(self) -> OEvent | None:
        # "the latest consent_withdrawn for this purpose (or all) covering this channel"
        return _latest(
            self.events,
            type="consent_withdrawn",
            purpose=lambda k: k in (self.p.key, None),
            channels=_covers(self.channel),
        )

    def latest_objection(self) -> OEvent | None:
        # "an objection (all purposes, or this purpose; all channels, or the channels the objection names)"
        return _latest(
            self.events, type="objection", purpose=lambda k: k in (self.p.key, None), channels=_covers(self.channel)
        )

    def consent_state(self) -> tuple[str, OEvent | None, datetime | None]:
        """R7's judgement of the latest consent, and when it lapses by itself.

        "allow consent_active, expires at given + ttl (capped at a pending reconsent
        deadline), when the latest consent_given for this purpose covering this channel
        is valid; otherwise deny no_consent, consent_expired or reconsent_required".
        "consents naming an older version count only until the deadline ... and after
        it are denied reconsent_required, whenever they were given."
        When a consent "lapses (expiry, material notice change, withdrawal)"."""
        c = self.latest_consent()
        if c is None:
            return "no_consent", None, None
        deadline = None
        if self.p.reconsent_required_before is not None and c.notice_version not in self.since:
            deadline = self.p.reconsent_required_before
            if self.now >= deadline:
                return "reconsent_required", c, None
        ttl_end = None if self.p.consent_ttl_days is None else c.at + timedelta(days=self.p.consent_ttl_days)
        if ttl_end is not None and self.now >= ttl_end:
            return "consent_expired", c, None
        if _is_later(self.latest_withdrawal(), c):
            return "withdrawn", c, None
        return "valid", c, _min(ttl_end, deadline)

    def relationship(self) -> tuple[bool, OEvent | None]:
        """(active, the event it ended with)."""
        started = _latest(self.events, type="customer_started")
        ended = _latest(self.events, type="customer_ended")
        if started is not None and _is_later(started, ended):
            return True, None
        purchase = _latest(self.events, type="purchase")
        last = ended if _is_later(ended, purchase) else purchase
        return False, last

    def relationship_ids(self) -> list[UUID]:
        return [
            e.id
            for e in (
                _latest(self.events, type="customer_started"),
                _latest(self.events, type="customer_ended"),
                _latest(self.events, type="purchase"),
            )
            if e is not None
        ]

    def decline_in_force(self) -> OEvent | None:
        # "prospect_declined later than every relationship event"
        declined = _latest(self.events, type="prospect_declined")
        if declined is None:
            return None
        for t in ("customer_started", "customer_ended", "purchase", "event_attended", "lead_activity"):
            other = _latest(self.events, type=t)
            if other is not None and not _is_later(declined, other):
                return None
        return declined

    # --- the table ------------------------------------------------------------------

    def entry_applies(self, s: SuppressionFact) -> bool:
        # "an active suppression entry matches the identifier, scope and channel (or all channels)"
        if s.channel is not None and s.channel != self.channel:
            return False
        if s.reason == "register":
            # "apply only to direct marketing on the register's channel"
            return self.p.direct_marketing and s.scope in ("all", self.p.key)
        if s.scope == self.p.key:
            return True
        if s.scope == "all":
            # "for reasons unsubscribe, objection and complaint, every direct-marketing purpose
            # ...; for hard_bounce, erasure and manual, every purpose"
            if s.reason in ("unsubscribe", "objection", "complaint"):
                return self.p.direct_marketing
            return True
        return False

    def answer(self) -> OAnswer:
        p, now = self.p, self.now
        cap: datetime | None = None
        capped = False

        # R1
        matching = sorted((s for s in self.sup if self.entry_applies(s)), key=lambda s: (s.created_at, s.id))
        others = [s for s in matching if s.reason != "register"]
        if others:
            return OAnswer(False, "suppressed", "R1", None, (others[0].id,))
        # Registers: "a purpose option registers: [...] ... makes R1 check them"; "when the newest
        # snapshot of a required register is older than 60 days (or there is none) ... deny with
        # the new R1 reason register_stale"; "An allow never expires later than the snapshot's
        # validity"; "a purpose requiring a register that was never imported must not allow".
        wash: datetime | None = None
        listed = False
        if p.direct_marketing:
            names = p.registers if p.registers is not None else REGISTER_DEFAULTS.get(self.channel, ())
            for name in names:
                found = [r for r in self.registers if r.name == name]
                channel = found[0].channel if found else REGISTER_CHANNELS.get(name)
                if channel is not None and channel != self.channel:
                    continue  # a register of another channel
                if not found or found[0].version_date is None or now >= wash_end(found[0].version_date):
                    return OAnswer(False, "register_stale", "R1", None)
                wash = _min(wash, wash_end(found[0].version_date))
                listed = listed or found[0].listed
        if matching or listed:
            # "(a) a consent for this purpose covering this channel, given at most 90 days ago"
            ends: list[datetime | None] = []
            state, c, c_end = self.consent_state()
            if state == "valid" and c is not None and now < c.at + timedelta(days=90):
                ends.append(_min(c.at + timedelta(days=90), c_end))
            # "(b) the purpose has soft_opt_in and the customer relationship is active or ended at most 365 days ago"
            active, ended = self.relationship()
            if p.soft_opt_in and (active or (ended is not None and now < ended.at + timedelta(days=365))):
                ends.append(None if active else ended.at + timedelta(days=365))  # type: ignore[union-attr]
            if not ends:
                return OAnswer(False, "suppressed", "R1", None, (matching[0].id,) if matching else ())
            # "An allow given under an exception expires no later than the exception does"
            capped = True
            cap = None if None in ends else max(e for e in ends if e is not None)

        result = self.after_r1()
        if result.allowed and (capped or wash is not None):
            expires = _min(result.expires_at, cap) if capped else result.expires_at
            return OAnswer(True, result.reason, result.rule, _min(expires, wash), result.evidence)
        return result

    def after_r1(self) -> OAnswer:
        p, now, channel = self.p, self.now, self.channel
        state, consent, consent_end = self.consent_state()

        # R2 "purpose is direct marketing and the subject has an objection ... covering this
        # channel, unless a later consent_given for this purpose covers this channel and is
        # still valid as R7 judges it"
        if p.direct_marketing:
            objection = self.latest_objection()
            if objection is not None and not (state == "valid" and _is_later(consent, objection)):
                return OAnswer(False, "objected", "R2", None, (objection.id,))

        # R3 "an active restriction (Art 18), or the subject was erased"
        started = _latest(self.events, type="restriction_started")
        lifted = _latest(self.events, type="restriction_lifted")
        if _is_later(started, lifted):
            return OAnswer(False, "restricted", "R3", None, (started.id,))  # type: ignore[union-attr]
        erasures = sorted((s for s in self.sup if s.reason == "erasure"), key=lambda s: (s.created_at, s.id))
        if erasures:
            return OAnswer(False, "restricted", "R3", None, (erasures[0].id,))

        # R4 "purpose is consent-based or direct marketing, and the latest consent_withdrawn ...
        # is later than the latest consent_given"
        if p.legal_basis == "consent" or p.direct_marketing:
            withdrawal = self.latest_withdrawal()
            if withdrawal is not None and _is_later(withdrawal, self.latest_consent()):
                return OAnswer(False, "withdrawn", "R4", None, (withdrawal.id,))

        # R5 "channel not in the purpose's channels"; configuration the law rules out
        if channel not in p.channels:
            return OAnswer(False, "channel_not_allowed", "R5", None)
        if p.direct_marketing and p.legal_basis in ("contract", "legal_obligation"):
            return OAnswer(False, "purpose_not_lawful", "R5", None)

        # R6
        if (
            p.direct_marketing
            and channel in ("email", "sms")
            and self.kind in ("consumer", "sole_trader")
            and p.legal_basis != "consent"
        ):
            if state == "valid":
                return OAnswer(True, "consent_active", "R6", consent_end, (consent.id,))  # type: ignore[union-attr]
            active, ended = self.relationship()
            within = active or (ended is not None and now < ended.at + timedelta(days=p.customer_after_end_days))
            bought = _latest(self.events, type="purchase") is not None
            if p.soft_opt_in and bought and self.decline_in_force() is None and within:
                expires = None if active else ended.at + timedelta(days=p.customer_after_end_days)  # type: ignore[union-attr]
                return OAnswer(True, "soft_opt_in", "R6", expires, tuple(self.relationship_ids()))
            return OAnswer(False, "no_eprivacy_consent", "R6", None)

        # R7
        if p.legal_basis == "consent":
            if state == "valid":
                return OAnswer(True, "consent_active", "R7", consent_end, (consent.id,))  # type: ignore[union-attr]
            # Issue 17: "decisions answer deny confirmation_pending (R7) while a sign-up waits"; a
            # sign-up is confirmed by a link sent by email, so it waits on the email channel.
            if channel == "email" and any(now < s.expires_at for s in self.signups):
                return OAnswer(False, "confirmation_pending", "R7", None)
            return OAnswer(False, state, "R7", None, (consent.id,) if consent else ())

        # R8
        if p.legal_basis == "legitimate_interest":
            if state == "valid":
                return OAnswer(True, "consent_active", "R8", consent_end, (consent.id,))  # type: ignore[union-attr]
            declined = self.decline_in_force()
            if declined is not None:
                return OAnswer(False, "prospect_declined", "R8", None, (declined.id,))
            candidates: list[tuple[str, datetime | None, tuple[UUID, ...]]] = []
            had_any = False
            active, ended = self.relationship()
            if active:
                candidates.append(("li_customer", None, tuple(self.relationship_ids())))
                had_any = True
            elif ended is not None:
                had_any = True
                until = ended.at + timedelta(days=p.customer_after_end_days)
                if now < until:
                    candidates.append(("li_customer", until, tuple(self.relationship_ids())))
            for t, reason, days in (
                ("event_attended", "li_event", p.event_days),
                ("lead_activity", "li_lead", p.lead_inactivity_days),
            ):
                e = _latest(self.events, type=t)
                if e is not None:
                    had_any = True
                    until = e.at + timedelta(days=days)
                    if now < until:
                        candidates.append((reason, until, (e.id,)))
            if candidates:
                # "the latest-expiring of"; no expiry outlasts every date
                best = candidates[0]
                for cand in candidates[1:]:
                    if best[1] is None:
                        break
                    if cand[1] is None or cand[1] > best[1]:
                        best = cand
                return OAnswer(True, best[0], "R8", best[1], best[2])
            return OAnswer(False, "li_window_expired" if had_any else "no_relationship", "R8", None)

        # R9
        if p.legal_basis == "contract":
            active, _ = self.relationship()
            if active:
                return OAnswer(True, "contract_active", "R9", None, tuple(self.relationship_ids()))
            return OAnswer(False, "no_contract", "R9", None)

        # R10
        return OAnswer(True, "legal_obligation", "R10", None)


def oracle(
    purpose: PurposeConfig,
    events: list[OEvent],
    kind: str,
    suppressions: list[SuppressionFact],
    channel: str,
    now: datetime,
    since: tuple[str, ...] = (),
    signups: tuple[SignupFact, ...] = (),
    registers: tuple[RegisterFact, ...] = (),
) -> OAnswer:
    return Oracle(purpose, events, kind, suppressions, channel, now, since, signups, registers).answer()
