"""Double opt-in and re-permission, the pure parts (consent_svc.domain.optin)."""

from __future__ import annotations

import msgspec

from consent_svc.domain.optin import QUIET_PERIOD, confirmation_blocked, material_change, quiet, reconsent_deadline
from consent_svc.domain.purposes import published
from tests.domain.rules_helpers import NOW, SECOND, days, facts, given, purpose, suppression

EMAIL_ONLY = {"channels": ("email",)}


def test_the_quiet_period_to_the_second() -> None:
    assert not quiet(None, NOW)
    assert quiet(NOW - QUIET_PERIOD + SECOND, NOW)
    assert not quiet(NOW - QUIET_PERIOD, NOW)


def test_a_confirmation_is_not_sent_where_nothing_could_come_of_it() -> None:
    news, events = purpose(**EMAIL_ONLY), purpose(key="events", **EMAIL_ONLY)
    # An unsubscribe is what the confirmation lifts: the person may come back.
    assert not confirmation_blocked([news], [suppression()])
    # A hard bounce, a complaint or an erasure of the address blocks every purpose it covers.
    for reason in ("hard_bounce", "complaint", "erasure", "manual", "objection"):
        assert confirmation_blocked([news], [suppression(reason=reason)]), reason
    # Blocked for one purpose only: the other can still be confirmed.
    assert not confirmation_blocked([news, events], [suppression(reason="complaint", scope="newsletter")])
    assert confirmation_blocked([news, events], [suppression(reason="complaint")])
    # An entry for another channel does not concern an email confirmation.
    assert not confirmation_blocked([news], [suppression(reason="hard_bounce", channel="sms")])


def test_a_material_change_is_told_apart_from_other_edits() -> None:
    v1 = published(None, purpose(**EMAIL_ONLY), NOW)
    assert not material_change(None, v1)
    v2 = published(v1, msgspec.structs.replace(v1, notice_version="2", reconsent_required_before=NOW + days(30)), NOW)
    assert material_change(v1, v2)
    same = published(v2, msgspec.structs.replace(v2, description={"sv": "Ny text", "en": "New text"}), NOW)
    assert not material_change(v2, same)  # a later version of the same change announces nothing again
    moved = published(v2, msgspec.structs.replace(v2, reconsent_required_before=NOW + days(40)), NOW)
    assert not material_change(v2, moved)  # the same change, its deadline moved


def test_reconsent_deadline_names_consents_that_count_only_until_the_change() -> None:
    deadline = NOW + days(30)
    changed = purpose(
        reconsent_required_before=deadline, notice_versions=("1", "2"), notice_deadlines={"1": deadline}, **EMAIL_ONLY
    )
    assert reconsent_deadline(changed, facts(given(NOW - days(5), nv="1")), NOW) == (deadline, "1")
    assert reconsent_deadline(changed, facts(given(NOW - days(5), nv="2")), NOW) is None  # on the new notice
    assert reconsent_deadline(changed, facts(), NOW) is None
    # Past the deadline the consent no longer counts: nothing to re-permit, it is gone.
    assert reconsent_deadline(changed, facts(given(NOW - days(5), nv="1")), deadline) is None
