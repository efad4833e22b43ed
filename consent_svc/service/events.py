"""Recording events: validate, resolve subjects, append to the ledger and fold
the new events into each subject's facts, all in one transaction.

One code path serves one event and a batch of 10,000: a batch is all or
nothing, and costs a handful of set-based queries whatever its size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from consent_svc.domain import facts as facts_mod
from consent_svc.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from consent_svc.domain.identifiers import HASH_ONLY_TYPES, Identifier, normalize, stored_value, swedish_today
from consent_svc.domain.ids import uuid7, uuid7_many
from consent_svc.domain.models import PURPOSE_EVENTS, Ref, more_protective
from consent_svc.domain.records import EventRow
from consent_svc.service.context import Context
from consent_svc.service.inputs import EventIn, SubjectRef
from consent_svc.store import events as store
from consent_svc.store import subjects as subject_store

CLOCK_SKEW = timedelta(minutes=5)


async def get(ctx: Context, tenant_id: UUID, event_id: UUID) -> EventRow:
    """One event of the ledger (an erased person's with its content replaced by its digest)."""
    async with ctx.pool.acquire() as conn:
        row = await store.event_by_id(conn, tenant_id, event_id)
    if row is None:
        raise NotFound(f"no event {event_id}")
    return row


def notice_of(event_type: str, proof: dict[str, Any]) -> str | None:
    """The notice version a consent names (what the rules judge it by after a material change)."""
    if event_type != "consent_given":
        return None
    notice = proof.get("notice_version")
    return notice if isinstance(notice, str) else None


# gc=False: a batch makes one per event, and nothing in it can lead back to it (no cycle), so the
# collector need not walk them (GC during a 10,000-event batch ~40 -> ~27 ms).
class EventResult(msgspec.Struct, frozen=True, gc=False):
    event_id: UUID
    subject_id: UUID
    recorded_at: datetime
    created: bool


def subject_identifiers(ref: SubjectRef, region: str, prefix: str, today: date | None = None) -> list[Identifier]:
    """Normalize the identifiers of a subject reference; field names in errors carry ``prefix``."""
    found: list[Identifier] = []
    if ref.email is not None:
        found.append(normalize("email", ref.email, field=f"{prefix}.email"))
    if ref.phone is not None:
        found.append(normalize("phone", ref.phone, region=region, field=f"{prefix}.phone"))
    if ref.external_id is not None:
        found.append(normalize("external_id", ref.external_id, field=f"{prefix}.external_id"))
    if ref.personal_number is not None:
        found.append(normalize("personal_number", ref.personal_number, field=f"{prefix}.personal_number", today=today))
    if not found:
        raise InvalidInput.field(prefix, "needs at least one of email, phone, external_id, personal_number")
    return found


@dataclass(slots=True)
class _Prepared:
    index: int
    item: EventIn
    identifiers: list[Identifier]
    hashes: list[bytes]
    occurred_at: datetime
    fingerprint: bytes | None  # only with an idempotency key: what a replay of the key is compared by


def _fingerprint(item: EventIn, identifiers: Sequence[Identifier]) -> bytes:
    """What makes two requests "the same event" for an idempotency key. A
    defaulted ``occurred_at`` is left out, so a retry a second later matches."""
    canonical = (
        sorted((i.type, i.value) for i in identifiers),
        item.subject.kind,
        item.type,
        item.purpose,
        sorted(item.channels),
        item.occurred_at,
        item.source,
        item.proof,
    )
    return hashlib.sha256(msgspec.msgpack.encode(canonical)).digest()


# An event's identifiers and their keyed hashes, or why they are invalid.
_Identified = tuple[list[Identifier], list[bytes]] | InvalidInput


def _identify(items: Sequence[EventIn], ctx: Context, now: datetime, batch: bool) -> list[_Identified]:
    """Each event's subject identifiers, normalized and hashed: known before the first
    statement, so that statement can also say who has them (store.events.writing_context)."""
    region = ctx.settings.default_phone_region
    today = swedish_today(now)
    key = ctx.hasher.key
    identified: list[_Identified] = []
    for index, item in enumerate(items):
        field = f"events[{index}].subject" if batch else "subject"
        try:
            identifiers = subject_identifiers(item.subject, region, field, today)
        except InvalidInput as exc:
            identified.append(exc)
            continue
        identified.append((identifiers, [key(i) for i in identifiers]))
    return identified


def _validate(
    items: Sequence[EventIn],
    identified: Sequence[_Identified],
    purposes: dict[str, frozenset[str]],
    now: datetime,
    batch: bool,
) -> list[_Prepared]:
    errors: list[FieldError] = []
    prepared: list[_Prepared] = []
    for index, (item, found) in enumerate(zip(items, identified, strict=True)):
        prefix = f"events[{index}]" if batch else ""

        def name(field: str, prefix: str = prefix) -> str:
            return f"{prefix}.{field}" if prefix else field

        if isinstance(found, InvalidInput):
            errors.extend(found.errors)
            continue
        identifiers, hashes = found
        if item.purpose is not None and item.purpose not in purposes:
            errors.append(FieldError(name("purpose"), f"unknown purpose {item.purpose!r}"))
        if item.type == "consent_given":
            if item.purpose is None:
                errors.append(FieldError(name("purpose"), "consent_given needs a purpose"))
            if item.proof is None or item.proof.notice_version is None:
                errors.append(
                    FieldError(
                        name("proof.notice_version"),
                        "consent_given needs the version of the notice the person saw "
                        "(consent that cannot be demonstrated is not consent)",
                    )
                )
            elif item.purpose in purposes and item.proof.notice_version not in purposes[item.purpose]:
                known = ", ".join(sorted(purposes[item.purpose]))
                errors.append(
                    FieldError(
                        name("proof.notice_version"),
                        f"purpose {item.purpose!r} never published notice version "
                        f"{item.proof.notice_version!r} (published: {known})",
                    )
                )
        elif item.type not in PURPOSE_EVENTS and item.channels:
            errors.append(FieldError(name("channels"), f"{item.type} events do not name channels"))
        if len(set(item.channels)) != len(item.channels):
            errors.append(FieldError(name("channels"), "lists a channel twice"))
        occurred_at = item.occurred_at or now
        if occurred_at > now + CLOCK_SKEW:
            errors.append(FieldError(name("occurred_at"), "is in the future"))
        prepared.append(
            _Prepared(
                index=index,
                item=item,
                identifiers=identifiers,
                hashes=hashes,
                occurred_at=occurred_at,
                fingerprint=None if item.idempotency_key is None else _fingerprint(item, identifiers),
            )
        )
    if errors:
        detail = errors[0].field + ": " + errors[0].message
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        raise InvalidInput(detail, errors)
    return prepared


async def record(ctx: Context, tenant_id: UUID, items: Sequence[EventIn], *, batch: bool = False) -> list[EventResult]:
    """Record events in one transaction; return one result per event, in order.

    An event whose ``idempotency_key`` was recorded before is not written
    again: its result is the first one (``created=False``). Reusing a key for
    a different event is a :class:`Conflict`.
    """
    for index, item in enumerate(items):
        # Provider feedback is recorded by consent-svc itself, from a verified provider payload.
        prefix = f"events[{index}]." if batch else ""
        if item.proof is not None and item.proof.provider_feedback is not None:
            raise InvalidInput.field(f"{prefix}proof.provider_feedback", "is written by consent-svc, not by clients")
        if item.proof is not None and item.proof.imported is not None:
            raise InvalidInput.field(f"{prefix}proof.imported", "is written by consent-svc's import, not by clients")
        if item.source == "integration":
            raise InvalidInput.field(f"{prefix}source", "integration is written by consent-svc, not by clients")
    async with ctx.pool.acquire() as conn, conn.transaction():
        return await record_in(conn, ctx, tenant_id, items, batch=batch)


async def record_in(
    conn: Any, ctx: Context, tenant_id: UUID, items: Sequence[EventIn], *, batch: bool = False
) -> list[EventResult]:
    """:func:`record` inside a transaction the caller owns (to compose with other writes).

    Four phases: validate; set aside what idempotency keys answer already; resolve (or
    create) each event's subject; append the events and fold them into the subjects. A single
    event whose person is not in doubt is appended by the first statement, before it is
    validated (:func:`_write_ahead`), so a refusal, like any exception from here, leaves writes
    in the caller's transaction: the caller rolls it back (every caller lets it propagate)."""
    now = ctx.clock()
    identified = _identify(items, ctx, now, batch)
    hashes = sorted({h for found in identified if not isinstance(found, InvalidInput) for h in found[1]})
    keys = sorted({item.idempotency_key for item in items if item.idempotency_key})
    ahead = _write_ahead(items, identified, now)
    tenant = await store.writing_context(
        conn, tenant_id, hashes, keys, ahead[0] if ahead else None, ahead[1] if ahead else None
    )
    prepared = _validate(items, identified, tenant.notices, now, batch)
    plan = _plan(prepared, tenant.existing)
    if ahead is not None and tenant.appended is not None:
        await _fold_written_ahead(conn, tenant_id, plan, ahead, tenant)
    else:
        # The first statement claimed the new person's identifiers when nobody had any of them.
        attempted = ahead[0] if ahead is not None and not tenant.owners and not tenant.existing else None
        subject_of, created = await _subjects(conn, tenant_id, plan.to_write, tenant.owners, attempted, tenant.claimed)
        await _append_and_fold(conn, tenant_id, plan, subject_of, created, tenant.subscribed)
    for follower, leader in plan.followers:
        first = plan.results[leader.index]
        if follower.fingerprint != leader.fingerprint:
            raise Conflict(f"idempotency_key {follower.item.idempotency_key!r} is used for two different events")
        plan.results[follower.index] = EventResult(first.event_id, first.subject_id, first.recorded_at, False)
    return [plan.results[i] for i in range(len(items))]


@dataclass(slots=True)
class _Plan:
    results: dict[int, EventResult]  # answered already (an idempotency key seen before)
    to_write: list[_Prepared]
    followers: list[tuple[_Prepared, _Prepared]]  # (a later event, the first in this batch with its key)


def _write_ahead(
    items: Sequence[EventIn], identified: Sequence[_Identified], now: datetime
) -> tuple[subject_store.NewSubject, store.NewEvent] | None:
    """For a single event: the new person it would create and the event as it would be appended,
    planned before the first statement, so that statement can write them ahead when nothing is in
    doubt (store.events.writing_context): a new person's event, or a known person's, is then two
    statements between BEGIN and COMMIT. None for a batch, or an event whose identifiers are invalid."""
    if len(items) != 1 or isinstance(identified[0], InvalidInput):
        return None
    item = items[0]
    identifiers, hashes = identified[0]
    new_identifiers = tuple(
        subject_store.NewIdentifier(h, ident.type, stored_value(ident))
        for ident, h in zip(identifiers, hashes, strict=True)
    )
    person = subject_store.NewSubject(uuid7(), item.subject.kind or "consumer", new_identifiers)
    # As _validate prepares it (refused there after the statement: the transaction is rolled back).
    fingerprint = None if item.idempotency_key is None else _fingerprint(item, identifiers)
    prepared = _Prepared(0, item, identifiers, hashes, item.occurred_at or now, fingerprint)
    return person, _new_event(prepared, person.id, uuid7(), True)


async def _fold_written_ahead(
    conn: Any,
    tenant_id: UUID,
    plan: _Plan,
    ahead: tuple[subject_store.NewSubject, store.NewEvent],
    tenant: store.WritingContext,
) -> None:
    """The event the first statement appended (for its new person, or for the known person it
    locked): its webhook messages, and its subject's facts folded and written."""
    [p] = plan.to_write
    person, event = ahead
    row, subject_id = tenant.appended, tenant.appended_to
    assert row is not None
    assert subject_id is not None
    event = msgspec.structs.replace(event, subject_id=subject_id)
    await store.enqueue_messages(conn, tenant_id, [event], tenant.subscribed)
    if tenant.locked is None:
        assert subject_id == person.id
        kind, facts = person.kind, facts_mod.Facts()
    else:
        kind, facts = tenant.locked.kind, facts_mod.decode(tenant.locked.facts)
    kind = _fold_into(kind, facts, p, event, row)
    plan.results[p.index] = EventResult(event.id, subject_id, row.recorded_at, True)
    if tenant.locked is None:
        await subject_store.insert_subjects(conn, tenant_id, [(subject_id, kind, facts_mod.encode(facts))])
    else:
        await subject_store.update_subjects(conn, tenant_id, [(subject_id, kind, facts_mod.encode(facts))])


def _plan(prepared: list[_Prepared], existing: dict[str, store.ExistingEvent]) -> _Plan:
    """Idempotency: keys seen before (``existing``: in the database, or earlier in this batch)
    write nothing."""
    plan = _Plan({}, [], [])
    first_in_batch: dict[str, _Prepared] = {}
    for p in prepared:
        key = p.item.idempotency_key
        if key is not None and key in existing:
            plan.results[p.index] = _replay(existing[key], p)
        elif key is not None and key in first_in_batch:
            plan.followers.append((p, first_in_batch[key]))
        else:
            if key is not None:
                first_in_batch[key] = p
            plan.to_write.append(p)
    return plan


async def _subjects(
    conn: Any,
    tenant_id: UUID,
    to_write: list[_Prepared],
    known: dict[bytes, UUID],
    ahead: subject_store.NewSubject | None = None,
    claimed_ahead: dict[bytes, UUID] | None = None,
) -> tuple[dict[int, UUID], dict[UUID, str]]:
    """Each event's subject (by the event's index), and the subjects created here (id to kind).
    ``known``: who had the identifiers when this transaction first asked (a superset of those here).
    ``ahead``: the new person whose identifiers the first statement claimed (``claimed_ahead``:
    those it wrote; fewer than all when a concurrent writer created the same person meanwhile).

    New people's identifiers are claimed now; their subject rows are inserted once, at the
    end, with their folded facts (no insert-then-update). An identifier an event names that
    its subject does not have yet is attached; one the subject cannot take (it has another
    value of that type, or it belongs to someone else) is a Conflict, never dropped."""
    all_hashes = sorted({h for p in to_write for h in p.hashes})
    owners = {h: known[h] for h in all_hashes if h in known}
    new_subjects = _plan_new_subjects(to_write, owners) if ahead is None else []
    created: dict[UUID, str] = {}
    if ahead is not None and claimed_ahead is not None:
        owners.update(claimed_ahead)
        if claimed_ahead:
            created = {ahead.id: ahead.kind}
        # Identifiers a concurrent writer took meanwhile (none, nearly always: no statement then).
        owners.update(await subject_store.resolve(conn, tenant_id, [h for h in all_hashes if h not in owners]))
    if new_subjects:
        claimed = await subject_store.claim_identifiers(conn, tenant_id, new_subjects)
        owners.update(claimed)
        winners = set(claimed.values())
        created = {s.id: s.kind for s in new_subjects if s.id in winners}
        # Only identifiers a concurrent writer took meanwhile are left to look up.
        missing = [h for h in all_hashes if h not in owners]
        owners.update(await subject_store.resolve(conn, tenant_id, missing))
    subject_of: dict[int, UUID] = {}
    extra: dict[UUID, dict[bytes, subject_store.NewIdentifier]] = {}
    for p in to_write:
        if len(p.hashes) == 1:
            # One identifier (the common case): its owner, nothing to attach.
            owner = owners.get(p.hashes[0])
            if owner is not None:
                subject_of[p.index] = owner
                continue
        found = {owners[h] for h in p.hashes if h in owners}
        if len(found) != 1:
            raise Conflict(
                f"the identifiers of event {p.index} belong to different subjects; "
                "record them separately or rectify the subjects first"
            )
        subject_id = found.pop()
        subject_of[p.index] = subject_id
        for ident, h in zip(p.identifiers, p.hashes, strict=True):
            if h not in owners:
                extra.setdefault(subject_id, {})[h] = subject_store.NewIdentifier(h, ident.type, stored_value(ident))
    for subject_id, idents in extra.items():
        refused = await subject_store.add_identifiers(conn, tenant_id, subject_id, list(idents.values()))
        if refused:
            types = ", ".join(sorted({idents[h].type for h in refused}))
            raise Conflict(
                f"subject {subject_id} already has another {types} (or it belongs to someone else): the event "
                f"names a new {types} for them, which would be dropped. Rectify the subject first "
                f"(PATCH /v1/subjects/{subject_id}), or record the event with the identifier it has"
            )
    return subject_of, created


async def _append_and_fold(
    conn: Any,
    tenant_id: UUID,
    plan: _Plan,
    subject_of: dict[int, UUID],
    created: dict[UUID, str],
    subscribed: frozenset[str],
) -> None:
    """Lock the subjects, append the events, fold each into its subject's facts and kind."""
    to_write = plan.to_write
    # Subjects created here are invisible to other transactions until commit: nothing to lock.
    known = [s for s in subject_of.values() if s not in created]
    locked = await subject_store.lock_subjects(conn, tenant_id, known)
    if gone := sorted(set(known) - locked.keys()):
        # Erased by a transaction that committed after this one read who has the identifiers.
        raise Conflict(f"subject {gone[0]} was erased while this event was being recorded; nothing was written")
    new_events = [
        _new_event(p, subject_of[p.index], event_id, bool(subscribed))
        for p, event_id in zip(to_write, uuid7_many(len(to_write)), strict=True)
    ]
    inserted = await store.insert_events(conn, tenant_id, new_events, subscribed)
    raced = [p.item.idempotency_key for p, e in zip(to_write, new_events, strict=True) if e.id not in inserted]
    # A concurrent request with the same key committed first: answer with its event.
    late = await store.existing_by_idempotency_key(conn, tenant_id, [k for k in raced if k]) if raced else {}
    # Each touched subject's facts are decoded once, folded with all its events here, encoded once:
    # by subject, [its kind, its facts, whether it was created here].
    folded: dict[UUID, list[Any]] = {}
    results = plan.results
    for p, event in zip(to_write, new_events, strict=True):
        row = inserted.get(event.id)
        if row is None:
            key = p.item.idempotency_key
            assert key is not None
            results[p.index] = _replay(late[key], p)
            continue
        subject_id = event.subject_id
        state = folded.get(subject_id)
        if state is None:
            new_kind = created.get(subject_id)
            if new_kind is not None:
                state = [new_kind, facts_mod.Facts(), True]
            else:
                subject = locked[subject_id]
                state = [subject.kind, facts_mod.decode(subject.facts), False]
            folded[subject_id] = state
        state[0] = _fold_into(state[0], state[1], p, event, row)
        results[p.index] = EventResult(event.id, subject_id, row.recorded_at, True)
    encode = facts_mod.encode
    await subject_store.insert_subjects(
        conn,
        tenant_id,
        [
            (sid, kind, None) if (state := folded.get(sid)) is None else (sid, state[0], encode(state[1]))
            for sid, kind in created.items()
        ],
    )
    await subject_store.update_subjects(
        conn, tenant_id, [(sid, kind, encode(facts)) for sid, (kind, facts, new) in folded.items() if not new]
    )


def _fold_into(kind: str, facts: facts_mod.Facts, p: _Prepared, event: store.NewEvent, row: store.InsertedEvent) -> str:
    """Fold an appended event into its subject's ``facts``; return the subject's kind after it (an
    event moves a subject only towards more protection; the other way is a rectification)."""
    ref = Ref(event.id, event.occurred_at, row.seq, notice_of(event.type, event.proof))
    confirmed = facts_mod.is_confirmed(event.type, event.proof)
    facts_mod.fold(facts, event.type, event.purpose, event.channels, ref, confirmed=confirmed)
    return more_protective(kind, p.item.subject.kind)  # type: ignore[arg-type]


def _new_event(p: _Prepared, subject_id: UUID, event_id: UUID, messages: bool) -> store.NewEvent:
    """``messages``: the tenant's webhooks want messages of some events (which carry the identifiers)."""
    return store.NewEvent(
        id=event_id,
        subject_id=subject_id,
        type=p.item.type,
        purpose=p.item.purpose,
        channels=tuple(p.item.channels),
        occurred_at=p.occurred_at,
        source=p.item.source,
        proof=msgspec.to_builtins(p.item.proof) if p.item.proof is not None else {},
        idempotency_key=p.item.idempotency_key,
        fingerprint=p.fingerprint,
        # For the webhook message: never a personal number (held only as a keyed hash).
        identifiers={i.type: i.value for i in p.identifiers if i.type not in HASH_ONLY_TYPES} if messages else {},
        subject_kind=p.item.subject.kind,
    )


def _replay(existing: store.ExistingEvent, p: _Prepared) -> EventResult:
    if existing.fingerprint is not None and existing.fingerprint != p.fingerprint:
        raise Conflict(f"idempotency_key {p.item.idempotency_key!r} was used before for a different event")
    return EventResult(existing.id, existing.subject_id, existing.recorded_at, False)


def _plan_new_subjects(items: Sequence[_Prepared], owners: dict[bytes, UUID]) -> list[subject_store.NewSubject]:
    """One new subject per group of unknown identifiers that appear together."""
    planned: dict[bytes, int] = {}  # an identifier's hash to its group
    # Per group: the kind, the identifiers by hash, their types (one of each type).
    groups: list[tuple[str, dict[bytes, subject_store.NewIdentifier], set[str]]] = []
    for p in items:
        hashes = p.hashes
        if len(hashes) == 1:
            # One identifier (the common case): known, or in a group already (nothing to add), or a new group.
            h = hashes[0]
            if h in owners or h in planned:
                continue
            ident = p.identifiers[0]
            planned[h] = len(groups)
            new_identifier = subject_store.NewIdentifier(h, ident.type, stored_value(ident))
            groups.append((p.item.subject.kind or "consumer", {h: new_identifier}, {ident.type}))
            continue
        if any(h in owners for h in hashes):
            continue
        group = next((planned[h] for h in hashes if h in planned), None)
        if group is None:
            group = len(groups)
            groups.append((p.item.subject.kind or "consumer", {}, set()))
        _, idents, types = groups[group]
        for ident, h in zip(p.identifiers, hashes, strict=True):
            if h not in idents and ident.type not in types:
                idents[h] = subject_store.NewIdentifier(h, ident.type, stored_value(ident))
                types.add(ident.type)
        for h in hashes:
            planned.setdefault(h, group)
    # Ids in the order the groups were first seen, as one uuid7() per group would give.
    return [
        subject_store.NewSubject(subject_id, kind, tuple(idents.values()))
        for subject_id, (kind, idents, _) in zip(uuid7_many(len(groups)), groups, strict=True)
    ]
