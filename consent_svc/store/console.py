"""The console's users, sessions and audit log (sql/0016_console.sql): plain SQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from consent_svc.domain.console import AuditRow, ConsoleSessionRow, ConsoleUser

_USER = "tenant_id, id, email, role, password_hash, totp_sealed, created_at, disabled_at"
_SESSION = "tenant_id, id, user_id, csrf, created_at, last_seen_at, revoked_at"


def _user(row: Any) -> ConsoleUser:
    return ConsoleUser(**dict(row))


async def insert_user(
    conn: asyncpg.Connection,
    user: ConsoleUser,
    setup_token_hash: bytes | None,
    setup_expires_at: datetime | None,
) -> bool:
    """False when the tenant has a user with that email already."""
    status = await conn.execute(
        f"INSERT INTO console_users ({_USER}, setup_token_hash, setup_expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (tenant_id, email) DO NOTHING",
        user.tenant_id, user.id, user.email, user.role, user.password_hash, user.totp_sealed, user.created_at,
        user.disabled_at, setup_token_hash, setup_expires_at,
    )  # fmt: skip
    return bool(status.endswith(" 1"))


async def user_by_email(conn: asyncpg.Connection, tenant_id: UUID, email: str) -> ConsoleUser | None:
    row = await conn.fetchrow(
        f"SELECT {_USER} FROM console_users WHERE tenant_id = $1 AND email = $2", tenant_id, email
    )
    return None if row is None else _user(row)


async def user_by_id(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID) -> ConsoleUser | None:
    row = await conn.fetchrow(f"SELECT {_USER} FROM console_users WHERE tenant_id = $1 AND id = $2", tenant_id, user_id)
    return None if row is None else _user(row)


async def user_by_setup_token(
    conn: asyncpg.Connection, tenant_id: UUID, token_hash: bytes, now: datetime
) -> ConsoleUser | None:
    row = await conn.fetchrow(
        f"SELECT {_USER} FROM console_users WHERE tenant_id = $1 AND setup_token_hash = $2 "
        "AND setup_expires_at > $3 AND disabled_at IS NULL FOR UPDATE",
        tenant_id,
        token_hash,
        now,
    )
    return None if row is None else _user(row)


async def users(conn: asyncpg.Connection, tenant_id: UUID) -> list[ConsoleUser]:
    rows = await conn.fetch(f"SELECT {_USER} FROM console_users WHERE tenant_id = $1 ORDER BY email", tenant_id)
    return [_user(r) for r in rows]


async def set_password(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, password_hash: str, totp_sealed: bytes | None
) -> None:
    """The first password (and second factor): the set-up token is spent."""
    await conn.execute(
        "UPDATE console_users SET password_hash = $3, totp_sealed = $4, setup_token_hash = NULL, "
        "setup_expires_at = NULL WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        user_id,
        password_hash,
        totp_sealed,
    )


async def reset_user(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, setup_token_hash: bytes, setup_expires_at: datetime
) -> None:
    """No password and no second factor until the new set-up link is used."""
    await conn.execute(
        "UPDATE console_users SET password_hash = NULL, totp_sealed = NULL, setup_token_hash = $3, "
        "setup_expires_at = $4 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        user_id,
        setup_token_hash,
        setup_expires_at,
    )


async def rehash_password(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, password_hash: str) -> None:
    await conn.execute(
        "UPDATE console_users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        user_id,
        password_hash,
    )


async def set_totp(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, totp_sealed: bytes | None) -> None:
    await conn.execute(
        "UPDATE console_users SET totp_sealed = $3 WHERE tenant_id = $1 AND id = $2", tenant_id, user_id, totp_sealed
    )


async def revoke_other_sessions(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, keep: UUID, now: datetime
) -> int:
    status = await conn.execute(
        "UPDATE console_sessions SET revoked_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND id <> $3 "
        "AND revoked_at IS NULL",
        tenant_id,
        user_id,
        keep,
        now,
    )
    return int(status.split()[-1])


async def set_role(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, role: str) -> bool:
    status = await conn.execute(
        "UPDATE console_users SET role = $3 WHERE tenant_id = $1 AND id = $2", tenant_id, user_id, role
    )
    return bool(status.endswith(" 1"))


async def disable_user(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, now: datetime) -> bool:
    status = await conn.execute(
        "UPDATE console_users SET disabled_at = $3, setup_token_hash = NULL WHERE tenant_id = $1 AND id = $2 "
        "AND disabled_at IS NULL",
        tenant_id,
        user_id,
        now,
    )
    return bool(status.endswith(" 1"))


async def count_admins(conn: asyncpg.Connection, tenant_id: UUID) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM console_users WHERE tenant_id = $1 AND role = 'admin' AND disabled_at IS NULL",
            tenant_id,
        )
    )


async def insert_session(conn: asyncpg.Connection, session: ConsoleSessionRow) -> None:
    await conn.execute(
        f"INSERT INTO console_sessions ({_SESSION}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        session.tenant_id, session.id, session.user_id, session.csrf, session.created_at, session.last_seen_at,
        session.revoked_at,
    )  # fmt: skip


async def session(conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID) -> ConsoleSessionRow | None:
    row = await conn.fetchrow(
        f"SELECT {_SESSION} FROM console_sessions WHERE tenant_id = $1 AND id = $2", tenant_id, session_id
    )
    return None if row is None else ConsoleSessionRow(**dict(row))


async def touch_session(conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE console_sessions SET last_seen_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        tenant_id,
        session_id,
        now,
    )


async def revoke_session(conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE console_sessions SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
        tenant_id,
        session_id,
        now,
    )


async def revoke_sessions_of(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, now: datetime) -> int:
    status = await conn.execute(
        "UPDATE console_sessions SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        tenant_id,
        user_id,
        now,
    )
    return int(status.split()[-1])


async def insert_audit(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    row: AuditRow,
) -> None:
    await conn.execute(
        "INSERT INTO console_audit (tenant_id, id, user_id, user_email, at, action, target, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        tenant_id, row.id, row.user_id, row.user_email, row.at, row.action, row.target, json.dumps(row.detail),
    )  # fmt: skip


async def audit(conn: asyncpg.Connection, tenant_id: UUID, before: UUID | None, limit: int) -> list[AuditRow]:
    """Newest first, ``limit`` rows older than ``before``."""
    rows = await conn.fetch(
        "SELECT id, user_id, user_email, at, action, target, detail FROM console_audit "
        "WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        tenant_id,
        before,
        limit,
    )
    return [
        AuditRow(
            id=r["id"], user_id=r["user_id"], user_email=r["user_email"], at=r["at"], action=r["action"],
            target=r["target"], detail=json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"],
        )
        for r in rows
    ]  # fmt: skip


async def accept_totp_step(conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, step: int) -> bool:
    """Spend a second-factor code's time step: True when it is later than the last one accepted."""
    spent = await conn.fetchval(
        "UPDATE console_users SET totp_last_step = $3 WHERE tenant_id = $1 AND id = $2 "
        "AND (totp_last_step IS NULL OR totp_last_step < $3) RETURNING true",
        tenant_id,
        user_id,
        step,
    )
    return bool(spent)
