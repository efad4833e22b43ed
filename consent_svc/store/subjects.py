"""Subjects and their identifiers: resolving who an identifier belongs to, creating people the
first time they are seen, and a person's data across the tables (access, export, rectification,
erasure). Set-based: a batch of any size is a handful of queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from consent_svc.domain.records import (
    ErasureRow,
    MessageRecord,
    PastIdentifier,
    ReceiptRow,
    SubjectRow,
    SubjectSummary,
    SuppressionRow,
)


async def lock_subject(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM subjects WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant_id, subject_id
    )
    return bool(found)


async def receipts_of(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> list[ReceiptRow]:
    rows = await conn.fetch(
        "SELECT id, site_key, visitor_id, categories, action, banner_version, language, gpc, recorded_at, "
        "expires_at, subject_id FROM banner_consents WHERE tenant_id = $1 AND subject_id = $2 ORDER BY recorded_at",
        tenant_id,
        subject_id,
    )
    return [ReceiptRow(**dict(r)) for r in rows]


async def suppressions_of(conn: asyncpg.Connection, tenant_id: UUID, hashes: Sequence[bytes]) -> list[SuppressionRow]:
    rows = await conn.fetch(
        "SELECT id, ident_type, value, sha256, scope, channel, reason, source, note, created_at, lifted_at, "
        "lift_reason, change_seq FROM suppressions WHERE tenant_id = $1 AND ident_hash = ANY($2::bytea[]) "
        "ORDER BY created_at, id",
        tenant_id,
        list(hashes),
    )
    return [SuppressionRow(**dict(r)) for r in rows]


def _message_keys(subject_id: UUID, hashes: Sequence[bytes]) -> list[str]:
    return [f"subject:{subject_id}", *(f"identifier:{h.hex()}" for h in hashes)]


async def messages_of(
    conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID, hashes: Sequence[bytes]
) -> list[MessageRecord]:
    rows = await conn.fetch(
        "SELECT id, webhook_id, event_type, status, attempts, created_at, delivered_at FROM outbox "
        "WHERE tenant_id = $1 AND subject_key = ANY($2::text[]) ORDER BY seq",
        tenant_id,
        _message_keys(subject_id, hashes),
    )
    return [MessageRecord(**dict(r)) for r in rows]


async def replace_identifier(
    conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID, type_: str, hash_: bytes, value: str | None
) -> bytes | None:
    """Set the subject's identifier of this type; return the hash it replaced (None if it had none).

    The replaced identifier moves to the subject's identifier history as its keyed hash (and,
    for an email, the exchange SHA-256): the plaintext goes, but an erasure still reaches every
    trace of the old address, and a person-level suppression of it still applies."""
    old = await conn.fetchval(
        """
        WITH old AS (
            DELETE FROM subject_identifiers WHERE tenant_id = $1 AND subject_id = $2 AND type = $3
            RETURNING hash, type, value
        ), kept AS (
            INSERT INTO subject_identifier_history (tenant_id, subject_id, hash, type, sha256)
            SELECT $1, $2, hash, type, CASE WHEN type = 'email' THEN sha256(convert_to(value, 'UTF8')) END FROM old
            ON CONFLICT DO NOTHING
        )
        SELECT hash FROM old
        """,
        tenant_id,
        subject_id,
        type_,
    )
    await conn.execute(
        "INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value) VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        hash_,
        subject_id,
        type_,
        value,
    )
    return old  # type: ignore[no-any-return]


async def set_kind(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID, kind: str) -> None:
    await conn.execute(
        "UPDATE subjects SET kind = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        subject_id,
        kind,
    )


async def identifier_history(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> list[PastIdentifier]:
    rows = await conn.fetch(
        "SELECT type, hash, sha256, replaced_at FROM subject_identifier_history "
        "WHERE tenant_id = $1 AND subject_id = $2 ORDER BY replaced_at, hash",
        tenant_id,
        subject_id,
    )
    return [PastIdentifier(r["type"], bytes(r["hash"]), r["sha256"], r["replaced_at"]) for r in rows]


async def erase(
    conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID, hashes: Sequence[bytes]
) -> tuple[int, int]:
    """Remove the person's banner receipts, webhook messages, identifiers (current and past) and
    subject row, and what suppression entries of ``hashes`` (every identifier the person has or
    had) hold beyond the keyed hash: the plaintext, notes, lift reasons, and the exchange SHA-256
    of phone numbers (an email's is kept, held solely so providers can keep suppressing it). The
    events' content is replaced by the caller (service.ledger.erase_events). Returns the counts
    removed (receipts, messages). The caller holds the transaction, with consent.ledger_rewrite set."""
    receipts = await conn.fetchval(
        "WITH gone AS (DELETE FROM banner_consents WHERE tenant_id = $1 AND subject_id = $2 RETURNING 1) "
        "SELECT count(*) FROM gone",
        tenant_id,
        subject_id,
    )
    keys = _message_keys(subject_id, hashes)
    await conn.execute(
        "DELETE FROM webhook_attempts WHERE tenant_id = $1 AND outbox_id IN "
        "(SELECT id FROM outbox WHERE tenant_id = $1 AND subject_key = ANY($2::text[]))",
        tenant_id,
        keys,
    )
    messages = await conn.fetchval(
        "WITH gone AS (DELETE FROM outbox WHERE tenant_id = $1 AND subject_key = ANY($2::text[]) RETURNING 1) "
        "SELECT count(*) FROM gone",
        tenant_id,
        keys,
    )
    await conn.execute(
        "UPDATE suppressions SET value = NULL, note = NULL, lift_reason = NULL, "
        "sha256 = CASE WHEN ident_type = 'email' THEN sha256 END "
        "WHERE tenant_id = $1 AND ident_hash = ANY($2::bytea[])",
        tenant_id,
        list(hashes),
    )
    await conn.execute(
        "DELETE FROM subject_identifiers WHERE tenant_id = $1 AND subject_id = $2", tenant_id, subject_id
    )
    await conn.execute(
        "DELETE FROM subject_identifier_history WHERE tenant_id = $1 AND subject_id = $2", tenant_id, subject_id
    )
    await conn.execute("DELETE FROM subjects WHERE tenant_id = $1 AND id = $2", tenant_id, subject_id)
    return int(receipts), int(messages)


async def insert_erasure(conn: asyncpg.Connection, tenant_id: UUID, erasure: ErasureRow) -> ErasureRow:
    row = await conn.fetchrow(
        """INSERT INTO erasures (tenant_id, id, subject_id, erased_at, reason, identifiers_removed, events_erased,
                                 receipts_removed, messages_removed, suppressions_kept)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           RETURNING id, subject_id, erased_at, reason, identifiers_removed, events_erased, receipts_removed,
                     messages_removed, suppressions_kept""",
        tenant_id, erasure.id, erasure.subject_id, erasure.erased_at, erasure.reason, erasure.identifiers_removed,
        erasure.events_erased, erasure.receipts_removed, erasure.messages_removed, erasure.suppressions_kept,
    )  # fmt: skip
    return ErasureRow(**dict(row))


_ERASURE = (
    "id, subject_id, erased_at, reason, identifiers_removed, events_erased, receipts_removed, messages_removed, "
    "suppressions_kept FROM erasures"
)


async def erasure_by_id(conn: asyncpg.Connection, tenant_id: UUID, erasure_id: UUID) -> ErasureRow | None:
    row = await conn.fetchrow(f"SELECT {_ERASURE} WHERE tenant_id = $1 AND id = $2", tenant_id, erasure_id)
    return None if row is None else ErasureRow(**dict(row))


async def erasures(conn: asyncpg.Connection, tenant_id: UUID, after: UUID | None, limit: int) -> list[ErasureRow]:
    """Erasure receipts, oldest first (their ids are time-ordered)."""
    rows = await conn.fetch(
        f"SELECT {_ERASURE} WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [ErasureRow(**dict(r)) for r in rows]


def _pair(text: str) -> tuple[str, str | None]:
    """``type:value``, or ``type`` alone for an identifier held only as a keyed hash."""
    type_, _, value = text.partition(":")
    return (type_, value) if value else (type_, None)


async def summaries(
    conn: asyncpg.Connection, tenant_id: UUID, after: UUID | None, limit: int, only: UUID | None = None
) -> list[SubjectSummary]:
    """People in id order (oldest first: ids are time-ordered), with their identifiers and when
    their last event was recorded; ``only`` narrows it to one person."""
    rows = await conn.fetch(
        """
        SELECT s.id, s.kind, s.created_at,
               (SELECT e.recorded_at FROM events e WHERE e.tenant_id = s.tenant_id AND e.subject_id = s.id
                ORDER BY e.seq DESC LIMIT 1) AS last_event_at,
               coalesce((SELECT array_agg(i.type || coalesce(':' || i.value, '') ORDER BY i.type, i.value)
                         FROM subject_identifiers i WHERE i.tenant_id = s.tenant_id AND i.subject_id = s.id),
                        '{}') AS identifiers
        FROM subjects s
        WHERE s.tenant_id = $1 AND ($2::uuid IS NULL OR s.id > $2) AND ($4::uuid IS NULL OR s.id = $4)
        ORDER BY s.id LIMIT $3
        """,
        tenant_id,
        after,
        limit,
        only,
    )
    return [
        SubjectSummary(
            id=r["id"], kind=r["kind"], created_at=r["created_at"], last_event_at=r["last_event_at"],
            identifiers=[_pair(i) for i in r["identifiers"]],
        )
        for r in rows
    ]  # fmt: skip


async def subjects_page(conn: asyncpg.Connection, tenant_id: UUID, after: UUID | None, limit: int) -> list[Any]:
    return await conn.fetch(  # type: ignore[no-any-return]
        "SELECT id, kind, facts FROM subjects WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) "
        "ORDER BY id LIMIT $3",
        tenant_id,
        after,
        limit,
    )


async def identifier_hashes(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> list[bytes]:
    """The keyed hashes of every identifier the subject has or had (before a rectification)."""
    rows = await conn.fetch(
        "SELECT hash FROM subject_identifiers WHERE tenant_id = $1 AND subject_id = $2 "
        "UNION SELECT hash FROM subject_identifier_history WHERE tenant_id = $1 AND subject_id = $2",
        tenant_id,
        subject_id,
    )
    return [bytes(r["hash"]) for r in rows]


# gc=False: a batch makes one per new person, and nothing in it can lead back to it (no cycle), so the
# collector need not walk them (GC during a 10,000-event batch ~40 -> ~27 ms).
class NewIdentifier(msgspec.Struct, frozen=True, gc=False):
    hash: bytes
    type: str
    value: str | None  # None for a personal number: held only as its keyed hash


# gc=False: a batch makes one per new person, and nothing in it can lead back to it (no cycle), so the
# collector need not walk them (GC during a 10,000-event batch ~40 -> ~27 ms).
class NewSubject(msgspec.Struct, frozen=True, gc=False):
    id: UUID
    kind: str
    identifiers: tuple[NewIdentifier, ...]


class LockedSubject(msgspec.Struct):
    id: UUID
    kind: str
    facts: bytes | None


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


# From this many rows a batch writes new people with COPY rather than one INSERT over arrays:
# for 10,000 new people, COPY took ~100 ms off the ~270 ms the two INSERTs took (the arrays'
# encoding and unnesting, and ON CONFLICT's speculative insertion per row). Below it, the
# extra round trips (the savepoint) cost more than they save.
COPY_FROM_ROWS = 100
_IDENTIFIER_COLUMNS = ["tenant_id", "hash", "subject_id", "type", "value"]


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

    A large batch first tries COPY in a savepoint (the identifiers were unknown a moment
    ago, so nearly always nobody else has written them since); if a concurrent writer did
    (a unique violation, or a deadlock with it), the savepoint is rolled back and the
    statement with ``ON CONFLICT DO NOTHING`` decides who won, as for a small batch. Rows
    are written in hash order, so two batches take their locks in the same order.
    """
    rows = sorted(
        ((tenant_id, ident.hash, subject.id, ident.type, ident.value) for subject in subjects
         for ident in subject.identifiers),
        key=lambda row: row[1],
    )  # fmt: skip
    if not rows:
        return {}
    if len(rows) >= COPY_FROM_ROWS:
        try:
            async with conn.transaction():  # a savepoint
                await conn.copy_records_to_table("subject_identifiers", records=rows, columns=_IDENTIFIER_COLUMNS)
        except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
            pass  # someone created some of these people meanwhile: the statement below sorts it out
        else:
            return {row[1]: row[2] for row in rows}
    written = await conn.fetch(
        """
        INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value)
        SELECT $1, u.hash, u.subject_id, u.type, u.value
        FROM unnest($2::bytea[], $3::uuid[], $4::text[], $5::text[])
             WITH ORDINALITY AS u(hash, subject_id, type, value, ord)
        ORDER BY u.ord
        ON CONFLICT DO NOTHING
        RETURNING hash, subject_id
        """,
        tenant_id,
        [row[1] for row in rows],
        [row[2] for row in rows],
        [row[3] for row in rows],
        [row[4] for row in rows],
    )
    return {r["hash"]: r["subject_id"] for r in written}


async def insert_subjects(
    conn: asyncpg.Connection, tenant_id: UUID, subjects: Sequence[tuple[UUID, str, bytes | None]]
) -> None:
    """Insert (id, kind, facts) of subjects whose identifiers this transaction claimed (new ids:
    nothing can conflict, so a large batch is one COPY)."""
    if not subjects:
        return
    if len(subjects) >= COPY_FROM_ROWS:
        await conn.copy_records_to_table(
            "subjects", records=[(tenant_id, *s) for s in subjects], columns=["tenant_id", "id", "kind", "facts"]
        )
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
) -> list[bytes]:
    """Attach identifiers to a subject; return the hashes that could not be (the subject has another
    value of that type, or the identifier belongs to someone else)."""
    if not identifiers:
        return []
    rows = await conn.fetch(
        """
        INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value)
        SELECT $1, u.hash, $2, u.type, u.value
        FROM unnest($3::bytea[], $4::text[], $5::text[]) AS u(hash, type, value)
        ON CONFLICT DO NOTHING
        RETURNING hash
        """,
        tenant_id,
        subject_id,
        [i.hash for i in identifiers],
        [i.type for i in identifiers],
        [i.value for i in identifiers],
    )
    attached = {bytes(r["hash"]) for r in rows}
    return [i.hash for i in identifiers if i.hash not in attached]


async def lock_subjects(conn: asyncpg.Connection, tenant_id: UUID, ids: Sequence[UUID]) -> dict[UUID, LockedSubject]:
    """Lock subject rows in id order (a fixed order: no deadlocks between batches)."""
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT id, kind, facts FROM subjects WHERE tenant_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE",
        tenant_id,
        sorted(set(ids)),
    )
    return {r["id"]: LockedSubject(r["id"], r["kind"], r["facts"]) for r in rows}


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


async def set_facts(conn: asyncpg.Connection, tenant_id: UUID, facts: Sequence[tuple[UUID, bytes]]) -> None:
    await conn.execute(
        "UPDATE subjects s SET facts = u.facts FROM unnest($2::uuid[], $3::bytea[]) AS u(id, facts) "
        "WHERE s.tenant_id = $1 AND s.id = u.id",
        tenant_id,
        [f[0] for f in facts],
        [f[1] for f in facts],
    )
