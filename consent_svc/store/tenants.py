"""Tenants and API keys."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from consent_svc.domain.records import BrandingRow, KeyRow, TenantRow


async def insert_tenant(conn: asyncpg.Connection, tenant_id: UUID, name: str) -> TenantRow | None:
    """Insert; ``None`` when the name is taken."""
    row = await conn.fetchrow(
        "INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at",
        tenant_id,
        name,
    )
    if row is None:
        return None
    await conn.execute("INSERT INTO tenant_counters (tenant_id) VALUES ($1)", tenant_id)
    return TenantRow(row["id"], row["name"], row["created_at"])


async def tenant_by_name(conn: asyncpg.Connection, name: str) -> TenantRow | None:
    row = await conn.fetchrow("SELECT id, name, created_at FROM tenants WHERE name = $1", name)
    return None if row is None else TenantRow(row["id"], row["name"], row["created_at"])


async def list_tenants(conn: asyncpg.Connection, after: str | None = None, limit: int | None = None) -> list[TenantRow]:
    rows = await conn.fetch(
        "SELECT id, name, created_at FROM tenants WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2",
        after,
        limit,
    )
    return [TenantRow(r["id"], r["name"], r["created_at"]) for r in rows]


async def insert_key(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    key_id: UUID,
    key_hash: bytes,
    scope: str,
    label: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO api_keys (tenant_id, id, key_hash, scope, label) VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        key_id,
        key_hash,
        scope,
        label,
    )


_KEY_COLUMNS = (
    "k.id, k.tenant_id, t.name AS tenant_name, k.scope, k.label, k.created_at, k.revoked_at "
    "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
)


def _key(row: asyncpg.Record) -> KeyRow:
    return KeyRow(
        row["id"], row["tenant_id"], row["tenant_name"], row["scope"], row["label"],
        row["created_at"], row["revoked_at"],
    )  # fmt: skip


PLATFORM = "(platform)"  # what a platform key's principal carries for a tenant name (no tenant can be named so)
_PLATFORM_COLUMNS = (
    f"id, NULL::uuid AS tenant_id, '{PLATFORM}' AS tenant_name, 'platform' AS scope, label, created_at, revoked_at "
    "FROM platform_keys"
)


async def active_key_by_hash(conn: asyncpg.Connection, key_hash: bytes) -> KeyRow | None:
    """A tenant's key or a platform key (both keep only the SHA-256 of the key)."""
    row = await conn.fetchrow(
        f"SELECT {_KEY_COLUMNS} WHERE k.key_hash = $1 AND k.revoked_at IS NULL "
        f"UNION ALL SELECT {_PLATFORM_COLUMNS} WHERE key_hash = $1 AND revoked_at IS NULL",
        key_hash,
    )
    return None if row is None else _key(row)


async def insert_platform_key(conn: asyncpg.Connection, key_id: UUID, key_hash: bytes, label: str | None) -> None:
    await conn.execute("INSERT INTO platform_keys (id, key_hash, label) VALUES ($1, $2, $3)", key_id, key_hash, label)


async def list_platform_keys(conn: asyncpg.Connection) -> list[KeyRow]:
    return [_key(r) for r in await conn.fetch(f"SELECT {_PLATFORM_COLUMNS} ORDER BY created_at")]


async def revoke_platform_key(conn: asyncpg.Connection, key_id: UUID) -> KeyRow | None:
    await conn.execute("UPDATE platform_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id)
    row = await conn.fetchrow(f"SELECT {_PLATFORM_COLUMNS} WHERE id = $1", key_id)
    return None if row is None else _key(row)


async def tenant_by_id(conn: asyncpg.Connection, tenant_id: UUID) -> TenantRow | None:
    row = await conn.fetchrow("SELECT id, name, created_at FROM tenants WHERE id = $1", tenant_id)
    return None if row is None else TenantRow(**dict(row))


async def list_keys(
    conn: asyncpg.Connection, tenant_id: UUID, after: UUID | None = None, limit: int | None = None
) -> list[KeyRow]:
    """Oldest first (key ids are time-ordered)."""
    rows = await conn.fetch(
        f"SELECT {_KEY_COLUMNS} WHERE k.tenant_id = $1 AND ($2::uuid IS NULL OR k.id > $2) ORDER BY k.id LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [_key(r) for r in rows]


async def key_of_tenant(conn: asyncpg.Connection, tenant_id: UUID, key_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE tenant_id = $1 AND id = $2)", tenant_id, key_id
    )
    return found


async def revoke_key(conn: asyncpg.Connection, key_id: UUID) -> KeyRow | None:
    """Revoke (idempotent); ``None`` when no such key."""
    await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id)
    row = await conn.fetchrow(f"SELECT {_KEY_COLUMNS} WHERE k.id = $1", key_id)
    return None if row is None else _key(row)


async def read_meta(conn: asyncpg.Connection, key: str) -> bytes | None:
    value: bytes | None = await conn.fetchval("SELECT value FROM service_meta WHERE key = $1", key)
    return value


async def write_meta_once(conn: asyncpg.Connection, key: str, value: bytes) -> bytes:
    """Store ``value`` unless a value is there; return what is stored."""
    await conn.execute(
        "INSERT INTO service_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        key,
        value,
    )
    stored: bytes = await conn.fetchval("SELECT value FROM service_meta WHERE key = $1", key)
    return stored


_BRANDING = "name, display_name, logo_url, primary_color, privacy_policy_url, unsubscribe_mailto"


async def get_branding(conn: asyncpg.Connection, tenant_id: UUID, *, for_update: bool = False) -> BrandingRow | None:
    lock = " FOR UPDATE" if for_update else ""  # a patch reads and writes under the row lock
    row = await conn.fetchrow(f"SELECT {_BRANDING} FROM tenants WHERE id = $1{lock}", tenant_id)
    return None if row is None else BrandingRow(**dict(row))


async def set_branding(conn: asyncpg.Connection, tenant_id: UUID, branding: BrandingRow) -> BrandingRow:
    row = await conn.fetchrow(
        f"""
        UPDATE tenants SET display_name = $2, logo_url = $3, primary_color = $4,
                           privacy_policy_url = $5, unsubscribe_mailto = $6
        WHERE id = $1 RETURNING {_BRANDING}
        """,
        tenant_id,
        branding.display_name,
        branding.logo_url,
        branding.primary_color,
        branding.privacy_policy_url,
        branding.unsubscribe_mailto,
    )
    return BrandingRow(**dict(row))
