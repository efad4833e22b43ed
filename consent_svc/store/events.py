"""Subjects, identifiers and the ledger. Set-based: a batch of any size is a handful of queries.

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

from consent_svc.domain.records import EventRow, SubjectRow
from consent_svc.store import outbox


class NewIdentifier(msgspec.Struct, frozen=True):
    hash: bytes
    type: str
    value: str


class NewSubject(msgspec.Struct, frozen=True):
    id: UUID
    kind: str
    identifiers: tuple[NewIdentifier, ...]


class LockedSubject(msgspec.Struct):
    id: UUID
    kind: str
    facts: bytes | None


class NewEvent(msgspec.Struct, frozen=True):
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


class InsertedEvent(msgspec.Struct, frozen=True):
    id: UUID
    seq: int
    recorded_at: datetime


class ExistingEvent(msgspec.Struct, frozen=True):
    id: UUID
    subject_id: UUID
    recorded_at: datetime
    idempotency_key: str
    fingerprint: bytes | None


async def resolve(conn: asyncpg.Connection, tenant_id: UUID, hashes: Sequence[bytes]) -> dict[bytes, UUID]:
    """Map identifier hashes to subject ids (unknown hashes are absent)."""
    if not hashes:
        return {}
    rows = await conn.fetch(
        "SELECT hash, subject_id FROM subject_identifiers WHERE tenant_id = $1 AND hash = ANY($2::bytea[])",
        tenant_id,
        list(hashes),
    )
    return {r["hash"]: r["subject_id"] for r in rows}


async def claim_identifiers(
    conn: asyncpg.Connection, tenant_id: UUID, subjects: Sequence[NewSubject]
) -> dict[bytes, UUID]:
    """Write the identifiers of planned new subjects; return those written (hash to subject id).

    ``ON CONFLICT DO NOTHING``: when a concurrent transaction created the same
    person a moment earlier, its identifiers win, and the caller resolves the
    rest. The subject rows must follow in this transaction
    (:func:`insert_subjects`): the foreign key from identifiers to subjects is
    deferred to commit, which lets a writer insert a new subject once, with its
    folded facts, after its events.
    """
    if not subjects:
        return {}
    hashes, owners, types, values = [], [], [], []
    for subject in subjects:
        for ident in subject.identifiers:
            hashes.append(ident.hash)
            owners.append(subject.id)
            types.append(ident.type)
            values.append(ident.value)
    rows = await conn.fetch(
        """
        INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value)
        SELECT $1, u.hash, u.subject_id, u.type, u.value
        FROM unnest($2::bytea[], $3::uuid[], $4::text[], $5::text[]) AS u(hash, subject_id, type, value)
        ON CONFLICT DO NOTHING
        RETURNING hash, subject_id
        """,
        tenant_id,
        hashes,
        owners,
        types,
        values,
    )
    return {r["hash"]: r["subject_id"] for r in rows}


async def insert_subjects(
    conn: asyncpg.Connection, tenant_id: UUID, subjects: Sequence[tuple[UUID, str, bytes | None]]
) -> None:
    """Insert (id, kind, facts) of subjects whose identifiers this transaction claimed."""
    if not subjects:
        return
    await conn.execute(
        """
        INSERT INTO subjects (tenant_id, id, kind, facts)
        SELECT $1, u.id, u.kind, u.facts FROM unnest($2::uuid[], $3::text[], $4::bytea[]) AS u(id, kind, facts)
        """,
        tenant_id,
        [s[0] for s in subjects],
        [s[1] for s in subjects],
        [s[2] for s in subjects],
    )


async def create_subjects(
    conn: asyncpg.Connection, tenant_id: UUID, subjects: Sequence[NewSubject]
) -> dict[bytes, UUID]:
    """Claim the identifiers of new subjects and insert the subjects that got
    any (without facts yet). Returns the identifiers written here."""
    claimed = await claim_identifiers(conn, tenant_id, subjects)
    created = set(claimed.values())
    await insert_subjects(conn, tenant_id, [(s.id, s.kind, None) for s in subjects if s.id in created])
    return claimed


async def add_identifiers(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    subject_id: UUID,
    identifiers: Sequence[NewIdentifier],
) -> None:
    """Attach identifiers of types the subject does not have yet (skips any already held)."""
    if not identifiers:
        return
    await conn.execute(
        """
        INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value)
        SELECT $1, u.hash, $2, u.type, u.value
        FROM unnest($3::bytea[], $4::text[], $5::text[]) AS u(hash, type, value)
        ON CONFLICT DO NOTHING
        """,
        tenant_id,
        subject_id,
        [i.hash for i in identifiers],
        [i.type for i in identifiers],
        [i.value for i in identifiers],
    )


async def lock_subjects(conn: asyncpg.Connection, tenant_id: UUID, ids: Sequence[UUID]) -> dict[UUID, LockedSubject]:
    """Lock subject rows in id order (a fixed order: no deadlocks between batches)."""
    rows = await conn.fetch(
        "SELECT id, kind, facts FROM subjects WHERE tenant_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE",
        tenant_id,
        sorted(set(ids)),
    )
    return {r["id"]: LockedSubject(r["id"], r["kind"], r["facts"]) for r in rows}


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


async def insert_events(
    conn: asyncpg.Connection, tenant_id: UUID, events: Sequence[NewEvent]
) -> dict[UUID, InsertedEvent]:
    """Append events in the given order. An event whose idempotency key was
    taken meanwhile is skipped (absent from the result)."""
    if not events:
        return {}
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
    inserted = {r["id"]: InsertedEvent(r["id"], r["seq"], r["recorded_at"]) for r in rows}
    wanted = await outbox.subscribed(conn, tenant_id)
    if not wanted:
        return inserted
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
            if e.id in inserted and outbox.EVENT_MESSAGES.get(e.type) in wanted
        ],
    )
    return inserted


async def update_subjects(
    conn: asyncpg.Connection, tenant_id: UUID, updates: Sequence[tuple[UUID, str, bytes]]
) -> None:
    """Write back (id, kind, facts) for subjects locked in this transaction."""
    if not updates:
        return
    await conn.execute(
        """
        UPDATE subjects s SET kind = u.kind, facts = u.facts, updated_at = now()
        FROM unnest($2::uuid[], $3::text[], $4::bytea[]) AS u(id, kind, facts)
        WHERE s.tenant_id = $1 AND s.id = u.id
        """,
        tenant_id,
        [u[0] for u in updates],
        [u[1] for u in updates],
        [u[2] for u in updates],
    )


async def events_of_subject(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> list[EventRow]:
    rows = await conn.fetch(
        "SELECT id, seq, subject_id, type, purpose, channels, occurred_at, recorded_at, source, proof, "
        "idempotency_key, subject_kind FROM events WHERE tenant_id = $1 AND subject_id = $2 ORDER BY seq",
        tenant_id,
        subject_id,
    )
    return [EventRow(**dict(r)) for r in rows]


async def subject_by_id(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> SubjectRow | None:
    row = await conn.fetchrow(
        "SELECT id, kind, facts FROM subjects WHERE tenant_id = $1 AND id = $2", tenant_id, subject_id
    )
    if row is None:
        return None
    idents = await conn.fetch(
        "SELECT type, hash, value FROM subject_identifiers WHERE tenant_id = $1 AND subject_id = $2 ORDER BY type",
        tenant_id,
        subject_id,
    )
    return SubjectRow(row["id"], row["kind"], row["facts"], [(i["type"], i["hash"], i["value"]) for i in idents])


class FoldRow(msgspec.Struct, frozen=True, array_like=True):
    subject_id: UUID
    id: UUID
    type: str
    purpose: str | None
    channels: list[str]
    occurred_at: datetime
    seq: int
    notice_version: str | None


async def subject_page(conn: asyncpg.Connection, tenant_id: UUID, after: UUID | None, limit: int) -> list[UUID]:
    """Lock the next ``limit`` subjects of a tenant in id order (for a rewrite of their facts)."""
    rows = await conn.fetch(
        "SELECT id FROM subjects WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3 "
        "FOR UPDATE",
        tenant_id,
        after,
        limit,
    )
    return [r["id"] for r in rows]


async def events_to_fold(conn: asyncpg.Connection, tenant_id: UUID, subject_ids: Sequence[UUID]) -> list[FoldRow]:
    """The ledger of these subjects, as the fold reads it (erased events carry no content)."""
    rows = await conn.fetch(
        "SELECT subject_id, id, type, purpose, channels, occurred_at, seq, proof ->> 'notice_version' FROM events "
        "WHERE tenant_id = $1 AND subject_id = ANY($2::uuid[]) AND erased_digest IS NULL ORDER BY subject_id, seq",
        tenant_id,
        list(subject_ids),
    )
    return [FoldRow(*r) for r in rows]


async def set_facts(conn: asyncpg.Connection, tenant_id: UUID, facts: Sequence[tuple[UUID, bytes]]) -> None:
    await conn.execute(
        "UPDATE subjects s SET facts = u.facts FROM unnest($2::uuid[], $3::bytea[]) AS u(id, facts) "
        "WHERE s.tenant_id = $1 AND s.id = u.id",
        tenant_id,
        [f[0] for f in facts],
        [f[1] for f in facts],
    )
