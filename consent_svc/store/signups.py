"""Double opt-in sign-ups, sign-up forms and re-permission links (docs/forms.md): plain SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from consent_svc.domain.records import FormRow, ReconsentLinkRow, SignupRow

_SIGNUP_COLUMNS = (
    "tenant_id, id, ident_hash, email, phone, purposes, language, proof, form_key, status, created_at, expires_at, "
    "confirmed_at, subject_id, delivery, message_at, message_id, mail_status, mail_attempts, mail_sent_at"
)


def _signup(row: Any) -> SignupRow:
    return SignupRow(**dict(row))


async def lock_address(conn: asyncpg.Connection, tenant_id: UUID, ident_hash: bytes) -> None:
    """Serialize sign-ups of one address in one tenant until the transaction ends (the quiet period
    is judged and a message queued by one of them at a time, whichever replica takes them)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text || encode($2::bytea, 'hex'), 17))",
        tenant_id,
        ident_hash,
    )


async def last_message_at(conn: asyncpg.Connection, tenant_id: UUID, ident_hash: bytes) -> datetime | None:
    """When the latest confirmation message for this address was queued or announced."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT max(message_at) FROM signups WHERE tenant_id = $1 AND ident_hash = $2", tenant_id, ident_hash
    )


async def insert_signup(conn: asyncpg.Connection, row: SignupRow, mail_next_at: datetime | None) -> None:
    await conn.execute(
        f"INSERT INTO signups ({_SIGNUP_COLUMNS}, mail_next_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        row.tenant_id, row.id, row.ident_hash, row.email, row.phone, row.purposes, row.language, row.proof,
        row.form_key, row.status, row.created_at, row.expires_at, row.confirmed_at, row.subject_id, row.delivery,
        row.message_at, row.message_id, row.mail_status, row.mail_attempts, row.mail_sent_at, mail_next_at,
    )  # fmt: skip


async def signup(conn: asyncpg.Connection, tenant_id: UUID, signup_id: UUID, *, lock: bool = False) -> SignupRow | None:
    row = await conn.fetchrow(
        f"SELECT {_SIGNUP_COLUMNS} FROM signups WHERE tenant_id = $1 AND id = $2" + (" FOR UPDATE" if lock else ""),
        tenant_id,
        signup_id,
    )
    return None if row is None else _signup(row)


async def mark_confirmed(
    conn: asyncpg.Connection, tenant_id: UUID, signup_id: UUID, confirmed_at: datetime, subject_id: UUID
) -> None:
    """Confirmed: the plaintext goes (the subject holds the address now); a mail still queued is not sent."""
    await conn.execute(
        "UPDATE signups SET status = 'confirmed', confirmed_at = $3, subject_id = $4, email = NULL, phone = NULL, "
        "mail_status = CASE WHEN mail_status = 'queued' THEN NULL ELSE mail_status END "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        signup_id,
        confirmed_at,
        subject_id,
    )


async def purge_expired(conn: asyncpg.Connection, tenant_id: UUID, now: datetime, *, dry_run: bool = False) -> int:
    """Remove the unconfirmed sign-ups that expired, and the ``signup.pending`` webhook messages
    that carried their address and link. Returns how many sign-ups went (would go, dry)."""
    if dry_run:
        count = await conn.fetchval(
            "SELECT count(*) FROM signups WHERE tenant_id = $1 AND status = 'pending' AND expires_at <= $2",
            tenant_id,
            now,
        )
        return int(count)
    gone = await conn.fetch(
        "DELETE FROM signups WHERE tenant_id = $1 AND status = 'pending' AND expires_at <= $2 RETURNING id",
        tenant_id,
        now,
    )
    ids = [str(r["id"]) for r in gone]
    if ids:
        await _forget_messages(conn, tenant_id, ids)
    return len(ids)


async def _forget_messages(conn: asyncpg.Connection, tenant_id: UUID, signup_ids: Sequence[str]) -> None:
    await conn.execute(
        "DELETE FROM webhook_attempts WHERE tenant_id = $1 AND outbox_id IN (SELECT id FROM outbox "
        "WHERE tenant_id = $1 AND event_type = 'signup.pending' AND payload ->> 'signup_id' = ANY($2::text[]))",
        tenant_id,
        list(signup_ids),
    )
    await conn.execute(
        "DELETE FROM outbox WHERE tenant_id = $1 AND event_type = 'signup.pending' "
        "AND payload ->> 'signup_id' = ANY($2::text[])",
        tenant_id,
        list(signup_ids),
    )


async def signups_of(conn: asyncpg.Connection, tenant_id: UUID, hashes: Sequence[bytes]) -> list[SignupRow]:
    """Every sign-up made with one of these addresses (a subject's export)."""
    rows = await conn.fetch(
        f"SELECT {_SIGNUP_COLUMNS} FROM signups WHERE tenant_id = $1 AND ident_hash = ANY($2::bytea[]) "
        "ORDER BY created_at, id",
        tenant_id,
        list(hashes),
    )
    return [_signup(r) for r in rows]


async def erase(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID, hashes: Sequence[bytes]) -> int:
    """An erasure (or a sweep) of a person: their sign-ups and re-permission links go. Returns the sign-ups removed."""
    gone = await conn.fetch(
        "DELETE FROM signups WHERE tenant_id = $1 AND (ident_hash = ANY($2::bytea[]) OR subject_id = $3) RETURNING id",
        tenant_id,
        list(hashes),
        subject_id,
    )
    await conn.execute("DELETE FROM reconsent_links WHERE tenant_id = $1 AND subject_id = $2", tenant_id, subject_id)
    return len(gone)


# --- the confirmation mailer ---------------------------------------------------------------


async def claim_mail(conn: asyncpg.Connection, limit: int, lease_seconds: float) -> list[SignupRow]:
    """Lease up to ``limit`` due confirmation emails (every tenant): the lease is ``mail_next_at``
    pushed ahead, so a mailer that dies leaves them due again; ``SKIP LOCKED`` keeps two mailers
    (replicas) off the same one. One statement, committed on return."""
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT tenant_id, id FROM signups
            WHERE mail_status = 'queued' AND mail_next_at <= now()
            ORDER BY mail_next_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        UPDATE signups s SET mail_next_at = now() + make_interval(secs => $2), mail_attempts = s.mail_attempts + 1
        FROM due WHERE s.tenant_id = due.tenant_id AND s.id = due.id AND s.status = 'pending'
        RETURNING {", ".join("s." + c.strip() for c in _SIGNUP_COLUMNS.split(","))}
        """,
        limit,
        lease_seconds,
    )
    return [_signup(r) for r in rows]


async def mail_sent(conn: asyncpg.Connection, tenant_id: UUID, signup_id: UUID, message_id: str) -> None:
    await conn.execute(
        "UPDATE signups SET mail_status = 'sent', mail_sent_at = now(), message_id = $3, mail_error = NULL "
        "WHERE tenant_id = $1 AND id = $2 AND mail_status = 'queued'",
        tenant_id,
        signup_id,
        message_id,
    )


async def mail_failed(
    conn: asyncpg.Connection, tenant_id: UUID, signup_id: UUID, error: str, retry_in_seconds: float | None
) -> None:
    """A failed attempt: due again after ``retry_in_seconds``, or given up (None)."""
    await conn.execute(
        "UPDATE signups SET mail_error = $3, "
        "mail_status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE mail_status END, "
        "mail_next_at = CASE WHEN $4::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $4::float8) END "
        "WHERE tenant_id = $1 AND id = $2 AND mail_status = 'queued'",
        tenant_id,
        signup_id,
        error[:1000],
        retry_in_seconds,
    )


# --- forms ----------------------------------------------------------------------------------

_FORM_COLUMNS = "tenant_id, form_key, name, origins, purposes, fields, success_url, language, created_at"


async def insert_form(conn: asyncpg.Connection, form: FormRow) -> FormRow:
    row = await conn.fetchrow(
        f"INSERT INTO forms ({_FORM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_FORM_COLUMNS}",
        form.tenant_id, form.form_key, form.name, form.origins, form.purposes, form.fields, form.success_url,
        form.language, form.created_at,
    )  # fmt: skip
    return FormRow(**dict(row))


async def form_by_key(conn: asyncpg.Connection, form_key: str) -> FormRow | None:
    row = await conn.fetchrow(f"SELECT {_FORM_COLUMNS} FROM forms WHERE form_key = $1", form_key)
    return None if row is None else FormRow(**dict(row))


async def forms_page(conn: asyncpg.Connection, tenant_id: UUID, after: str | None, limit: int) -> list[FormRow]:
    rows = await conn.fetch(
        f"SELECT {_FORM_COLUMNS} FROM forms WHERE tenant_id = $1 AND ($2::text IS NULL OR form_key > $2) "
        "ORDER BY form_key LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [FormRow(**dict(r)) for r in rows]


# --- re-permission links ---------------------------------------------------------------------

_LINK_COLUMNS = "tenant_id, id, subject_id, purpose, created_at, expires_at, used_at, event_id"


async def insert_reconsent_link(conn: asyncpg.Connection, link: ReconsentLinkRow) -> None:
    await conn.execute(
        f"INSERT INTO reconsent_links ({_LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        link.tenant_id, link.id, link.subject_id, link.purpose, link.created_at, link.expires_at, link.used_at,
        link.event_id,
    )  # fmt: skip


async def reconsent_link(
    conn: asyncpg.Connection, tenant_id: UUID, link_id: UUID, *, lock: bool = False
) -> ReconsentLinkRow | None:
    row = await conn.fetchrow(
        f"SELECT {_LINK_COLUMNS} FROM reconsent_links WHERE tenant_id = $1 AND id = $2"
        + (" FOR UPDATE" if lock else ""),
        tenant_id,
        link_id,
    )
    return None if row is None else ReconsentLinkRow(**dict(row))


async def reconsent_link_used(
    conn: asyncpg.Connection, tenant_id: UUID, link_id: UUID, used_at: datetime, event_id: UUID
) -> None:
    await conn.execute(
        "UPDATE reconsent_links SET used_at = $3, event_id = $4 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        link_id,
        used_at,
        event_id,
    )


async def reconsent_links_of(conn: asyncpg.Connection, tenant_id: UUID, subject_id: UUID) -> list[ReconsentLinkRow]:
    rows = await conn.fetch(
        f"SELECT {_LINK_COLUMNS} FROM reconsent_links WHERE tenant_id = $1 AND subject_id = $2 ORDER BY created_at",
        tenant_id,
        subject_id,
    )
    return [ReconsentLinkRow(**dict(r)) for r in rows]
