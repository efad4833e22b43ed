"""Tenants, API keys (creation, revocation, the look-up behind authentication) and branding."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from uuid import UUID

import msgspec

from consent_svc.domain.errors import Conflict, InvalidInput, NotFound
from consent_svc.domain.identifiers import normalize_email
from consent_svc.domain.ids import uuid7
from consent_svc.domain.models import KEY_SCOPES
from consent_svc.domain.records import BrandingRow, KeyRow, Page, TenantRow
from consent_svc.service.context import Context
from consent_svc.service.inputs import BrandingIn, BrandingPatch
from consent_svc.store import tenants as store

KEY_PREFIX = "csk_"
PLATFORM_KEY_PREFIX = "csp_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant and the scope of the key, or the platform operator (no tenant)."""

    tenant_id: UUID | None  # None only for scope "platform"
    tenant_name: str
    key_id: UUID
    scope: str

    def allows(self, needed: str) -> bool:
        """admin can do what record can, record what check can. A platform key manages tenants and
        keys only: it reads no tenant's data, and no tenant's key can manage tenants."""
        if self.scope == "platform" or needed == "platform":
            return self.scope == needed
        order = {"check": 0, "record": 1, "admin": 2}
        return order[self.scope] >= order[needed]


def hash_key(token: str) -> bytes:
    # Keys carry 256 random bits, so a plain SHA-256 is enough (no stretching needed).
    return hashlib.sha256(token.encode()).digest()


async def create_tenant(ctx: Context, name: str) -> TenantRow:
    name = name.strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", name):
        raise InvalidInput.field(
            "name",
            "use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await store.insert_tenant(conn, uuid7(), name)
    if row is None:
        raise Conflict(f"a tenant named {name!r} exists")
    return row


async def tenant_page(ctx: Context, after: str | None, limit: int) -> Page[TenantRow]:
    async with ctx.pool.acquire() as conn:
        rows = await store.list_tenants(conn, after, limit + 1)
    return Page.of(rows, limit, lambda t: t.name)


async def list_tenants(ctx: Context) -> list[TenantRow]:
    async with ctx.pool.acquire() as conn:
        return await store.list_tenants(conn)


async def tenant(ctx: Context, tenant_id: UUID) -> TenantRow:
    async with ctx.pool.acquire() as conn:
        row = await store.tenant_by_id(conn, tenant_id)
    if row is None:
        raise NotFound(f"no tenant {tenant_id}")
    return row


async def create_key(ctx: Context, tenant_name: str, scope: str, label: str | None = None) -> tuple[UUID, str]:
    """Create a key; return its id and the key itself (shown once, only its hash is kept)."""
    async with ctx.pool.acquire() as conn:
        tenant = await store.tenant_by_name(conn, tenant_name)
    if tenant is None:
        raise NotFound(f"no tenant named {tenant_name!r}")
    return await create_key_for(ctx, tenant.id, scope, label)


async def create_key_for(ctx: Context, tenant_id: UUID, scope: str, label: str | None = None) -> tuple[UUID, str]:
    if scope not in KEY_SCOPES:
        raise InvalidInput.field("scope", f"must be one of {', '.join(KEY_SCOPES)}")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = uuid7()
    async with ctx.pool.acquire() as conn, conn.transaction():
        if await store.tenant_by_id(conn, tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id}")
        await store.insert_key(conn, tenant_id, key_id, hash_key(token), scope, label)
    return key_id, token


async def create_platform_key(ctx: Context, label: str | None = None) -> tuple[UUID, str]:
    """A key for the platform operator: manages tenants and their keys, reads no tenant's data."""
    token = PLATFORM_KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = uuid7()
    async with ctx.pool.acquire() as conn, conn.transaction():
        await store.insert_platform_key(conn, key_id, hash_key(token), label)
    return key_id, token


async def list_platform_keys(ctx: Context) -> list[KeyRow]:
    async with ctx.pool.acquire() as conn:
        return await store.list_platform_keys(conn)


async def revoke_key(ctx: Context, key_id: UUID, tenant_id: UUID | None = None) -> KeyRow:
    """Revoke a tenant's key or a platform key (idempotent); with ``tenant_id``, only that tenant's."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        if tenant_id is None:
            row = await store.revoke_key(conn, key_id) or await store.revoke_platform_key(conn, key_id)
        else:
            owned = await store.key_of_tenant(conn, tenant_id, key_id)
            row = await store.revoke_key(conn, key_id) if owned else None
    if row is None:
        raise NotFound(f"no key with id {key_id}")
    return row


async def keys_of(ctx: Context, tenant_id: UUID, after: UUID | None, limit: int) -> Page[KeyRow]:
    async with ctx.pool.acquire() as conn:
        if await store.tenant_by_id(conn, tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id}")
        rows = await store.list_keys(conn, tenant_id, after, limit + 1)
    return Page.of(rows, limit, lambda k: k.id)


async def list_keys(ctx: Context, tenant_name: str) -> list[KeyRow]:
    async with ctx.pool.acquire() as conn:
        tenant = await store.tenant_by_name(conn, tenant_name)
        if tenant is None:
            raise NotFound(f"no tenant named {tenant_name!r}")
        return await store.list_keys(conn, tenant.id)


async def principal_for(ctx: Context, digest: bytes) -> Principal | None:
    """The principal of an active key with this hash (None: unknown or revoked)."""
    async with ctx.pool.acquire() as conn:
        row = await store.active_key_by_hash(conn, digest)
    return None if row is None else Principal(row.tenant_id, row.tenant_name, row.id, row.scope)


async def get_branding(ctx: Context, tenant_id: UUID) -> BrandingRow:
    async with ctx.pool.acquire() as conn:
        row = await store.get_branding(conn, tenant_id)
    if row is None:
        raise NotFound("no such tenant")
    return row


# Legal in an address's local part, but each means something in a mailto: URI or a
# List-Unsubscribe header ("a?cc=x@evil.example" would add a recipient if left raw).
# Other URI characters ("=", "/", "#" ...) are allowed and percent-encoded in the URI.
_MAILTO_FORBIDDEN = frozenset("?&%<>,")


def _unsubscribe_mailbox(raw: str) -> str:
    """A plain address for the List-Unsubscribe mailto:, nothing that could read as URI syntax."""
    value = raw.strip()
    if any(c in _MAILTO_FORBIDDEN or c.isspace() or not c.isprintable() for c in value):
        raise InvalidInput.field("unsubscribe_mailto", "must be a plain address: no ? & % < > , or spaces")
    return normalize_email(value, field="unsubscribe_mailto")


async def set_branding(ctx: Context, tenant_id: UUID, body: BrandingIn) -> BrandingRow:
    """Replace every field (those left out are cleared)."""
    return await patch_branding(ctx, tenant_id, BrandingPatch(**msgspec.structs.asdict(body)))


async def patch_branding(ctx: Context, tenant_id: UUID, patch: BrandingPatch) -> BrandingRow:
    """Change the fields given (``None`` clears one), keep the others."""
    given = {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not msgspec.UNSET}
    if given.get("unsubscribe_mailto") is not None:
        given["unsubscribe_mailto"] = _unsubscribe_mailbox(given["unsubscribe_mailto"])
    if given.get("primary_color") is not None:
        given["primary_color"] = given["primary_color"].lower()
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await store.get_branding(conn, tenant_id, for_update=True)
        if current is None:
            raise NotFound("no such tenant")
        return await store.set_branding(conn, tenant_id, msgspec.structs.replace(current, **given))


async def tenant_id_by_name(ctx: Context, name: str) -> UUID:
    async with ctx.pool.acquire() as conn:
        tenant = await store.tenant_by_name(conn, name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant.id
