"""Data subject rights: access (Art 15), portability (Art 20), rectification (Art 16), erasure (Art 17)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from consent_svc.domain.errors import Conflict, InvalidInput, NotFound, Refused
from consent_svc.domain.identifiers import Identifier, exchange_sha256, normalize, one_identifier, stored_value
from consent_svc.domain.ids import uuid7
from consent_svc.domain.models import Decision, PurposeConfig, SubjectKind
from consent_svc.domain.records import (
    ErasureRow,
    EventRow,
    MessageRecord,
    Page,
    PastIdentifier,
    ReceiptRow,
    ReconsentLinkRow,
    SignupRow,
    SubjectRow,
    SubjectSummary,
    SuppressionRow,
)
from consent_svc.service import ledger
from consent_svc.service.context import Context
from consent_svc.service.decisions import purpose_from_config, subject_answer
from consent_svc.service.events import EventResult, record_in
from consent_svc.service.inputs import EventIn, Proof, SubjectPatchIn, SubjectRef
from consent_svc.store import events as event_store
from consent_svc.store import ledger as ledger_store
from consent_svc.store import outbox
from consent_svc.store import purposes as purpose_store
from consent_svc.store import signups as signup_store
from consent_svc.store import subjects as store
from consent_svc.store import suppressions as suppression_store


def lookup_identifier(
    email: str | None, phone: str | None, external_id: str | None, region: str, personal_number: str | None = None
) -> Identifier:
    given = {"email": email, "phone": phone, "external_id": external_id, "personal_number": personal_number}
    return one_identifier(given, region=region, field="query")


async def find_or_create(
    conn: Any, ctx: Context, tenant_id: UUID, identifiers: Sequence[Identifier], kind: SubjectKind | None = None
) -> UUID:
    """The subject these identifiers belong to, created when nobody has recorded any of them yet,
    in the caller's transaction. Identifiers of two different people are a Conflict."""
    hashes = [ctx.hasher.key(i) for i in identifiers]
    owners = await store.resolve(conn, tenant_id, hashes)
    if not owners:
        new = store.NewSubject(
            uuid7(),
            kind or "consumer",
            tuple(store.NewIdentifier(h, i.type, stored_value(i)) for i, h in zip(identifiers, hashes, strict=True)),
        )
        await store.create_subjects(conn, tenant_id, [new])
        owners = await store.resolve(conn, tenant_id, hashes)
    found = set(owners.values())
    if len(found) != 1:
        raise Conflict("these identifiers belong to different subjects; rectify or erase one of them first")
    return found.pop()


async def find(ctx: Context, tenant_id: UUID, ident: Identifier) -> UUID:
    async with ctx.pool.acquire() as conn:
        owners = await store.resolve(conn, tenant_id, [ctx.hasher.key(ident)])
    if not owners:
        raise NotFound("no subject with that identifier")
    return next(iter(owners.values()))


async def summaries(
    ctx: Context, tenant_id: UUID, ident: Identifier | None, after: UUID | None, limit: int
) -> Page[SubjectSummary]:
    """People, oldest first; with ``ident``, the one who has it (an empty list when nobody does)."""
    async with ctx.pool.acquire() as conn:
        only = None
        if ident is not None:
            owners = await store.resolve(conn, tenant_id, [ctx.hasher.key(ident)])
            if not owners:
                return Page([], None)
            only = next(iter(owners.values()))
        rows = await store.summaries(conn, tenant_id, after, limit + 1, only)
    return Page.of(rows, limit, lambda r: r.id)


async def history(ctx: Context, tenant_id: UUID, subject_id: UUID, after: int | None, limit: int) -> Page[EventRow]:
    """A person's events in ledger order."""
    async with ctx.pool.acquire() as conn:
        if await store.subject_by_id(conn, tenant_id, subject_id) is None:
            raise NotFound(f"no subject {subject_id}")
        rows = await event_store.events_of_subject(conn, tenant_id, subject_id, after, limit + 1)
    return Page.of(rows, limit, lambda e: e.seq)


async def erasure(ctx: Context, tenant_id: UUID, erasure_id: UUID) -> ErasureRow:
    async with ctx.pool.acquire() as conn:
        row = await store.erasure_by_id(conn, tenant_id, erasure_id)
    if row is None:
        raise NotFound(f"no erasure {erasure_id}")
    return row


async def erasures(ctx: Context, tenant_id: UUID, after: UUID | None, limit: int) -> Page[ErasureRow]:
    async with ctx.pool.acquire() as conn:
        rows = await store.erasures(conn, tenant_id, after, limit + 1)
    return Page.of(rows, limit, lambda r: r.id)


async def _purposes(conn: Any, tenant_id: UUID) -> list[PurposeConfig]:
    return [purpose_from_config(r.config) for r in await purpose_store.list_purposes(conn, tenant_id)]


async def _subject(conn: Any, tenant_id: UUID, subject_id: UUID) -> SubjectRow:
    subject = await store.subject_by_id(conn, tenant_id, subject_id)
    if subject is None:
        raise NotFound(f"no subject {subject_id}")
    return subject


@dataclass(frozen=True, slots=True)
class PurposeState:
    """The decision now for one purpose, on the purpose's first channel."""

    purpose: str
    channel: str
    decision: Decision


@dataclass(frozen=True, slots=True)
class SubjectView:
    id: UUID
    kind: str
    identifiers: list[tuple[str, str | None]]  # (type, value); no value for a personal number
    purposes: list[PurposeState]


@dataclass(frozen=True, slots=True)
class SubjectExport:
    """Everything held about the person (docs/subject-export.md)."""

    exported_at: datetime
    subject: SubjectView
    past_identifiers: list[PastIdentifier]
    events: list[EventRow]
    suppressions: list[SuppressionRow]
    banner_receipts: list[ReceiptRow]
    webhook_messages: list[MessageRecord]
    signups: list[SignupRow]
    reconsent_links: list[ReconsentLinkRow]


async def _state(conn: Any, ctx: Context, tenant_id: UUID, subject: SubjectRow) -> list[PurposeState]:
    out = []
    first_hash = subject.identifiers[0][1]
    for purpose in await _purposes(conn, tenant_id):
        channel = purpose.channels[0]
        answer = await subject_answer(conn, ctx, tenant_id, purpose, channel, first_hash)
        out.append(PurposeState(purpose.key, channel, answer))
    return out


async def _view(conn: Any, ctx: Context, tenant_id: UUID, subject: SubjectRow) -> SubjectView:
    identifiers = [(t, v) for t, _, v in subject.identifiers]
    return SubjectView(subject.id, subject.kind, identifiers, await _state(conn, ctx, tenant_id, subject))


async def view(ctx: Context, tenant_id: UUID, subject_id: UUID) -> SubjectView:
    async with ctx.pool.acquire() as conn:
        return await _view(conn, ctx, tenant_id, await _subject(conn, tenant_id, subject_id))


async def export(ctx: Context, tenant_id: UUID, subject_id: UUID) -> SubjectExport:
    """Everything held about the person, machine-readable (docs/subject-export.md)."""
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        subject = await _subject(conn, tenant_id, subject_id)
        past = await store.identifier_history(conn, tenant_id, subject_id)
        hashes = [h for _, h, _ in subject.identifiers] + [p.hash for p in past]
        return SubjectExport(
            exported_at=ctx.clock(),
            subject=await _view(conn, ctx, tenant_id, subject),
            past_identifiers=past,
            events=await event_store.events_of_subject(conn, tenant_id, subject_id),
            suppressions=await store.suppressions_of(conn, tenant_id, hashes),
            banner_receipts=await store.receipts_of(conn, tenant_id, subject_id),
            webhook_messages=await store.messages_of(conn, tenant_id, subject_id, hashes),
            signups=await signup_store.signups_of(conn, tenant_id, hashes),
            reconsent_links=await signup_store.reconsent_links_of(conn, tenant_id, subject_id),
        )


async def rectify(
    ctx: Context, tenant_id: UUID, subject_id: UUID, body: SubjectPatchIn, *, by: str | None = None
) -> SubjectView:
    """Replace or add identifiers (a new email replaces the old one) and set the kind; recorded in
    the ledger. The old identifier is kept as a keyed hash in the subject's identifier history:
    its suppression entries stay (they are keyed by the address), and an erasure reaches them."""
    region = ctx.settings.default_phone_region
    changes: list[Identifier] = []
    for type_ in ("email", "phone", "external_id", "personal_number"):
        raw = getattr(body, type_)
        if raw is not None:
            changes.append(normalize(type_, raw, region=region))
    if not changes and body.kind is None:
        raise InvalidInput.field("body", "change at least one of email, phone, external_id, personal_number, kind")
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await store.lock_subject(conn, tenant_id, subject_id):
            raise NotFound(f"no subject {subject_id}")
        current = await _subject(conn, tenant_id, subject_id)
        changed: list[str] = []
        for ident in changes:
            h = ctx.hasher.key(ident)
            owner = await store.resolve(conn, tenant_id, [h])
            if owner and owner[h] != subject_id:
                raise Conflict(
                    f"that {ident.type} already belongs to subject {owner[h]}; one identifier names one person "
                    "here. If both records are the same person, keep one: erase the other (DELETE "
                    f"/v1/subjects/{owner[h]}; its suppressions stay) and send this change again"
                )
            if owner:
                continue  # already this person's
            await store.replace_identifier(conn, tenant_id, subject_id, ident.type, h, stored_value(ident))
            changed.append(ident.type)
        proof: dict[str, Any] = {}
        if body.kind is not None and body.kind != current.kind:
            # Any change of kind, less protective ones included: a rectification is the only way down.
            await store.set_kind(conn, tenant_id, subject_id, body.kind)
            changed.append("kind")
            proof["kind"] = {"from": current.kind, "to": body.kind}
        if changed:
            proof["note"] = "rectified: " + ", ".join(changed) + (f" (by {by})" if by else "")
            await event_store.insert_events(conn, tenant_id, [
                event_store.NewEvent(
                    id=uuid7(), subject_id=subject_id, type="subject_rectified", purpose=None, channels=(),
                    occurred_at=ctx.clock(), source="api", proof=proof, idempotency_key=None, fingerprint=None,
                    subject_kind=body.kind if "kind" in changed else None,
                )
            ])  # fmt: skip
    return await view(ctx, tenant_id, subject_id)


def _erasure_entries(
    ctx: Context, subject: SubjectRow, past: list[PastIdentifier]
) -> list[suppression_store.NewSuppression]:
    """A keyed-hash ``erasure`` entry for every identifier the person has or had, the CRM id
    included; an email's keeps its exchange SHA-256 (held solely for suppression)."""
    found: dict[bytes, tuple[str, bytes | None]] = {}
    for type_, h, value in subject.identifiers:
        found[h] = (type_, exchange_sha256(Identifier("email", value)) if type_ == "email" and value else None)
    for p in past:
        found.setdefault(p.hash, (p.type, p.sha256 if p.type == "email" else None))
    return [
        suppression_store.NewSuppression(
            id=uuid7(), ident_hash=h, ident_type=type_, value=None, sha256=sha, scope="all", channel=None,
            reason="erasure", source="erasure", note=None,
        )
        for h, (type_, sha) in found.items()
    ]  # fmt: skip


class _DryRun(Exception):
    """Not an error: the way out of a transaction that must not commit."""

    def __init__(self, erasure: ErasureRow) -> None:
        self.erasure = erasure


async def erase(
    ctx: Context, tenant_id: UUID, subject_id: UUID, reason: str | None, *, dry_run: bool = False
) -> ErasureRow:
    """Erasure in one transaction: identifiers (current and past), banner receipts and webhook
    messages about the person go, and the content of their events is replaced by its digest (the
    chain still verifies); a keyed-hash suppression entry with reason ``erasure`` stays for every
    identifier, so a stale list cannot make them contactable again. Returns the kept receipt.

    With ``dry_run`` the same transaction runs to its end and is rolled back: the receipt says
    exactly what an erasure now would do, and nothing changed (no webhook either)."""
    try:
        return await _erase(ctx, tenant_id, subject_id, reason, dry_run=dry_run)
    except _DryRun as planned:
        return planned.erasure


async def _erase(ctx: Context, tenant_id: UUID, subject_id: UUID, reason: str | None, *, dry_run: bool) -> ErasureRow:
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await store.lock_subject(conn, tenant_id, subject_id):
            raise NotFound(f"no subject {subject_id}")
        subject = await _subject(conn, tenant_id, subject_id)
        past = await store.identifier_history(conn, tenant_id, subject_id)
        entries = _erasure_entries(ctx, subject, past)
        kept = await suppression_store.add(conn, tenant_id, entries)
        hashes = [e.ident_hash for e in entries]
        await ledger_store.allow_ledger_rewrite(conn)
        events = await ledger.erase_events(conn, tenant_id, subject_id)
        await signup_store.erase(conn, tenant_id, subject_id, hashes)
        receipts, messages = await store.erase(conn, tenant_id, subject_id, hashes)
        counts: dict[str, int] = {}
        for t, _, _ in subject.identifiers:
            counts[t] = counts.get(t, 0) + 1
        erasure = await store.insert_erasure(conn, tenant_id, ErasureRow(
            id=uuid7(), subject_id=subject_id, erased_at=ctx.clock(), reason=reason, identifiers_removed=counts,
            events_erased=events, receipts_removed=receipts, messages_removed=messages, suppressions_kept=len(kept),
        ))  # fmt: skip
        email_sha256 = sorted(e.sha256.hex() for e in entries if e.ident_type == "email" and e.sha256 is not None)
        await outbox.enqueue(conn, tenant_id, [outbox.Message(
            type="subject.erased", subject_id=subject_id,
            payload={"subject_id": str(subject_id), "erasure_id": str(erasure.id),
                     "erased_at": erasure.erased_at.isoformat(), "email_sha256": email_sha256},
        )])  # fmt: skip
        if dry_run:
            raise _DryRun(erasure)  # rolls the transaction back
        return erasure


async def decisions_now(ctx: Context, tenant_id: UUID, subject_id: UUID) -> list[PurposeState]:
    """The decision now for every purpose on every one of its channels (the console's subject page)."""
    async with ctx.pool.acquire() as conn:
        subject = await _subject(conn, tenant_id, subject_id)
        first_hash = subject.identifiers[0][1]
        out = []
        for purpose in await _purposes(conn, tenant_id):
            for channel in purpose.channels:
                answer = await subject_answer(conn, ctx, tenant_id, purpose, channel, first_hash)
                out.append(PurposeState(purpose.key, channel, answer))
    return out


async def restrict(ctx: Context, tenant_id: UUID, subject_id: UUID, *, lift: bool, note: str) -> EventResult:
    """Start (Art 18) or lift a restriction of processing: a ``restriction_started`` or
    ``restriction_lifted`` event in the ledger, recorded as any other event is."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await store.lock_subject(conn, tenant_id, subject_id):
            raise NotFound(f"no subject {subject_id}")
        subject = await _subject(conn, tenant_id, subject_id)
        named = [(t, v) for t, _, v in subject.identifiers if v is not None]
        if not named:
            raise Refused(
                "this person is known only by a personal number, kept as a keyed hash: record the restriction "
                "with the number (POST /v1/events, type restriction_started or restriction_lifted)"
            )
        type_, value = named[0]
        ref = msgspec.convert({type_: value}, SubjectRef)
        item = EventIn(
            subject=ref, type="restriction_lifted" if lift else "restriction_started", source="api",
            proof=Proof(note=note[:2000]),
        )  # fmt: skip
        (result,) = await record_in(conn, ctx, tenant_id, [item])
        return result
