"""Purposes, with every configuration kept as a version."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec


class PurposeRow(msgspec.Struct, frozen=True):
    key: str
    version: int
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


async def lock_purpose(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> PurposeRow | None:
    row = await conn.fetchrow(
        "SELECT key, version, config, created_at, updated_at FROM purposes "
        "WHERE tenant_id = $1 AND key = $2 FOR UPDATE",
        tenant_id,
        key,
    )
    return None if row is None else PurposeRow(**dict(row))


async def upsert_purpose(
    conn: asyncpg.Connection, tenant_id: UUID, key: str, version: int, config: dict[str, Any]
) -> PurposeRow:
    row = await conn.fetchrow(
        """
        INSERT INTO purposes (tenant_id, key, version, config) VALUES ($1, $2, $3, $4)
        ON CONFLICT (tenant_id, key) DO UPDATE
            SET version = excluded.version, config = excluded.config, updated_at = now()
        RETURNING key, version, config, created_at, updated_at
        """,
        tenant_id,
        key,
        version,
        config,
    )
    await conn.execute(
        "INSERT INTO purpose_versions (tenant_id, key, version, config) VALUES ($1, $2, $3, $4)",
        tenant_id,
        key,
        version,
        config,
    )
    return PurposeRow(**dict(row))


async def get_purpose(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> PurposeRow | None:
    row = await conn.fetchrow(
        "SELECT key, version, config, created_at, updated_at FROM purposes WHERE tenant_id = $1 AND key = $2",
        tenant_id,
        key,
    )
    return None if row is None else PurposeRow(**dict(row))


async def list_purposes(conn: asyncpg.Connection, tenant_id: UUID) -> list[PurposeRow]:
    rows = await conn.fetch(
        "SELECT key, version, config, created_at, updated_at FROM purposes WHERE tenant_id = $1 ORDER BY key",
        tenant_id,
    )
    return [PurposeRow(**dict(r)) for r in rows]


async def purposes_page(conn: asyncpg.Connection, tenant_id: UUID, after: str | None, limit: int) -> list[PurposeRow]:
    rows = await conn.fetch(
        "SELECT key, version, config, created_at, updated_at FROM purposes "
        "WHERE tenant_id = $1 AND ($2::text IS NULL OR key > $2) ORDER BY key LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [PurposeRow(**dict(r)) for r in rows]


async def purpose_keys(conn: asyncpg.Connection, tenant_id: UUID) -> set[str]:
    rows = await conn.fetch("SELECT key FROM purposes WHERE tenant_id = $1", tenant_id)
    return {r["key"] for r in rows}


class PurposeVersionRow(msgspec.Struct, frozen=True):
    version: int
    config: dict[str, Any]
    created_at: datetime


async def list_versions(
    conn: asyncpg.Connection, tenant_id: UUID, key: str, after: int = 0, limit: int | None = None
) -> list[PurposeVersionRow]:
    rows = await conn.fetch(
        "SELECT version, config, created_at FROM purpose_versions WHERE tenant_id = $1 AND key = $2 "
        "AND version > $3 ORDER BY version LIMIT $4",
        tenant_id,
        key,
        after,
        limit,
    )
    return [PurposeVersionRow(**dict(r)) for r in rows]
