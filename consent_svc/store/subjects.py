"""A person's data across the tables, for access, export, rectification and erasure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from consent_svc.domain.records import ErasureRow, PastIdentifier


async def lock_subject(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM subjects WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant_id, subject_id
    )
    return bool(found)


async def receipts_of(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, site_key, categories, action, banner_version, language, gpc, recorded_at, expires_at "
        "FROM banner_consents WHERE tenant_id = $1 AND subject_id = $2 ORDER BY recorded_at",
        tenant_id,
        subject_id,
    )
    return [dict(r) for r in rows]


async def suppressions_of(conn: asyncpg.Connection, tenant_id: UUID, hashes: Sequence[bytes]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, ident_type, scope, channel, reason, source, note, created_at, lifted_at, lift_reason "
        "FROM suppressions WHERE tenant_id = $1 AND ident_hash = ANY($2::bytea[]) ORDER BY created_at",
        tenant_id,
        list(hashes),
    )
    return [dict(r) for r in rows]


def _message_keys(subject_id: UUID, hashes: Sequence[bytes]) -> list[str]:
    return [f"subject:{subject_id}", *(f"identifier:{h.hex()}" for h in hashes)]


async def messages_of(
    conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID, hashes: Sequence[bytes]
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, webhook_id, event_type, status, attempts, created_at, delivered_at FROM outbox "
        "WHERE tenant_id = $1 AND subject_key = ANY($2::text[]) ORDER BY seq",
        tenant_id,
        _message_keys(subject_id, hashes),
    )
    return [dict(r) for r in rows]


async def replace_identifier(
    conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID, type_: str, hash_: bytes, value: str
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


async def insert_sweep_run(conn: asyncpg.Connection, tenant_id: UUID, run: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO sweep_runs (tenant_id, id, started_at, finished_at, as_of, dry_run, scanned, swept, counts) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        tenant_id, run["id"], run["started_at"], run["finished_at"], run["as_of"], run["dry_run"], run["scanned"],
        run["swept"], run["counts"],
    )  # fmt: skip


async def allow_ledger_rewrite(conn: asyncpg.Connection) -> None:
    """For this transaction only: let erasure and the retention sweep rewrite ledger rows."""
    await conn.execute("SET LOCAL consent.ledger_rewrite = 'on'")


async def try_advisory_lock(conn: asyncpg.Connection, key: int) -> bool:
    """A session lock held until :func:`advisory_unlock` (or the connection closes)."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def advisory_unlock(conn: asyncpg.Connection, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", key)
