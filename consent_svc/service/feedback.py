"""Feedback in: ``POST /in/{integration_id}``. Verify the provider's request, then apply what it
says in one transaction, once per provider event.

What each kind of feedback does (docs/integrations.md, "Mapping"); nothing here ever records a
consent or lifts an entry another source made, so feedback can only make a decision stricter:

- ``hard_bounce``: suppression ``hard_bounce``, the email, scope all, channel email;
- ``soft_bounce``: recorded in the integration's feedback log (counted), nothing suppressed;
- ``complaint``: suppression ``complaint`` (scope all: every direct-marketing purpose) and an
  ``objection`` to all direct marketing;
- ``unsubscribe``: what a one-click unsubscribe does (``consent_withdrawn`` and ``objection``,
  and an ``unsubscribe`` entry for each email and phone of the person), for the purpose the
  provider group is mapped to, or all direct marketing (no group, or one mapped to none);
- ``sms_stop``: ``consent_withdrawn`` and ``objection`` on sms for all direct marketing, and an
  ``unsubscribe`` entry for the number, scope all, channel sms;
- ``resubscribe`` / ``sms_start``: lift the ``unsubscribe`` entries this integration made for
  that address and scope; entries of any other source, and the recorded objections, stay (a
  provider-side resubscribe is not a consent that can be demonstrated: GDPR 7(1)).

Provenance: every event carries ``proof.provider_feedback`` (provider, integration, the
provider's event id, its time, the SHA-256 of the raw payload) and source ``integration``;
every entry the source ``integration:<id>`` and the same facts as JSON in its note; the
integration's feedback log keeps, per provider event, what it changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import httpx
import msgspec
import structlog

from consent_svc.domain.errors import NotFound
from consent_svc.domain.identifiers import Identifier
from consent_svc.integrations import (
    CertificateUnavailable,
    Feedback,
    Inbound,
    InboundRequest,
    SesSettings,
    SnsCertificates,
    VerificationFailed,
    confirm_subscription,
    receive,
)
from consent_svc.service.context import Context
from consent_svc.service.events import record_in
from consent_svc.service.inputs import EventIn, Proof, ProviderProof, SubjectRef
from consent_svc.service.integrations import settings_of, source_of
from consent_svc.service.suppressions import new_entry
from consent_svc.store import integrations as store
from consent_svc.store import purposes as purpose_store
from consent_svc.store import suppressions as suppression_store

_log = structlog.get_logger("consent_svc.integrations")


class Network(Protocol):
    """What SES feedback needs from the process: an HTTP client (to confirm SNS subscriptions)
    and the SNS certificate cache. Made on first use (other providers need neither)."""

    @property
    def client(self) -> httpx.AsyncClient: ...

    @property
    def certificates(self) -> SnsCertificates: ...


@dataclass(slots=True)
class Received:
    """What a delivery did: feedback items (``applied`` for the first time, ``duplicates`` seen
    before), events without a consent effect (``ignored``), an SNS subscription confirmed."""

    provider: str
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    subscription_confirmed: bool = False
    kinds: dict[str, int] = field(default_factory=dict)  # applied, per kind


async def receive_feedback(
    ctx: Context,
    integration_id: UUID,
    request: InboundRequest,
    *,
    network: Network | None,
) -> Received:
    """Verify ``request`` as the integration's provider signs it and apply it.

    Raises ``NotFound`` (no such live integration), ``VerificationFailed`` (nothing changed:
    the reason is logged, never answered), ``CertificateUnavailable`` (the SNS certificate or
    subscription confirmation could not be reached now: SNS tries again), ``InvalidInput``.
    """
    async with ctx.pool.acquire() as conn:
        stored = await store.by_id(conn, integration_id)
    if stored is None:
        raise NotFound(f"no integration {integration_id}")
    settings = settings_of(ctx, stored.provider, stored.tenant_id, stored.id, stored.settings, stored.sealed_secrets)
    # The SNS certificate cache only for SES without a pinned certificate (it makes an HTTP client).
    fetch = network is not None and isinstance(settings, SesSettings) and settings.signing_certificate_pem is None
    certificates = network.certificates if fetch and network is not None else None
    try:
        inbound = await receive(settings, request, now=ctx.clock(), certificates=certificates)
    except VerificationFailed as exc:
        _log.warning("provider request refused", integration_id=str(integration_id), provider=stored.provider,
                     reason=exc.detail)  # fmt: skip
        raise
    if inbound.subscribe_url is not None:
        if network is None:
            raise CertificateUnavailable("no HTTP client to confirm the SNS subscription with")
        try:
            await confirm_subscription(network.client, inbound.subscribe_url)
        except (httpx.HTTPError, RuntimeError) as exc:
            _log.warning("SNS subscription not confirmed", integration_id=str(integration_id),
                         error=type(exc).__name__)  # fmt: skip
            raise CertificateUnavailable("the SNS subscription could not be confirmed now") from None
        _log.info("SNS subscription confirmed", integration_id=str(integration_id))
        return Received(provider=stored.provider, subscription_confirmed=True)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if inbound.replay_token is not None and not await store.use_token(
            conn, stored.tenant_id, stored.id, inbound.replay_token, inbound.payload_sha256
        ):
            _log.warning("provider request refused", integration_id=str(integration_id), provider=stored.provider,
                         reason="a signature token already used for another payload")  # fmt: skip
            raise VerificationFailed("the signature token was used before for another payload")
        received = await _apply(conn, ctx, stored, inbound)
    if received.applied or received.ignored:
        _log.info("provider feedback", integration_id=str(integration_id), provider=stored.provider,
                  applied=received.applied, duplicates=received.duplicates, ignored=received.ignored)  # fmt: skip
    return received


@dataclass(slots=True)
class _Done:
    """What one provider event changed (its row in the feedback log)."""

    notes: list[str] = field(default_factory=list)
    suppression_ids: list[UUID] = field(default_factory=list)
    lifted_ids: list[UUID] = field(default_factory=list)
    event_ids: list[UUID] = field(default_factory=list)


class _Apply:
    def __init__(self, conn: Any, ctx: Context, stored: store.StoredIntegration, marketing: set[str]) -> None:
        self.conn = conn
        self.ctx = ctx
        self.stored = stored
        self.tenant_id = stored.tenant_id
        self.source = source_of(stored.id)
        self.marketing = marketing
        self.now = ctx.clock()
        self.done: dict[str, _Done] = {}

    def _proof(self, f: Feedback) -> ProviderProof:
        return ProviderProof(
            provider=f.provider, integration_id=self.stored.id, event_id=f.event_id,
            provider_event=f.provider_event[:200], occurred_at=f.occurred_at, payload_sha256=f.payload_sha256,
        )  # fmt: skip

    def _note(self, f: Feedback) -> str:
        return msgspec.json.encode(self._proof(f)).decode()

    def scope(self, f: Feedback) -> tuple[str | None, str]:
        """The purpose an unsubscribe or resubscribe concerns (None: all direct marketing), and why."""
        if f.group is None:
            return None, "all direct marketing"
        purpose = self.stored.purposes.get(f.group)
        if purpose is not None and purpose in self.marketing:
            return purpose, f"purpose {purpose} (group {f.group})"
        return None, f"all direct marketing (group {f.group} is mapped to no direct-marketing purpose)"

    def _events(self, f: Feedback, purpose: str | None, types: Sequence[str], channels: list[str]) -> list[EventIn]:
        subject = SubjectRef(email=f.email) if f.email is not None else SubjectRef(phone=f.phone)
        at = min(f.occurred_at, self.now)  # a provider clock a little ahead is not "in the future"
        proof = Proof(provider_feedback=self._proof(f))
        return [
            EventIn(subject=subject, type=t, purpose=purpose, channels=list(channels), occurred_at=at,  # type: ignore[arg-type]
                    source="integration", proof=proof)
            for t in types
        ]  # fmt: skip

    async def add(self, batch: Sequence[Feedback]) -> None:
        """Apply suppressing feedback, set-based: one ``record_in`` and one ``suppressions.add``."""
        if not batch:
            return
        events: list[EventIn] = []
        owners: list[Feedback] = []  # the feedback each event belongs to
        scopes: dict[str, str | None] = {}
        for f in batch:
            done = self.done.setdefault(f.event_id, _Done())
            if f.kind == "complaint":
                new = self._events(f, None, ["objection"], [])
                done.notes.append("complaint: suppressed for all direct marketing, objection recorded")
            elif f.kind == "unsubscribe":
                purpose, why = self.scope(f)
                scopes[f.event_id] = purpose
                new = self._events(f, purpose, ["consent_withdrawn", "objection"], [])
                done.notes.append(f"unsubscribe from {why}")
            elif f.kind == "sms_stop":
                new = self._events(f, None, ["consent_withdrawn", "objection"], ["sms"])
                done.notes.append("sms stop: unsubscribed from all direct marketing on sms")
            else:  # hard_bounce: an entry only
                new = []
                done.notes.append("hard bounce: the address is suppressed for every purpose on email")
            events += new
            owners += [f] * len(new)
        results = await record_in(self.conn, self.ctx, self.tenant_id, events) if events else []
        subject_of: dict[str, UUID] = {}
        for f, result in zip(owners, results, strict=True):
            self.done[f.event_id].event_ids.append(result.event_id)
            subject_of[f.event_id] = result.subject_id
        unsubscribed = [subject_of[f.event_id] for f in batch if f.kind == "unsubscribe"]
        contacts = await store.contact_identifiers(self.conn, self.tenant_id, unsubscribed) if unsubscribed else {}
        entries: list[suppression_store.NewSuppression] = []
        entry_owner: list[str] = []
        for f in batch:
            note = self._note(f)

            def entry(ident: Identifier, scope: str, channel: str | None, reason: str,
                      note: str = note, owner: str = f.event_id) -> None:  # fmt: skip
                entries.append(new_entry(self.ctx, ident, scope, channel, reason, self.source, note))
                entry_owner.append(owner)

            if f.kind == "hard_bounce" and f.email is not None:
                entry(Identifier("email", f.email), "all", "email", "hard_bounce")
            elif f.kind == "complaint" and f.email is not None:
                entry(Identifier("email", f.email), "all", None, "complaint")
            elif f.kind == "sms_stop" and f.phone is not None:
                entry(Identifier("phone", f.phone), "all", "sms", "unsubscribe")
            elif f.kind == "unsubscribe" and f.email is not None:
                scope = scopes[f.event_id] or "all"
                idents = {(t, v) for t, v, _h in contacts.get(subject_of[f.event_id], [])} | {("email", f.email)}
                for type_, value in sorted(idents):
                    entry(Identifier(type_, value), scope, None, "unsubscribe")  # type: ignore[arg-type]
        added = await suppression_store.add(self.conn, self.tenant_id, entries)
        for owner, (row, created) in zip(entry_owner, added, strict=True):
            done = self.done[owner]
            done.suppression_ids.append(row.id)
            if not created:
                done.notes.append(f"entry {row.id} ({row.reason}, {row.scope}) was already there")

    async def lift(self, batch: Sequence[Feedback]) -> None:
        """Provider-side resubscribes (or SMS STARTs): lift what this integration made, nothing else.
        Set-based: the people, their identifiers and this integration's entries in three queries."""
        if not batch:
            return
        keys = {f.event_id: self.ctx.hasher.key(_identifier(f)) for f in batch}
        subjects = await store.subjects_of(self.conn, self.tenant_id, list(keys.values()))
        contacts = await store.contact_identifiers(self.conn, self.tenant_id, list(subjects.values()))
        hashes_of: dict[str, set[bytes]] = {}
        for f in batch:
            key = keys[f.event_id]
            subject = subjects.get(key)
            # An email's resubscribe lifts what the unsubscribe made for each of the person's identifiers.
            others = {h for _t, _v, h in contacts.get(subject, [])} if subject and f.kind == "resubscribe" else set()
            hashes_of[f.event_id] = {key} | others
        made = await store.made_by(
            self.conn, self.tenant_id, self.source, sorted(set().union(*hashes_of.values())), reason="unsubscribe"
        )
        for f in batch:
            done = self.done.setdefault(f.event_id, _Done())
            if f.kind == "sms_start":
                scope, channel, why = "all", "sms", "all direct marketing on sms"
            else:
                purpose, why = self.scope(f)
                scope, channel = purpose or "all", None
            entries = [
                entry
                for ident_hash, entry in made
                if ident_hash in hashes_of[f.event_id] and entry.scope == scope and entry.channel == channel
                and entry.lifted_at is None
            ]  # fmt: skip
            reason = (
                f"{f.provider} {f.provider_event} (event {f.event_id[:200]}): lifts what integration "
                f"{self.stored.id} made; recorded objections stay until a new consent"
            )
            for entry in entries:
                lifted = await suppression_store.lift(self.conn, self.tenant_id, entry.id, reason)
                if lifted is not None and lifted.lift_reason == reason:
                    done.lifted_ids.append(lifted.id)
            if done.lifted_ids:
                done.notes.append(f"{f.kind}: lifted this integration's unsubscribe from {why}; objections stay")
            else:
                done.notes.append(f"{f.kind}: nothing of this integration's to lift for {why}")


def _identifier(f: Feedback) -> Identifier:
    return Identifier("phone", f.phone) if f.phone is not None else Identifier("email", f.email or "")


async def _apply(conn: Any, ctx: Context, stored: store.StoredIntegration, inbound: Inbound) -> Received:
    received = Received(provider=stored.provider, ignored=len(inbound.ignored))
    # In the order the provider says things happened (a batch may hold an unsubscribe and a
    # later resubscribe of one address); ties keep the payload's order.
    items = sorted(inbound.feedback, key=lambda f: f.occurred_at)
    fresh_ids = await store.claim_events(
        conn,
        stored.tenant_id,
        stored.id,
        [
            store.NewFeedback(f.event_id[:500], f.kind, f.provider_event, f.group, f.occurred_at, f.payload_sha256)
            for f in items
        ],
    )
    fresh = [f for f in items if f.event_id[:500] in fresh_ids]
    received.duplicates = len(items) - len(fresh)
    if not fresh:
        return received
    rows = await purpose_store.list_purposes(conn, stored.tenant_id)
    marketing = {r.key for r in rows if r.config.get("direct_marketing")}
    apply = _Apply(conn, ctx, stored, marketing)
    # Waves keep each address's order at the cost of a few statements, not one per event: an
    # event goes in the wave after the last resubscribe of its address before it; each wave
    # applies its suppressing events (set-based), then its resubscribes.
    waves: dict[int, tuple[list[Feedback], list[Feedback]]] = {}
    lifts_before: dict[str, int] = {}
    for f in fresh:
        received.kinds[f.kind] = received.kinds.get(f.kind, 0) + 1
        address = f.email or f.phone or ""
        wave = waves.setdefault(lifts_before.get(address, 0), ([], []))
        if f.kind in ("resubscribe", "sms_start"):
            wave[1].append(f)
            lifts_before[address] = lifts_before.get(address, 0) + 1
        elif f.kind == "soft_bounce":
            apply.done.setdefault(f.event_id, _Done()).notes.append("soft bounce: counted, not suppressed")
        else:
            wave[0].append(f)
    for number in sorted(waves):
        adds, lifts = waves[number]
        await apply.add(adds)
        await apply.lift(lifts)
    received.applied = len(fresh)
    await store.record_outcomes(
        conn,
        stored.tenant_id,
        stored.id,
        [
            store.Outcome(event_id[:500], "; ".join(d.notes), d.suppression_ids, d.lifted_ids, d.event_ids)
            for event_id, d in apply.done.items()
        ],
    )
    return received
