"""Purposes: create or replace, every change kept as a new version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec

from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.optin import material_change
from consent_svc.domain.purposes import check_lawful, published
from consent_svc.domain.records import Page
from consent_svc.service import reconsent
from consent_svc.service.context import Context
from consent_svc.service.inputs import PurposeIn
from consent_svc.store import purposes as store


def _stored(config: PurposeConfig) -> dict[str, object]:
    """The configuration as it is stored (JSON types: lists, ISO-8601 strings)."""
    stored: dict[str, object] = msgspec.json.decode(msgspec.json.encode(config))
    return stored


def _config(key: str, body: PurposeIn, version: int) -> PurposeConfig:
    if len(set(body.channels)) != len(body.channels):
        raise InvalidInput.field("channels", "lists a channel twice")
    for name in ("title", "description"):
        texts = getattr(body, name)
        missing = [lang for lang in ("sv", "en") if lang not in texts]
        if missing:
            raise InvalidInput.field(name, f"needs a text in {' and '.join(missing)}")
    config = PurposeConfig(
        key=key,
        version=version,
        **{f: getattr(body, f) for f in body.__struct_fields__ if f not in ("channels", "registers")},
        channels=tuple(body.channels),
        registers=None if body.registers is None else tuple(body.registers),
    )
    check_lawful(key, config)
    return config


async def put(ctx: Context, tenant_id: UUID, key: str, body: PurposeIn) -> tuple[PurposeConfig, bool]:
    """Create or replace. Returns the stored configuration and whether it was created.
    An unchanged configuration is not a new version."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await store.lock_purpose(conn, tenant_id, key)
        current = None if row is None else msgspec.convert(row.config, PurposeConfig)
        now = ctx.clock()
        if row is not None:
            proposed = published(current, _config(key, body, row.version), now)
            if _stored(proposed) == row.config:
                return proposed, False
            version = row.version + 1
        else:
            version = 1
        config = published(current, _config(key, body, version), now)
        await store.upsert_purpose(conn, tenant_id, key, version, _stored(config))
        if material_change(current, config):
            await reconsent.announce(conn, ctx, tenant_id, config)
        return config, row is None


async def get(ctx: Context, tenant_id: UUID, key: str) -> PurposeConfig:
    async with ctx.pool.acquire() as conn:
        row = await store.get_purpose(conn, tenant_id, key)
    if row is None:
        raise NotFound(f"no purpose {key!r}")
    return msgspec.convert(row.config, PurposeConfig)


async def list_page(ctx: Context, tenant_id: UUID, after: str | None, limit: int) -> Page[PurposeConfig]:
    """The tenant's purposes in key order."""
    async with ctx.pool.acquire() as conn:
        rows = await store.purposes_page(conn, tenant_id, after, limit + 1)
    return Page.of([msgspec.convert(r.config, PurposeConfig) for r in rows], limit, lambda p: p.key)


@dataclass(frozen=True, slots=True)
class Version:
    config: PurposeConfig
    created_at: datetime


async def versions(ctx: Context, tenant_id: UUID, key: str, after: int, limit: int) -> Page[Version]:
    """Every configuration the purpose had, oldest first."""
    async with ctx.pool.acquire() as conn:
        if await store.get_purpose(conn, tenant_id, key) is None:
            raise NotFound(f"no purpose {key!r}")
        rows = await store.list_versions(conn, tenant_id, key, after, limit + 1)
    found = [Version(msgspec.convert(r.config, PurposeConfig), r.created_at) for r in rows]
    return Page.of(found, limit, lambda v: v.config.version)
