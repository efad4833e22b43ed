"""Purpose configuration the law rules out, and notice versions across a purpose's versions.

decision-rules.md, "Purpose configuration" and "Notice versions and material
changes". Pure: the service hands in the stored configuration and the new one.

* Direct marketing on ``contract`` or ``legal_obligation`` is refused: marketing
  is never necessary for a contract nor required by law (GDPR 6(1)(b)-(c)).
  ``soft_opt_in`` on a consent-based purpose is refused (ePrivacy 13(2) is an
  exception to consent). The key ``all`` is refused: it names every purpose in
  suppression scopes.
* A version that sets ``reconsent_required_before`` (with a notice version not
  published before) marks a material change: every notice published before it
  gets that deadline (an earlier deadline it already had stays), and consents
  naming such a notice count only until it. Notices published later count
  fully. Setting a deadline without a new notice version is refused (no consent
  could ever name the new text); so is re-publishing a superseded notice.
* While its deadline is in the future a change may be moved or withdrawn (the
  notices it superseded follow). Once the deadline has passed it can be neither
  removed nor moved later: that would revive consents the change ended.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.models import PurposeConfig

RESERVED_KEYS = frozenset({"all"})


def check_lawful(key: str, config: PurposeConfig) -> None:
    if key in RESERVED_KEYS:
        raise InvalidInput.field("key", f"{key!r} is reserved: it names every purpose in suppression scopes")
    if config.direct_marketing and config.legal_basis in ("contract", "legal_obligation"):
        raise InvalidInput.field(
            "direct_marketing",
            f"direct marketing cannot rest on {config.legal_basis} (marketing is neither necessary for a contract "
            "nor required by law); use consent or legitimate_interest",
        )
    if config.registers and not config.direct_marketing:
        raise InvalidInput.field("registers", "opt-out registers concern direct marketing only")
    if config.registers is not None and len(set(config.registers)) != len(config.registers):
        raise InvalidInput.field("registers", "lists a register twice")
    if config.soft_opt_in and config.legal_basis == "consent":
        raise InvalidInput.field("soft_opt_in", "applies only to purposes not based on consent (ePrivacy 13(2))")
    if config.double_opt_in and tuple(config.channels) != ("email",):
        raise InvalidInput.field(
            "double_opt_in",
            "a confirmation link sent by email proves the email address only: a purpose with double_opt_in uses "
            'channels ["email"] (confirmation of a phone number by an SMS code is not available)',
        )


def published(current: PurposeConfig | None, proposed: PurposeConfig, now: datetime) -> PurposeConfig:
    """``proposed`` with its ``notice_versions`` and ``notice_deadlines`` derived from the
    purpose's current stored configuration (None for a new purpose)."""
    before = current.notice_versions if current is not None else ()
    deadlines = dict(current.notice_deadlines) if current is not None else {}
    notice = proposed.notice_version
    new_notice = notice not in before
    deadline = proposed.reconsent_required_before
    old = current.reconsent_required_before if current is not None else None

    if deadline is not None and new_notice and deadline != old:
        # A new material change: every notice published so far is superseded.
        for earlier in before:
            deadlines[earlier] = min(deadlines.get(earlier, deadline), deadline)
    elif deadline != old:
        if deadline is not None and old is None:
            raise InvalidInput.field(
                "notice_version",
                f"a material change (reconsent_required_before) needs a new notice_version; {notice!r} was "
                "published before",
            )
        if old is not None and old <= now and (deadline is None or deadline > old):
            raise InvalidInput.field(
                "reconsent_required_before",
                f"the re-consent deadline {old.isoformat()} has passed; it cannot be removed or moved later "
                "(that would revive consents the material change ended). Publish a new notice version with a "
                "new deadline instead",
            )
        # The change in force moves (or, before its deadline, is withdrawn): its notices follow.
        for earlier, at in list(deadlines.items()):
            if at == old:
                if deadline is None:
                    del deadlines[earlier]
                else:
                    deadlines[earlier] = deadline
    if notice in deadlines:
        raise InvalidInput.field(
            "notice_version",
            f"{notice!r} was superseded by a material change; publish a new notice version",
        )
    versions = (*before, notice) if new_notice else before
    return msgspec.structs.replace(proposed, notice_versions=versions, notice_deadlines=deadlines)
