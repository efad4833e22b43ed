"""Email and SMS provider integrations (issue 16): create, read, change and delete them, read their
logs, and queue a reconciliation of the suppression list.

Settings are checked by the protocol layer (``consent_svc.integrations.validate_settings``:
a 400 names each field at fault). Secret fields (``SECRET_FIELDS``: API keys, signing keys,
auth tokens) are write-only: they are sealed (``service.sealing``) before they reach the
database and shown as ``"***"``. Postmark's basic-auth credentials are generated here; the
password is shown once, in the answer that made it, and only its SHA-256 is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec

from consent_svc.config import Settings as ServiceSettings
from consent_svc.domain.errors import DomainError, FieldError, InvalidInput, NotFound
from consent_svc.domain.ids import uuid7
from consent_svc.domain.records import FeedbackRow, IntegrationDeliveryRow, IntegrationRow, Page
from consent_svc.integrations import (
    SECRET_FIELDS,
    SETTINGS_TYPES,
    Credentials,
    Provider,
    Settings,
    generate_credentials,
    public_settings,
    validate_settings,
)
from consent_svc.service.context import Context
from consent_svc.service.inputs import IntegrationIn, IntegrationPatchIn
from consent_svc.service.sealing import Sealer, SealError
from consent_svc.store import integration_outbox as outbox_store
from consent_svc.store import integrations as store
from consent_svc.store import purposes as purpose_store

# What a suppression entry made from an integration's feedback carries as its ``source``.
SOURCE_PREFIX = "integration:"
GENERATED = ("username", "password_sha256")  # Postmark: made here, never taken from a request
MASK = "***"


class SecretsUnreadable(DomainError):
    """An integration's sealed secrets open with no key of this service (CONSENT_ENCRYPTION_KEYS
    or the pepper changed): nothing can be verified or pushed until the key is restored (-> 503)."""

    title = "Integration secrets unreadable"


@dataclass(frozen=True, slots=True)
class IntegrationView:
    row: IntegrationRow
    inbound_url: str
    credentials: Credentials | None = None  # Postmark, just generated: the password is shown once


def source_of(integration_id: UUID) -> str:
    return f"{SOURCE_PREFIX}{integration_id}"


def inbound_url(ctx: Context, integration_id: UUID) -> str:
    return f"{ctx.settings.public_url}/in/{integration_id}"


@functools.lru_cache(maxsize=8)
def _sealer(keys: tuple[bytes, ...], pepper: bytes) -> Sealer:
    return Sealer(keys, pepper)


def sealer(settings: ServiceSettings) -> Sealer:
    return _sealer(tuple(k.reveal() for k in settings.encryption_keys), settings.pepper.reveal())


def _associated(tenant_id: UUID, integration_id: UUID) -> bytes:
    return b"integration secrets|" + tenant_id.bytes + integration_id.bytes


def _seal(ctx: Context, tenant_id: UUID, integration_id: UUID, secrets: Mapping[str, Any]) -> bytes:
    return sealer(ctx.settings).seal(msgspec.json.encode(dict(secrets)), _associated(tenant_id, integration_id))


def _open(ctx: Context, tenant_id: UUID, integration_id: UUID, sealed: bytes | None) -> dict[str, Any]:
    if sealed is None:
        return {}
    try:
        opened = sealer(ctx.settings).open(sealed, _associated(tenant_id, integration_id))
    except SealError:
        raise SecretsUnreadable(
            f"the secrets of integration {integration_id} open with no key of this service: "
            "restore the CONSENT_ENCRYPTION_KEYS (or pepper) they were sealed with"
        ) from None
    found: dict[str, Any] = msgspec.json.decode(opened)
    return found


def settings_of(ctx: Context, provider: str, tenant_id: UUID, integration_id: UUID,
                public: Mapping[str, Any], sealed: bytes | None) -> Settings:  # fmt: skip
    """The provider settings Struct, secrets opened (over their ``"***"`` in the stored settings)."""
    kind = SETTINGS_TYPES[provider]  # type: ignore[index]
    shown = {k: v for k, v in public.items() if not (k in SECRET_FIELDS[provider] and v == MASK)}  # type: ignore[index]
    return msgspec.convert({**shown, **_open(ctx, tenant_id, integration_id, sealed)}, kind)


def _split(provider: Provider, settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the settings as they may be shown, a secret that is set as ``"***"``; the secret fields
    that are set). The first is stored as it is, so showing an integration opens no secret."""
    full: dict[str, Any] = msgspec.to_builtins(settings)
    public = {k: v for k, v in public_settings(provider, settings).items() if v is not None}
    secrets = {k: v for k, v in full.items() if k in SECRET_FIELDS[provider] and v is not None}
    return public, secrets


def _row(stored: store.StoredIntegration) -> IntegrationRow:
    return IntegrationRow(
        id=stored.id,
        provider=stored.provider,
        name=stored.name,
        settings=dict(stored.settings),
        purposes=dict(stored.purposes),
        sync_suppressions=stored.sync_suppressions,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )


async def _check_purposes(conn: Any, tenant_id: UUID, provider: str, purposes: Mapping[str, str]) -> None:
    known = await purpose_store.purpose_keys(conn, tenant_id)
    errors = [FieldError(f"purposes.{g}", f"unknown purpose {p!r}") for g, p in purposes.items() if p not in known]
    if provider == "sendgrid":
        errors += [
            FieldError(f"purposes.{g}", "is not a SendGrid unsubscribe group id (a number)")
            for g in purposes
            if not g.isdigit()
        ]
    if errors:
        raise InvalidInput("purposes: " + "; ".join(f"{e.field} {e.message}" for e in errors), errors)


def _refuse_generated(provider: str, given: Mapping[str, Any]) -> None:
    if provider == "postmark":
        for name in GENERATED:
            if name in given:
                raise InvalidInput.field(
                    f"settings.{name}", "is generated by consent-svc (regenerate_credentials makes new ones)"
                )


async def create(ctx: Context, tenant_id: UUID, body: IntegrationIn) -> IntegrationView:
    provider: Provider = body.provider
    raw = dict(body.settings)
    _refuse_generated(provider, raw)
    credentials = None
    if provider == "postmark":
        credentials = generate_credentials()
        raw.update(username=credentials.username, password_sha256=credentials.password_sha256)
    settings = validate_settings(provider, raw, sync_suppressions=body.sync_suppressions)
    public, secrets = _split(provider, settings)
    integration_id = uuid7()
    async with ctx.pool.acquire() as conn, conn.transaction():
        await _check_purposes(conn, tenant_id, provider, body.purposes)
        stored = await store.create(
            conn, tenant_id, integration_id, provider=provider, name=body.name, settings=public,
            sealed_secrets=_seal(ctx, tenant_id, integration_id, secrets), purposes=dict(body.purposes),
            sync_suppressions=body.sync_suppressions,
        )  # fmt: skip
    return IntegrationView(_row(stored), inbound_url(ctx, integration_id), credentials)


async def _load(conn: Any, ctx: Context, tenant_id: UUID, integration_id: UUID, *, for_update: bool = False) -> tuple[
    store.StoredIntegration, Settings
]:  # fmt: skip
    stored = await store.get(conn, tenant_id, integration_id, for_update=for_update)
    if stored is None:
        raise NotFound(f"no integration {integration_id}")
    return stored, settings_of(ctx, stored.provider, tenant_id, integration_id, stored.settings, stored.sealed_secrets)


async def get(ctx: Context, tenant_id: UUID, integration_id: UUID) -> IntegrationView:
    async with ctx.pool.acquire() as conn:
        stored = await store.get(conn, tenant_id, integration_id)
    if stored is None:
        raise NotFound(f"no integration {integration_id}")
    return IntegrationView(_row(stored), inbound_url(ctx, integration_id))


async def list_page(ctx: Context, tenant_id: UUID, after: UUID | None, limit: int) -> Page[IntegrationView]:
    async with ctx.pool.acquire() as conn:
        rows = await store.list_page(conn, tenant_id, after, limit + 1)
    views = [IntegrationView(_row(s), inbound_url(ctx, s.id)) for s in rows]
    return Page.of(views, limit, lambda v: v.row.id)


async def update(ctx: Context, tenant_id: UUID, integration_id: UUID, body: IntegrationPatchIn) -> IntegrationView:
    async with ctx.pool.acquire() as conn, conn.transaction():
        stored, current = await _load(conn, ctx, tenant_id, integration_id, for_update=True)
        provider: Provider = stored.provider  # type: ignore[assignment]
        raw: dict[str, Any] = msgspec.to_builtins(current)
        if body.settings is not None:
            _refuse_generated(provider, body.settings)
            for name, value in body.settings.items():
                if value is None:
                    raw.pop(name, None)
                elif not (name in SECRET_FIELDS[provider] and value == MASK):  # "***" read back: keep the secret
                    raw[name] = value
        credentials = None
        if body.regenerate_credentials:
            if provider != "postmark":
                raise InvalidInput.field("regenerate_credentials", "only Postmark integrations have generated ones")
            credentials = generate_credentials()
            raw.update(username=credentials.username, password_sha256=credentials.password_sha256)
        sync = stored.sync_suppressions if body.sync_suppressions is None else body.sync_suppressions
        settings = validate_settings(provider, {k: v for k, v in raw.items() if v is not None}, sync_suppressions=sync)
        purposes = dict(stored.purposes if body.purposes is None else body.purposes)
        await _check_purposes(conn, tenant_id, provider, purposes)
        public, secrets = _split(provider, settings)
        if stored.sync_suppressions and not sync:
            await outbox_store.dead_letter_pending(conn, tenant_id, integration_id, "sync_suppressions turned off")
        updated = await store.update(
            conn, tenant_id, integration_id, name=body.name or stored.name, settings=public,
            sealed_secrets=_seal(ctx, tenant_id, integration_id, secrets), purposes=purposes, sync_suppressions=sync,
        )  # fmt: skip
    return IntegrationView(_row(updated), inbound_url(ctx, integration_id), credentials)


async def delete(ctx: Context, tenant_id: UUID, integration_id: UUID) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await store.delete(conn, tenant_id, integration_id):
            raise NotFound(f"no integration {integration_id}")


async def _exists(conn: Any, tenant_id: UUID, integration_id: UUID) -> None:
    if await store.get(conn, tenant_id, integration_id) is None:
        raise NotFound(f"no integration {integration_id}")


async def deliveries(
    ctx: Context, tenant_id: UUID, integration_id: UUID, status: str | None, before: int | None, limit: int
) -> Page[IntegrationDeliveryRow]:
    """The integration's pushes (suppressions out), newest first."""
    async with ctx.pool.acquire() as conn:
        await _exists(conn, tenant_id, integration_id)
        rows = await outbox_store.deliveries(conn, tenant_id, integration_id, status, before, limit + 1)
    page = Page.of(rows, limit, lambda r: r[0])
    return Page([row for _, row in page.items], page.after)


async def feedback(
    ctx: Context, tenant_id: UUID, integration_id: UUID, before: int | None, limit: int
) -> Page[FeedbackRow]:
    """The provider events received (feedback in), newest first, with what each changed."""
    async with ctx.pool.acquire() as conn:
        await _exists(conn, tenant_id, integration_id)
        rows = await store.feedback_page(conn, tenant_id, integration_id, before, limit + 1)
    page = Page.of(rows, limit, lambda r: r[0])
    return Page([row for _, row in page.items], page.after)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    tenant_id: UUID
    integration_id: UUID
    provider: str
    queued: int
    first: int  # positions of the queued pushes in the integration's outbox
    last: int


async def queue_reconciliation(ctx: Context, integration_id: UUID) -> Reconciliation:
    """Queue an add of every active suppression entry for one integration (``consent-svc
    integrations sync``): behind what is queued already, so the order of changes holds."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        stored = await store.by_id(conn, integration_id, for_update=True)
        if stored is None:
            raise NotFound(f"no integration {integration_id}")
        if not stored.sync_suppressions:
            raise InvalidInput.field(
                "sync_suppressions", "is off for this integration: turn it on (PATCH) to push suppressions"
            )
        count, first, last = await outbox_store.enqueue_backfill(conn, stored.tenant_id, integration_id)
    return Reconciliation(stored.tenant_id, integration_id, stored.provider, count, first, last)


async def reconciliation_progress(ctx: Context, run: Reconciliation) -> tuple[dict[str, int], dict[str, int]]:
    """(status -> count, reason skipped or failed -> count) of a reconciliation's pushes."""
    async with ctx.pool.acquire() as conn:
        counts = await outbox_store.sync_progress(conn, run.tenant_id, run.integration_id, run.first, run.last)
        reasons = await outbox_store.sync_reasons(conn, run.tenant_id, run.integration_id, run.first, run.last)
    return counts, reasons


async def reseal_all(ctx: Context) -> tuple[int, int]:
    """Seal every integration's secrets again with the first key (after a new key was put first
    in CONSENT_ENCRYPTION_KEYS). Returns (sealed again, already current)."""
    box = sealer(ctx.settings)
    done = current = 0
    async with ctx.pool.acquire() as conn, conn.transaction():
        for stored in await store.all_sealed(conn):
            assert stored.sealed_secrets is not None
            if box.sealed_with_current(stored.sealed_secrets):
                current += 1
                continue
            secrets = _open(ctx, stored.tenant_id, stored.id, stored.sealed_secrets)
            await store.reseal(conn, stored.tenant_id, stored.id, _seal(ctx, stored.tenant_id, stored.id, secrets))
            done += 1
    return done, current
