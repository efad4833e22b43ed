"""Sign-up forms for websites (docs/forms.md): configured by an admin, sent by anyone from the
form's origins; every submission starts a double opt-in sign-up."""

from __future__ import annotations

import secrets
from uuid import UUID

from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.records import BrandingRow, FormRow, Page
from consent_svc.service.context import Context
from consent_svc.service.inputs import FormIn
from consent_svc.service.signups import signup_purposes
from consent_svc.store import signups as store
from consent_svc.store import tenants as tenant_store


async def create(ctx: Context, tenant_id: UUID, body: FormIn) -> FormRow:
    if "email" not in body.fields or len(set(body.fields)) != len(body.fields):
        raise InvalidInput.field("fields", 'must be ["email"] or ["email", "phone"] (sign-ups are confirmed by email)')
    origins = [o.rstrip("/").lower() for o in body.origins]
    async with ctx.pool.acquire() as conn, conn.transaction():
        await signup_purposes(conn, tenant_id, list(body.purposes), "purposes")
        return await store.insert_form(conn, FormRow(
            tenant_id=tenant_id, form_key="form_" + secrets.token_urlsafe(18), name=body.name, origins=origins,
            purposes=list(body.purposes), fields=list(body.fields), success_url=body.success_url,
            language=body.language, created_at=ctx.clock(),
        ))  # fmt: skip


async def get(ctx: Context, form_key: str, tenant_id: UUID | None = None) -> FormRow:
    """A form by its public key (of ``tenant_id`` only, when given)."""
    async with ctx.pool.acquire() as conn:
        form = await store.form_by_key(conn, form_key)
    if form is None or (tenant_id is not None and form.tenant_id != tenant_id):
        raise NotFound(f"no form {form_key!r}")
    return form


async def branding(ctx: Context, form: FormRow) -> BrandingRow:
    async with ctx.pool.acquire() as conn:
        found = await tenant_store.get_branding(conn, form.tenant_id)
    if found is None:
        raise NotFound("no such form")
    return found


async def list_page(ctx: Context, tenant_id: UUID, after: str | None, limit: int) -> Page[FormRow]:
    async with ctx.pool.acquire() as conn:
        rows = await store.forms_page(conn, tenant_id, after, limit + 1)
    return Page.of(rows, limit, lambda f: f.form_key)
