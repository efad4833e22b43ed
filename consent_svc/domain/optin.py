"""Double opt-in and re-permission: the pure parts (docs/forms.md, docs/decision-rules.md R7).

* A sign-up sends at most one confirmation message to an address per
  ``QUIET_PERIOD``: signing up again meanwhile (by the API or a form) records the
  sign-up but sends nothing (no mail bombing through the API or a form).
* A confirmation message is not sent when nothing could come of it: when, for
  every purpose of the sign-up, an active suppression entry covers email that the
  confirmation does not lift. The confirmation lifts only ``unsubscribe`` entries
  (the person asking to come back, as in the preference center); a complaint, a
  hard bounce, an erasure, a manual block or a kept objection stays, so a message
  to such an address would only be contact nobody can turn into a consent.
* Re-permission: a subject needs it for a purpose while their consent counts only
  until a pending re-consent deadline (it names a notice a material change superseded).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from consent_svc.domain.facts import Facts
from consent_svc.domain.models import PurposeConfig, SuppressionFact
from consent_svc.domain.rules import SIGNUP_CHANNEL, ConsentJudgement, entry_matches

QUIET_PERIOD = timedelta(minutes=15)
# Suppression reasons a confirmed sign-up lifts (for its purposes only).
LIFTED_BY_CONFIRMATION = frozenset({"unsubscribe"})


def confirmation_blocked(purposes: Sequence[PurposeConfig], entries: Sequence[SuppressionFact]) -> bool:
    """True when every purpose is blocked on email by an entry the confirmation would not lift."""
    lasting = [e for e in entries if e.reason not in LIFTED_BY_CONFIRMATION]
    return bool(purposes) and all(any(entry_matches(e, p, SIGNUP_CHANNEL) for e in lasting) for p in purposes)


def quiet(last_message_at: datetime | None, now: datetime) -> bool:
    """A message went to this address less than ``QUIET_PERIOD`` ago: send none now."""
    return last_message_at is not None and now < last_message_at + QUIET_PERIOD


def material_change(current: PurposeConfig | None, published: PurposeConfig) -> bool:
    """Does ``published`` (already through ``domain.purposes.published``) make a new material
    change: does it supersede a notice that was not superseded before? (Moving the deadline of
    a change already made, or editing other fields, is not a new change.)"""
    before = current.notice_deadlines if current is not None else {}
    return any(notice not in before for notice in published.notice_deadlines)


def reconsent_deadline(purpose: PurposeConfig, facts: Facts, now: datetime) -> tuple[datetime, str | None] | None:
    """When the subject's consent stops counting because of a material change, and the notice it
    names: the earliest such deadline over the purpose's channels where the consent is valid now and
    names a superseded notice. None: no consent of theirs waits for re-permission."""
    found: list[tuple[datetime, str | None]] = []
    for channel in purpose.channels:
        judged = ConsentJudgement(purpose, facts, channel, now)
        if not judged.valid or judged.ref is None:
            continue
        deadline = purpose.notice_deadline(judged.ref.nv)
        if deadline is not None:
            found.append((deadline, judged.ref.nv))
    return min(found, key=lambda f: f[0]) if found else None
