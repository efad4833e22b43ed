"""Sites and banner receipts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from consent_svc.domain.records import BannerVersionRow, ChoiceCountRow, ReceiptRow, SiteRow

_SITE = (
    "tenant_id, site_key, name, origins, categories, banner_version, validity_days, gpc_domains, created_at,"
    " updated_at, options"
)


async def insert_site(conn: asyncpg.Connection, site: SiteRow) -> SiteRow:
    row = await conn.fetchrow(
        f"""INSERT INTO sites (tenant_id, site_key, name, origins, categories, banner_version, validity_days,
                               gpc_domains, options)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_SITE}""",
        site.tenant_id, site.site_key, site.name, site.origins, site.categories, site.banner_version,
        site.validity_days, site.gpc_domains, site.options,
    )  # fmt: skip
    return SiteRow(**dict(row))


async def update_site(conn: asyncpg.Connection, site: SiteRow) -> SiteRow:
    row = await conn.fetchrow(
        f"""UPDATE sites SET name = $3, origins = $4, categories = $5, banner_version = $6, validity_days = $7,
                             gpc_domains = $8, options = $9, updated_at = now()
            WHERE tenant_id = $1 AND site_key = $2 RETURNING {_SITE}""",
        site.tenant_id, site.site_key, site.name, site.origins, site.categories, site.banner_version,
        site.validity_days, site.gpc_domains, site.options,
    )  # fmt: skip
    return SiteRow(**dict(row))


async def site_by_key(conn: asyncpg.Connection, site_key: str, *, lock: bool = False) -> SiteRow | None:
    row = await conn.fetchrow(
        f"SELECT {_SITE} FROM sites WHERE site_key = $1 AND deleted_at IS NULL{' FOR UPDATE' if lock else ''}",
        site_key,
    )
    return None if row is None else SiteRow(**dict(row))


async def delete_site(conn: asyncpg.Connection, tenant_id: UUID, site_key: str) -> SiteRow | None:
    """Mark the site deleted (its receipts stay); ``None`` when the tenant has no such site."""
    row = await conn.fetchrow(
        f"UPDATE sites SET deleted_at = now(), updated_at = now() "
        f"WHERE tenant_id = $1 AND site_key = $2 AND deleted_at IS NULL RETURNING {_SITE}",
        tenant_id,
        site_key,
    )
    return None if row is None else SiteRow(**dict(row))


async def receipt_count(conn: asyncpg.Connection, tenant_id: UUID, site_key: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM banner_consents WHERE tenant_id = $1 AND site_key = $2", tenant_id, site_key
    )
    return count


async def list_sites(
    conn: asyncpg.Connection, tenant_id: UUID, after: str | None = None, limit: int | None = None
) -> list[SiteRow]:
    rows = await conn.fetch(
        f"SELECT {_SITE} FROM sites WHERE tenant_id = $1 AND deleted_at IS NULL "
        "AND ($2::text IS NULL OR site_key > $2) ORDER BY site_key LIMIT $3",
        tenant_id,
        after,
        limit,
    )
    return [SiteRow(**dict(r)) for r in rows]


async def site_for_gpc_domain(conn: asyncpg.Connection, domain: str) -> SiteRow | None:
    row = await conn.fetchrow(
        f"SELECT {_SITE} FROM sites WHERE $1 = ANY (gpc_domains) AND deleted_at IS NULL "
        "ORDER BY updated_at DESC LIMIT 1",
        domain,
    )
    return None if row is None else SiteRow(**dict(row))


_RECEIPT = (
    "id, site_key, visitor_id, categories, action, banner_version, language, gpc, recorded_at, expires_at, subject_id,"
    " origin, texts_hash"
)


async def insert_receipt(
    conn: asyncpg.Connection, tenant_id: UUID, receipt: ReceiptRow, ip_prefix: str | None, user_agent: str | None
) -> ReceiptRow:
    row = await conn.fetchrow(
        f"""INSERT INTO banner_consents (tenant_id, id, site_key, visitor_id, categories, action, banner_version,
                                         language, gpc, ip_prefix, user_agent, recorded_at, expires_at, origin,
                                         texts_hash)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {_RECEIPT}""",
        tenant_id, receipt.id, receipt.site_key, receipt.visitor_id, receipt.categories, receipt.action,
        receipt.banner_version, receipt.language, receipt.gpc, ip_prefix, user_agent, receipt.recorded_at,
        receipt.expires_at, receipt.origin, receipt.texts_hash,
    )  # fmt: skip
    return ReceiptRow(**dict(row))


async def receipt(conn: asyncpg.Connection, site: SiteRow, consent_id: UUID) -> ReceiptRow | None:
    row = await conn.fetchrow(
        f"SELECT {_RECEIPT} FROM banner_consents WHERE tenant_id = $1 AND site_key = $2 AND id = $3",
        site.tenant_id,
        site.site_key,
        consent_id,
    )
    return None if row is None else ReceiptRow(**dict(row))


async def link_subject(
    conn: asyncpg.Connection, tenant_id: UUID, consent_id: UUID, subject_id: UUID
) -> ReceiptRow | None:
    row = await conn.fetchrow(
        f"UPDATE banner_consents SET subject_id = $3 WHERE tenant_id = $1 AND id = $2 RETURNING {_RECEIPT}",
        tenant_id,
        consent_id,
        subject_id,
    )
    return None if row is None else ReceiptRow(**dict(row))


async def insert_version(
    conn: asyncpg.Connection, tenant_id: UUID, site_key: str, version: int, shown: dict[str, Any],
    hashes: dict[str, str],
) -> dict[str, str]:  # fmt: skip
    """Keep what ``version`` shows (once: a version's texts never change); returns the hashes
    kept for it (those given, or those kept before)."""
    kept = await conn.fetchval(
        "WITH ins AS (INSERT INTO banner_versions (tenant_id, site_key, version, shown, hashes) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, site_key, version) DO NOTHING RETURNING hashes) "
        "SELECT hashes FROM ins UNION ALL SELECT hashes FROM banner_versions "
        "WHERE tenant_id = $1 AND site_key = $2 AND version = $3 LIMIT 1",
        tenant_id, site_key, version, shown, hashes,
    )  # fmt: skip
    return dict(kept)


async def next_version(conn: asyncpg.Connection, tenant_id: UUID, site_key: str, current: int) -> None:
    """Raise a site's banner_version by one (when what it shows changed under a kept version)."""
    await conn.execute(
        "UPDATE sites SET banner_version = banner_version + 1, updated_at = now() "
        "WHERE tenant_id = $1 AND site_key = $2 AND banner_version = $3",
        tenant_id,
        site_key,
        current,
    )


async def version(conn: asyncpg.Connection, tenant_id: UUID, site_key: str, n: int) -> BannerVersionRow | None:
    row = await conn.fetchrow(
        "SELECT site_key, version, shown, hashes, created_at FROM banner_versions "
        "WHERE tenant_id = $1 AND site_key = $2 AND version = $3",
        tenant_id,
        site_key,
        n,
    )
    return None if row is None else BannerVersionRow(**dict(row))


async def count_unlinked_expired(conn: asyncpg.Connection, tenant_id: UUID, expired_before: datetime) -> int:
    """Receipts never linked to a person that expired before ``expired_before``."""
    counted: int = await conn.fetchval(
        "SELECT count(*) FROM banner_consents WHERE tenant_id = $1 AND subject_id IS NULL AND expires_at < $2",
        tenant_id,
        expired_before,
    )
    return counted


async def delete_unlinked_expired(
    conn: asyncpg.Connection, tenant_id: UUID, expired_before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` of those receipts; returns how many went."""
    status: str = await conn.execute(
        "DELETE FROM banner_consents WHERE tenant_id = $1 AND id IN (SELECT id FROM banner_consents "
        "WHERE tenant_id = $1 AND subject_id IS NULL AND expires_at < $2 LIMIT $3)",
        tenant_id,
        expired_before,
        limit,
    )
    return int(status.split()[-1])


async def choice_counts(
    conn: asyncpg.Connection, tenant_id: UUID, site_key: str, first: date, last: date
) -> list[ChoiceCountRow]:
    """The rolled-up choices (kept by a trigger on every receipt) for days ``first``..``last``."""
    rows = await conn.fetch(
        "SELECT day, banner_version, action, gpc, categories, n FROM banner_choice_counts "
        "WHERE tenant_id = $1 AND site_key = $2 AND day BETWEEN $3 AND $4 ORDER BY day, banner_version",
        tenant_id,
        site_key,
        first,
        last,
    )
    return [ChoiceCountRow(**dict(r)) for r in rows]
