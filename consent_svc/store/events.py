"""The ledger: appending events, reading them back. Set-based: a batch of any size is a handful of queries.

The ledger has no update or delete function here, and the database refuses
both (the ``events_append_only`` trigger), so the history cannot be edited
through this code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from consent_svc.domain.records import EventRow
from consent_svc.store import outbox
from consent_svc.store.subjects import LockedSubject, NewSubject


# gc=False: a batch makes one per event, and nothing in it can lead back to it (no cycle), so the
# collector need not walk them (GC during a 10,000-event batch ~40 -> ~27 ms).
class NewEvent(msgspec.Struct, frozen=True, gc=False):
    id: UUID
    subject_id: UUID
    type: str
    purpose: str | None
    channels: tuple[str, ...]
    occurred_at: datetime
    source: str
    proof: dict[str, Any]
    idempotency_key: str | None
    fingerprint: bytes | None
    # The identifiers the request named (normalized), for the webhook message; not stored with the event.
    identifiers: dict[str, str] = {}
    # The subject kind the event named (kept in the ledger: the stored kind can be rebuilt from it).
    subject_kind: str | None = None


# gc=False: a batch makes one per event, and nothing in it can lead back to it (no cycle), so the
# collector need not walk them (GC during a 10,000-event batch ~40 -> ~27 ms).
class InsertedEvent(msgspec.Struct, frozen=True, gc=False):
    id: UUID
    seq: int
    recorded_at: datetime


class ExistingEvent(msgspec.Struct, frozen=True):
    id: UUID
    subject_id: UUID
    recorded_at: datetime
    idempotency_key: str
    fingerprint: bytes | None


async def existing_by_idempotency_key(
    conn: asyncpg.Connection, tenant_id: UUID, keys: Sequence[str]
) -> dict[str, ExistingEvent]:
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT id, subject_id, recorded_at, idempotency_key, fingerprint FROM events "
        "WHERE tenant_id = $1 AND idempotency_key = ANY($2::text[])",
        tenant_id,
        list(keys),
    )
    return {r["idempotency_key"]: ExistingEvent(**dict(r)) for r in rows}


# From this many events a batch without idempotency keys is written with COPY (as
# store.subjects.COPY_FROM_ROWS, for the same reason): 10,000 events ~160 -> ~77 ms, the
# read-back of seq and recorded_at included (in-process, medians of alternating runs).
COPY_FROM_ROWS = 100
_EVENT_COLUMNS = [
    "tenant_id", "id", "subject_id", "type", "purpose", "channels", "occurred_at", "source", "proof",
    "fingerprint", "subject_kind",
]  # fmt: skip


async def insert_events(
    conn: asyncpg.Connection, tenant_id: UUID, events: Sequence[NewEvent], subscribed: frozenset[str] | None = None
) -> dict[UUID, InsertedEvent]:
    """Append events in the given order. An event whose idempotency key was
    taken meanwhile is skipped (absent from the result). ``subscribed``: the message
    types the tenant's webhooks want, when the caller read them in this transaction
    already (:func:`writing_context`); read here otherwise."""
    if not events:
        return {}
    if len(events) >= COPY_FROM_ROWS and all(e.idempotency_key is None for e in events):
        inserted = await _copy_events(conn, tenant_id, events)
    else:
        inserted = await _insert_events(conn, tenant_id, events)
    wanted = await outbox.subscribed(conn, tenant_id) if subscribed is None else subscribed
    await enqueue_messages(conn, tenant_id, [e for e in events if e.id in inserted], wanted)
    return inserted


async def enqueue_messages(
    conn: asyncpg.Connection, tenant_id: UUID, events: Sequence[NewEvent], wanted: frozenset[str]
) -> None:
    """The webhook messages of appended ``events`` that some live webhook of the tenant ``wanted``."""
    if not wanted:
        return
    await outbox.enqueue(
        conn,
        tenant_id,
        [
            outbox.Message(
                type=outbox.EVENT_MESSAGES[e.type],
                subject_id=e.subject_id,
                payload={
                    "event_id": str(e.id),
                    "subject_id": str(e.subject_id),
                    "purpose": e.purpose,
                    "channels": list(e.channels),
                    "occurred_at": e.occurred_at.isoformat(),
                    "source": e.source,
                    **e.identifiers,
                },
            )
            for e in events
            if outbox.EVENT_MESSAGES.get(e.type) in wanted
        ],
    )


async def _insert_events(
    conn: asyncpg.Connection, tenant_id: UUID, events: Sequence[NewEvent]
) -> dict[UUID, InsertedEvent]:
    rows = await conn.fetch(
        """
        INSERT INTO events (tenant_id, id, subject_id, type, purpose, channels, occurred_at,
                            source, proof, idempotency_key, fingerprint, subject_kind)
        SELECT $1, u.id, u.subject_id, u.type, u.purpose, string_to_array(u.channels, ','),
               u.occurred_at, u.source, u.proof, u.idem, u.fp, u.kind
        FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                    $7::timestamptz[], $8::text[], $9::jsonb[], $10::text[], $11::bytea[], $12::text[])
             WITH ORDINALITY AS u(id, subject_id, type, purpose, channels, occurred_at,
                                  source, proof, idem, fp, kind, ord)
        ORDER BY u.ord
        ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id, seq, recorded_at
        """,
        tenant_id,
        [e.id for e in events],
        [e.subject_id for e in events],
        [e.type for e in events],
        [e.purpose for e in events],
        [",".join(e.channels) for e in events],
        [e.occurred_at for e in events],
        [e.source for e in events],
        [e.proof for e in events],
        [e.idempotency_key for e in events],
        [e.fingerprint for e in events],
        [e.subject_kind for e in events],
    )
    return {r["id"]: InsertedEvent(r["id"], r["seq"], r["recorded_at"]) for r in rows}


async def _copy_events(
    conn: asyncpg.Connection, tenant_id: UUID, events: Sequence[NewEvent]
) -> dict[UUID, InsertedEvent]:
    """COPY events that carry no idempotency key (nothing can conflict: their ids are new), then
    read back what the database assigned. COPY appends the rows in the order given, each taking
    the next ``seq``, and ``recorded_at`` is the transaction's ``now()`` as with INSERT. The
    read-back is one range scan of the primary key over the batch's ids; rows of other batches
    committed meanwhile with ids in that range are left out."""
    await conn.copy_records_to_table(
        "events",
        records=[
            (tenant_id, e.id, e.subject_id, e.type, e.purpose, e.channels, e.occurred_at, e.source, e.proof,
             e.fingerprint, e.subject_kind)
            for e in events
        ],
        columns=_EVENT_COLUMNS,
    )  # fmt: skip
    ours = {e.id for e in events}
    rows = await conn.fetch(
        "SELECT id, seq, recorded_at FROM events WHERE tenant_id = $1 AND id BETWEEN $2 AND $3",
        tenant_id,
        min(ours),
        max(ours),
    )
    return {r[0]: InsertedEvent(r[0], r[1], r[2]) for r in rows if r[0] in ours}


class WritingContext(msgspec.Struct, frozen=True):
    """What recording events needs to know of its tenant, read in one round trip."""

    notices: dict[str, frozenset[str]]  # purpose key to the notice versions it has published
    subscribed: frozenset[str]  # the message types some live webhook wants (outbox.subscribed)
    owners: dict[bytes, UUID] = {}  # of the identifier hashes asked, those someone has (as subjects.resolve)
    existing: dict[str, ExistingEvent] = {}  # of the idempotency keys asked, those recorded before
    claimed: dict[bytes, UUID] = {}  # the identifiers of ``claim`` written (hash to subject id)
    # The event written ahead, and, when it went to a person known before, that person as locked
    # for this transaction (None: it went to the new person of ``claim``).
    appended: InsertedEvent | None = None
    appended_to: UUID | None = None
    locked: LockedSubject | None = None


async def writing_context(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    hashes: Sequence[bytes] = (),
    keys: Sequence[str] = (),
    claim: NewSubject | None = None,
    event: NewEvent | None = None,
) -> WritingContext:
    """The tenant's published notices and webhook subscriptions, who has the identifiers
    ``hashes`` (store.subjects.resolve), and the events recorded before with the idempotency
    ``keys`` (:func:`existing_by_idempotency_key`), in one statement: a single event is a handful
    of statements, and each saved round trip is worth ~5 % of its CPU.

    ``claim`` and ``event``: the one event being recorded, whose identifiers are ``hashes``, and
    the new person it would create. The same statement writes ahead what the caller would write
    next, when nothing is in doubt and no ``keys`` was recorded before:

    * nobody has any of the identifiers: it writes the new person's identifiers (as
      :func:`consent_svc.store.subjects.claim_identifiers`, ``ON CONFLICT DO NOTHING``: a
      concurrent writer of the same person wins, and ``claimed`` lacks what it took), and, when
      it got them all, appends the event for that person; the subject row must follow in this
      transaction (the foreign key is deferred to commit);
    * one person has all of them: it locks that person's row (``FOR UPDATE``, as
      :func:`consent_svc.store.subjects.lock_subjects`) and appends the event for them.

    The event is appended as :func:`insert_events` does (``ON CONFLICT`` on the key: a concurrent
    request with the same key that committed first leaves ``appended`` None), without its webhook
    messages (:func:`enqueue_messages`). The caller validates the event with what this returns
    and rolls the transaction back when it refuses it, as after any write."""
    ahead = claim.identifiers if claim is not None else ()
    row = await conn.fetchrow(
        f"""
        WITH owned AS (
            -- A join over unnest, not "hash = ANY": for a batch's 10,000 hashes a custom plan of the
            -- latter scanned the tenant's identifiers (200-800 ms at 1.8M), the join probes the key.
            SELECT x.hash, x.subject_id FROM unnest($2::bytea[]) AS k(hash)
            JOIN subject_identifiers x ON x.tenant_id = $1 AND x.hash = k.hash
        ), existing AS (
            SELECT e.idempotency_key, e.id, e.subject_id, e.recorded_at, e.fingerprint FROM events e
            WHERE e.tenant_id = $1 AND e.idempotency_key = ANY($3::text[])
        ), claimed AS (
            INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value)
            SELECT $1, u.hash, $4, u.type, u.value
            FROM unnest($5::bytea[], $6::text[], $7::text[]) AS u(hash, type, value)
            WHERE $4::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM owned) AND NOT EXISTS (SELECT 1 FROM existing)
            ORDER BY u.hash
            ON CONFLICT DO NOTHING
            RETURNING hash, subject_id
        ), locked AS (
            SELECT s.id, s.kind, s.facts FROM subjects s
            WHERE $8::uuid IS NOT NULL AND s.tenant_id = $1 AND s.id = (SELECT o.subject_id FROM owned o LIMIT 1)
              AND (SELECT count(*) FROM owned) = cardinality($2::bytea[])
              AND (SELECT count(DISTINCT o.subject_id) FROM owned o) = 1
              AND NOT EXISTS (SELECT 1 FROM existing)
            FOR UPDATE
        ), appended AS (
            INSERT INTO events (tenant_id, id, subject_id, type, purpose, channels, occurred_at,
                                source, proof, idempotency_key, fingerprint, subject_kind)
            SELECT $1, $8, coalesce((SELECT id FROM locked), $4), $9, $10, $11::text[], $12, $13, $14, $15, $16, $17
            WHERE $8::uuid IS NOT NULL
              AND (EXISTS (SELECT 1 FROM locked)
                   OR (cardinality($5::bytea[]) > 0 AND (SELECT count(*) FROM claimed) = cardinality($5::bytea[])))
            ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, subject_id, seq, recorded_at
        )
        SELECT (SELECT coalesce(jsonb_object_agg(key, jsonb_build_object(
                    'published', config -> 'notice_versions', 'current', config ->> 'notice_version')), '{{}}')
                FROM purposes WHERE tenant_id = $1) AS notices,
               ({outbox.SUBSCRIBED}) AS subscribed,
               ARRAY(SELECT ROW(hash, subject_id) FROM owned) AS owners,
               ARRAY(SELECT ROW(idempotency_key, id, subject_id, recorded_at, fingerprint) FROM existing) AS existing,
               ARRAY(SELECT ROW(hash, subject_id) FROM claimed) AS claimed,
               (SELECT ROW(id, subject_id, seq, recorded_at) FROM appended) AS appended,
               (SELECT ROW(id, kind, facts) FROM locked) AS locked
        """,
        tenant_id,
        list(hashes),
        list(keys),
        claim.id if claim is not None else None,
        [i.hash for i in ahead],
        [i.type for i in ahead],
        [i.value for i in ahead],
        *_event_values(event),
    )
    assert row is not None
    notices = {key: frozenset([*(n["published"] or ()), n["current"]]) for key, n in row["notices"].items()}
    appended, locked = row["appended"], row["locked"]
    return WritingContext(
        notices,
        frozenset(row["subscribed"] or ()),
        dict(row["owners"]),
        {e[0]: ExistingEvent(id=e[1], subject_id=e[2], recorded_at=e[3], idempotency_key=e[0], fingerprint=e[4])
         for e in row["existing"]},
        dict(row["claimed"]),
        None if appended is None else InsertedEvent(appended[0], appended[2], appended[3]),
        None if appended is None else appended[1],
        None if locked is None or appended is None else LockedSubject(locked[0], locked[1], locked[2]),
    )  # fmt: skip


def _event_values(event: NewEvent | None) -> list[Any]:
    """$8 .. $17 of :func:`writing_context`: the event written ahead (all None: none)."""
    if event is None:
        return [None] * 10
    return [
        event.id, event.type, event.purpose, list(event.channels), event.occurred_at, event.source, event.proof,
        event.idempotency_key, event.fingerprint, event.subject_kind,
    ]  # fmt: skip


_EVENT = (
    "id, seq, subject_id, type, purpose, channels, occurred_at, recorded_at, source, proof, idempotency_key, "
    "subject_kind FROM events"
)


async def events_of_subject(
    conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID, after: int | None = None, limit: int | None = None
) -> list[EventRow]:
    """The person's events in ledger order, from after sequence number ``after``."""
    rows = await conn.fetch(
        f"SELECT {_EVENT} WHERE tenant_id = $1 AND subject_id = $2 AND ($3::bigint IS NULL OR seq > $3) "
        "ORDER BY seq LIMIT $4",
        tenant_id,
        subject_id,
        after,
        limit,
    )
    return [EventRow(**dict(r)) for r in rows]


async def event_by_id(conn: asyncpg.Connection, tenant_id: UUID, event_id: UUID) -> EventRow | None:
    row = await conn.fetchrow(f"SELECT {_EVENT} WHERE tenant_id = $1 AND id = $2", tenant_id, event_id)
    return None if row is None else EventRow(**dict(row))


class FoldRow(msgspec.Struct, frozen=True, array_like=True):
    subject_id: UUID
    id: UUID
    type: str
    purpose: str | None
    channels: list[str]
    occurred_at: datetime
    seq: int
    notice_version: str | None
    confirmed: bool  # consent_svc.domain.facts.is_confirmed, read in SQL


async def events_to_fold(conn: asyncpg.Connection, tenant_id: UUID, subject_ids: Sequence[UUID]) -> list[FoldRow]:
    """The ledger of these subjects, as the fold reads it (erased events carry no content)."""
    rows = await conn.fetch(
        "SELECT subject_id, id, type, purpose, channels, occurred_at, seq, proof ->> 'notice_version', "
        "type = 'consent_given' AND (jsonb_typeof(proof -> 'double_opt_in') = 'object' "
        "OR jsonb_typeof(proof -> 'reconsent') = 'object') FROM events "
        "WHERE tenant_id = $1 AND subject_id = ANY($2::uuid[]) AND erased_digest IS NULL ORDER BY subject_id, seq",
        tenant_id,
        list(subject_ids),
    )
    return [FoldRow(*r) for r in rows]
