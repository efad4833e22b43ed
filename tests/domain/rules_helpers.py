"""Small builders for rule tests: purposes, events and suppression entries."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from consent_svc.domain.facts import Facts, fold
from consent_svc.domain.models import PurposeConfig, Ref, SignupFact, SuppressionFact

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
_seq = itertools.count(1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def purpose(**overrides: Any) -> PurposeConfig:
    values: dict[str, Any] = {
        "key": "newsletter",
        "legal_basis": "consent",
        "direct_marketing": True,
        "channels": ("email", "sms", "phone", "post"),
        "notice_version": "1",
        "title": {"sv": "Nyhetsbrev", "en": "Newsletter"},
        "description": {"sv": "Nyheter", "en": "News"},
        # The rule tables before opt-out registers: no register checked unless a test names them
        # (None: the channel's defaults, as a purpose saved without ``registers`` has).
        "registers": (),
    }
    values.update(overrides)
    return PurposeConfig(**values)


class Ev:
    """An event to fold: type, when, purpose, channels (and a consent's notice version)."""

    def __init__(
        self,
        type_: str,
        at: datetime,
        purpose: str | None = None,
        channels: tuple[str, ...] = (),
        nv: str | None = None,
        confirmed: bool = False,
    ) -> None:
        self.type = type_
        self.confirmed = confirmed
        self.at = at
        self.purpose = purpose
        self.channels = channels
        self.nv = nv
        self.id = uuid.uuid4()
        self.seq = next(_seq)

    def ref(self) -> Ref:
        return Ref(self.id, self.at, self.seq, self.nv)


def given(at: datetime, purpose: str = "newsletter", channels: tuple[str, ...] = (), nv: str | None = "1") -> Ev:
    return Ev("consent_given", at, purpose, channels, nv)


def confirmed(at: datetime, purpose: str = "newsletter", channels: tuple[str, ...] = ("email",)) -> Ev:
    """A consent the person confirmed by the link sent to their address (double opt-in)."""
    return Ev("consent_given", at, purpose, channels, "1", confirmed=True)


def signup(expires_at: datetime) -> SignupFact:
    """A sign-up waiting for its confirmation until ``expires_at``."""
    return SignupFact(id=uuid.uuid4(), expires_at=expires_at)


def facts(*events: Ev) -> Facts:
    f = Facts()
    for e in events:
        fold(f, e.type, e.purpose, e.channels, e.ref(), confirmed=e.confirmed)
    return f


def suppression(
    reason: str = "unsubscribe", scope: str = "all", channel: str | None = None, created_at: datetime | None = None
) -> SuppressionFact:
    return SuppressionFact(
        id=uuid.uuid4(),
        scope=scope,
        channel=channel,  # type: ignore[arg-type]
        reason=reason,  # type: ignore[arg-type]
        created_at=NOW - days(1) if created_at is None else created_at,
    )
