"""Email and SMS provider integrations: their rows (secrets sealed by the caller), the feedback
received from them (idempotent by the provider's event id), and Mailgun's one-use tokens."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from consent_svc.domain.records import FeedbackRow, SuppressionRow

_COLUMNS = (
    "tenant_id, id, provider, name, settings, sealed_secrets, purposes, sync_suppressions, created_at, updated_at"
)


class StoredIntegration(msgspec.Struct, frozen=True, kw_only=True):
    """An integration as stored: the secret fields still sealed."""

    tenant_id: UUID
    id: UUID
    provider: str
    name: str
    settings: dict[str, Any]
    sealed_secrets: bytes | None
    purposes: dict[str, str]
    sync_suppressions: bool
    created_at: datetime
    updated_at: datetime


def _row(record: asyncpg.Record) -> StoredIntegration:
    data = dict(record)
    if data["sealed_secrets"] is not None:
        data["sealed_secrets"] = bytes(data["sealed_secrets"])
    return StoredIntegration(**data)


async def create(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    integration_id: UUID,
    *,
    provider: str,
    name: str,
    settings: dict[str, Any],
    sealed_secrets: bytes,
    purposes: dict[str, str],
    sync_suppressions: bool,
) -> StoredIntegration:
    row = await conn.fetchrow(
        "INSERT INTO integrations (tenant_id, id, provider, name, settings, sealed_secrets, purposes, "
        f"sync_suppressions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}",
        tenant_id, integration_id, provider, name, settings, sealed_secrets, purposes, sync_suppressions,
    )  # fmt: skip
    return _row(row)


async def get(
    conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, *, for_update: bool = False
) -> StoredIntegration | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM integrations WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
        + (" FOR UPDATE" if for_update else ""),
        tenant_id,
        integration_id,
    )
    return _row(row) if row is not None else None


async def by_id(
    conn: asyncpg.Connection, integration_id: UUID, *, for_update: bool = False
) -> StoredIntegration | None:
    """A live integration by its id alone (``POST /in/{id}`` and the CLI name it so)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM integrations WHERE id = $1 AND deleted_at IS NULL"
        + (" FOR UPDATE" if for_update else ""),
        integration_id,
    )
    return _row(row) if row is not None else None


async def list_page(
    conn: asyncpg.Connection, tenant_id: UUID, after: UUID | None, limit: int
) -> list[StoredIntegration]:
    """Live integrations in id order (UUIDv7: oldest first)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM integrations WHERE tenant_id = $1 AND deleted_at IS NULL "
        "AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [_row(r) for r in rows]


async def all_sealed(conn: asyncpg.Connection) -> list[StoredIntegration]:
    """Every live integration of every tenant (to seal their secrets again under a new key)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM integrations WHERE deleted_at IS NULL AND sealed_secrets IS NOT NULL ORDER BY id"
    )
    return [_row(r) for r in rows]


async def update(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    integration_id: UUID,
    *,
    name: str,
    settings: dict[str, Any],
    sealed_secrets: bytes,
    purposes: dict[str, str],
    sync_suppressions: bool,
) -> StoredIntegration:
    row = await conn.fetchrow(
        "UPDATE integrations SET name = $3, settings = $4, sealed_secrets = $5, purposes = $6, "
        "sync_suppressions = $7, updated_at = now() "
        f"WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {_COLUMNS}",
        tenant_id, integration_id, name, settings, sealed_secrets, purposes, sync_suppressions,
    )  # fmt: skip
    return _row(row)


async def reseal(conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, sealed_secrets: bytes) -> None:
    await conn.execute(
        "UPDATE integrations SET sealed_secrets = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL",
        tenant_id,
        integration_id,
        sealed_secrets,
    )


async def delete(conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID) -> bool:
    """Stop an integration: its secrets are dropped, its unsent pushes dead-lettered; its
    feedback log stays (the provenance of the entries it made)."""
    done = await conn.fetchval(
        "UPDATE integrations SET deleted_at = now(), sealed_secrets = NULL, sync_suppressions = false "
        "WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING id",
        tenant_id,
        integration_id,
    )
    if done is not None:
        await conn.execute(
            "UPDATE integration_outbox SET status = 'dead', last_error = 'integration deleted', done_at = now() "
            "WHERE tenant_id = $1 AND integration_id = $2 AND status = 'pending'",
            tenant_id,
            integration_id,
        )
    return done is not None


# --- feedback in ------------------------------------------------------------------------------


class NewFeedback(msgspec.Struct, frozen=True):
    event_id: str
    kind: str
    provider_event: str
    provider_group: str | None
    occurred_at: datetime
    payload_sha256: str


async def claim_events(
    conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, items: Sequence[NewFeedback]
) -> set[str]:
    """Record provider events as received; returns the event ids that are new (the others were
    received before: a replay, which changes nothing). A concurrent transaction holding the same
    event id makes this wait for its outcome."""
    if not items:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO integration_feedback (tenant_id, integration_id, event_id, kind, provider_event,
                                          provider_group, occurred_at, payload_sha256)
        SELECT $1, $2, u.e, u.k, u.pe, u.g, u.at, u.sha
        FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])
             WITH ORDINALITY AS u(e, k, pe, g, at, sha, ord)
        ORDER BY u.ord
        ON CONFLICT (tenant_id, integration_id, event_id) DO NOTHING
        RETURNING event_id
        """,
        tenant_id,
        integration_id,
        [i.event_id for i in items],
        [i.kind for i in items],
        [i.provider_event[:200] for i in items],
        [i.provider_group[:300] if i.provider_group else None for i in items],
        [i.occurred_at for i in items],
        [i.payload_sha256 for i in items],
    )
    return {r["event_id"] for r in rows}


class Outcome(msgspec.Struct, frozen=True):
    event_id: str
    outcome: str
    suppression_ids: list[UUID]
    lifted_ids: list[UUID]
    event_ids: list[UUID]


async def record_outcomes(
    conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, outcomes: Sequence[Outcome]
) -> None:
    if not outcomes:
        return
    await conn.execute(
        """
        UPDATE integration_feedback f SET outcome = u.o, suppression_ids = u.s::uuid[], lifted_ids = u.l::uuid[],
            event_ids = u.ev::uuid[]
        FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(e, o, s, l, ev)
        WHERE f.tenant_id = $1 AND f.integration_id = $2 AND f.event_id = u.e
        """,
        tenant_id,
        integration_id,
        [o.event_id for o in outcomes],
        [o.outcome[:1000] for o in outcomes],
        # Arrays of ragged length, each as an array literal ('{id,id}'): asyncpg would read nested lists as
        # one two-dimensional array.
        [_uuids(o.suppression_ids) for o in outcomes],
        [_uuids(o.lifted_ids) for o in outcomes],
        [_uuids(o.event_ids) for o in outcomes],
    )


def _uuids(ids: Sequence[UUID]) -> str:
    return "{" + ",".join(str(i) for i in ids) + "}"


async def feedback_page(
    conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, before: int | None, limit: int
) -> list[tuple[int, FeedbackRow]]:
    """Received events, newest first, older than position ``before``; with their positions."""
    rows = await conn.fetch(
        """
        SELECT seq, event_id, kind, provider_event, provider_group, occurred_at, received_at, payload_sha256,
               outcome, suppression_ids, lifted_ids, event_ids
        FROM integration_feedback WHERE tenant_id = $1 AND integration_id = $2
          AND ($3::bigint IS NULL OR seq < $3)
        ORDER BY seq DESC LIMIT $4
        """,
        tenant_id,
        integration_id,
        before,
        limit,
    )
    return [(r["seq"], FeedbackRow(**{k: v for k, v in dict(r).items() if k != "seq"})) for r in rows]


async def use_token(
    conn: asyncpg.Connection, tenant_id: UUID, integration_id: UUID, token: str, payload_sha256: str
) -> bool:
    """Spend a one-use signature token on a payload. False when the token was spent before on
    another payload (a captured signature replayed with another body); the same payload again
    is a provider's retry, and passes. Tokens older than ten minutes are forgotten (their
    timestamps are refused by then)."""
    await conn.execute(
        "DELETE FROM integration_replay_tokens WHERE tenant_id = $1 AND integration_id = $2 "
        "AND seen_at < now() - interval '10 minutes'",
        tenant_id,
        integration_id,
    )
    digest = hashlib.sha256(token.encode()).digest()
    if await conn.fetchval(
        "INSERT INTO integration_replay_tokens (tenant_id, integration_id, token_sha256, payload_sha256) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
        tenant_id,
        integration_id,
        digest,
        payload_sha256,
    ):
        return True
    # Spent before (or by a transaction that just committed: a statement of its own sees it).
    stored = await conn.fetchval(
        "SELECT payload_sha256 FROM integration_replay_tokens "
        "WHERE tenant_id = $1 AND integration_id = $2 AND token_sha256 = $3",
        tenant_id,
        integration_id,
        digest,
    )
    return stored is None or stored == payload_sha256


# --- what feedback acts on ----------------------------------------------------------------------


async def contact_identifiers(
    conn: asyncpg.Connection, tenant_id: UUID, subject_ids: Sequence[UUID]
) -> dict[UUID, list[tuple[str, str, bytes]]]:
    """The email and phone identifiers of subjects: subject id -> [(type, value, keyed hash)]."""
    rows = await conn.fetch(
        "SELECT subject_id, type, value, hash FROM subject_identifiers WHERE tenant_id = $1 "
        "AND subject_id = ANY($2::uuid[]) AND type IN ('email', 'phone') ORDER BY subject_id, type",
        tenant_id,
        list(set(subject_ids)),
    )
    found: dict[UUID, list[tuple[str, str, bytes]]] = {}
    for r in rows:
        found.setdefault(r["subject_id"], []).append((r["type"], r["value"], bytes(r["hash"])))
    return found


async def subjects_of(conn: asyncpg.Connection, tenant_id: UUID, hashes: Sequence[bytes]) -> dict[bytes, UUID]:
    """The subject each identifier belongs to (identifiers nobody has are left out)."""
    rows = await conn.fetch(
        "SELECT hash, subject_id FROM subject_identifiers WHERE tenant_id = $1 AND hash = ANY($2::bytea[])",
        tenant_id,
        list(hashes),
    )
    return {bytes(r["hash"]): r["subject_id"] for r in rows}


async def made_by(
    conn: asyncpg.Connection, tenant_id: UUID, source: str, hashes: Sequence[bytes], *, reason: str
) -> list[tuple[bytes, SuppressionRow]]:
    """Active entries of these identifiers that ``source`` (one integration) made with this reason,
    each with its identifier's keyed hash."""
    rows = await conn.fetch(
        "SELECT ident_hash, id, ident_type, value, sha256, scope, channel, reason, source, note, created_at, "
        "lifted_at, lift_reason, change_seq FROM suppressions WHERE tenant_id = $1 AND lifted_at IS NULL "
        "AND ident_hash = ANY($2::bytea[]) AND source = $3 AND reason = $4 ORDER BY id",
        tenant_id,
        list(hashes),
        source,
        reason,
    )
    out = []
    for r in rows:
        data = dict(r)
        out.append((bytes(data.pop("ident_hash")), SuppressionRow(**data)))
    return out
