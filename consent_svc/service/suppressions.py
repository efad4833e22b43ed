"""The suppression list: add, look up, lift, export for syncing into email providers."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.identifiers import Identifier, exchange_sha256, one_identifier, stored_value
from consent_svc.domain.ids import uuid7
from consent_svc.domain.records import ActiveScope, Page, SuppressionRow
from consent_svc.service.context import Context
from consent_svc.service.inputs import SuppressionIn
from consent_svc.store import purposes as purpose_store
from consent_svc.store import suppressions as store


def suppression_identifier(
    email: str | None, phone: str | None, region: str, personal_number: str | None = None
) -> Identifier:
    given = {"email": email, "phone": phone}
    if personal_number is not None:
        given["personal_number"] = personal_number
    return one_identifier(given, region=region, field="email")


def new_entry(ctx: Context, ident: Identifier, scope: str, channel: str | None, reason: str,
              source: str | None, note: str | None) -> store.NewSuppression:  # fmt: skip
    return store.NewSuppression(
        id=uuid7(),
        ident_hash=ctx.hasher.key(ident),
        ident_type=ident.type,
        value=stored_value(ident),
        sha256=exchange_sha256(ident),
        scope=scope,
        channel=channel,
        reason=reason,
        source=source,
        note=note,
    )


async def add(ctx: Context, tenant_id: UUID, body: SuppressionIn) -> tuple[SuppressionRow, bool]:
    """Add an entry; idempotent on (identifier, scope, channel, reason). Returns (entry, created)."""
    if body.reason == "erasure":
        raise InvalidInput.field("reason", "erasure entries are made by erasing a subject")
    ident = suppression_identifier(body.email, body.phone, ctx.settings.default_phone_region, body.personal_number)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if body.scope != "all" and body.scope not in await purpose_store.purpose_keys(conn, tenant_id):
            raise InvalidInput.field("scope", f"is 'all' or a purpose key; unknown purpose {body.scope!r}")
        entry = new_entry(ctx, ident, body.scope, body.channel, body.reason, body.source, body.note)
        [(row, created)] = await store.add(conn, tenant_id, [entry])
    return row, created


async def find(
    ctx: Context,
    tenant_id: UUID,
    email: str | None,
    phone: str | None,
    after: UUID | None,
    limit: int,
    personal_number: str | None = None,
) -> Page[SuppressionRow]:
    """The active entries of an email, phone or personal number, oldest first."""
    ident = suppression_identifier(email, phone, ctx.settings.default_phone_region, personal_number)
    async with ctx.pool.acquire() as conn:
        rows = await store.active_for(conn, tenant_id, [ctx.hasher.key(ident)], after, limit + 1)
    return Page.of(rows, limit, lambda r: r.id)


async def get(ctx: Context, tenant_id: UUID, entry_id: UUID) -> SuppressionRow:
    async with ctx.pool.acquire() as conn:
        row = await store.by_id(conn, tenant_id, entry_id)
    if row is None:
        raise NotFound(f"no suppression entry {entry_id}")
    return row


async def lift(ctx: Context, tenant_id: UUID, entry_id: UUID, reason: str) -> SuppressionRow:
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await store.lift(conn, tenant_id, entry_id, reason)
    if row is None:
        raise NotFound(f"no suppression entry {entry_id}")
    return row


@dataclass(frozen=True, slots=True)
class ExportPage:
    items: list[SuppressionRow]
    # Per entry: what is active for its identifier at the time of the read (empty: nothing blocks it).
    # A later change to the identifier comes later in the export with its own, newer state, so a client
    # that sets the state of each item in order ends with the state of now.
    active: dict[UUID, list[ActiveScope]]
    position: int  # resume here: the last change this page holds (or where it started)
    more: bool  # more changes follow now


async def export(ctx: Context, tenant_id: UUID, after: int, limit: int) -> ExportPage:
    """Every entry added or lifted after change ``after``, oldest change first."""
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await store.changes_since(conn, tenant_id, after, limit + 1)
        items = rows[:limit]
        active = await store.still_active(conn, tenant_id, [r.id for r in items])
    return ExportPage(items, active, items[-1].change_seq if items else after, len(rows) > limit)
