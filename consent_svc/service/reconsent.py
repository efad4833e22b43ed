"""Re-permission after a material change (docs/forms.md, "Re-permission").

* ``needing``: the subjects whose consent to a purpose counts only until a pending re-consent
  deadline, paged by subject id. The facts are judged in Python, so a request scans at most
  ``SCAN`` subjects: a page may hold fewer than ``limit`` items while ``next_cursor`` goes on.
* ``announce``: when a purpose version makes a new material change, one
  ``consent.reconsent_needed`` webhook message per such subject, in the transaction that
  publishes the version (so once per subject and change, never for a change rolled back).
* Links: ``create_link`` makes a signed, single-use link (30 days); its page shows the purpose's
  current notice, and one POST records a consent on it with the proof of the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import msgspec
import structlog

from consent_svc.domain import facts as facts_mod
from consent_svc.domain import optin, tokens
from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.ids import uuid7
from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.records import BrandingRow, Page, ReconsentLinkRow
from consent_svc.service.context import Context
from consent_svc.service.decisions import purpose_from_config
from consent_svc.service.events import record_in
from consent_svc.service.inputs import EventIn, SubjectRef
from consent_svc.service.signups import Client, ConfirmedProof
from consent_svc.service.subjects import find, lookup_identifier
from consent_svc.store import outbox
from consent_svc.store import purposes as purpose_store
from consent_svc.store import signups as store
from consent_svc.store import subjects as subject_store
from consent_svc.store import tenants as tenant_store

_log = structlog.get_logger("consent_svc.reconsent")
SCAN = 5_000  # subjects judged per listing request
BATCH = 1_000
LINK_DAYS = 30


@dataclass(frozen=True, slots=True)
class Need:
    subject_id: UUID
    deadline: datetime
    notice_version: str | None  # the notice their consent names


async def _purpose(conn: Any, tenant_id: UUID, key: str) -> PurposeConfig:
    row = await purpose_store.get_purpose(conn, tenant_id, key)
    if row is None:
        raise NotFound(f"no purpose {key!r}")
    return purpose_from_config(row.config)


async def needing(ctx: Context, tenant_id: UUID, key: str, after: UUID | None, limit: int) -> Page[Need]:
    found: list[Need] = []
    scanned = 0
    async with ctx.pool.acquire() as conn:
        purpose = await _purpose(conn, tenant_id, key)
        now = ctx.clock()
        while scanned < SCAN:
            rows = await subject_store.subjects_page(conn, tenant_id, after, min(BATCH, SCAN - scanned))
            if not rows:
                return Page(found, None)
            for row in rows:
                scanned += 1
                after = row["id"]
                need = optin.reconsent_deadline(purpose, facts_mod.decode(row["facts"]), now)
                if need is not None:
                    found.append(Need(row["id"], need[0], need[1]))
                    if len(found) == limit:
                        return Page(found, after)
    return Page(found, after)


async def announce(conn: Any, ctx: Context, tenant_id: UUID, purpose: PurposeConfig) -> int:
    """``consent.reconsent_needed`` for every subject whose consent now counts only until the
    change's deadline, in the caller's transaction; nothing when no webhook wants it."""
    if "consent.reconsent_needed" not in await outbox.subscribed(conn, tenant_id):
        return 0
    now = ctx.clock()
    after: UUID | None = None
    sent = 0
    while True:
        rows = await subject_store.subjects_page(conn, tenant_id, after, BATCH)
        if not rows:
            return sent
        after = rows[-1]["id"]
        messages = []
        for row in rows:
            need = optin.reconsent_deadline(purpose, facts_mod.decode(row["facts"]), now)
            if need is None:
                continue
            payload: dict[str, Any] = {
                "subject_id": str(row["id"]),
                "purpose": purpose.key,
                "deadline": need[0].isoformat(),
                "consented_notice_version": need[1],
                "notice_version": purpose.notice_version,
            }
            messages.append(outbox.Message(type="consent.reconsent_needed", payload=payload, subject_id=row["id"]))
        await outbox.enqueue(conn, tenant_id, messages)
        sent += len(messages)


def _keys(ctx: Context) -> list[bytes]:
    return [key.reveal() for key in ctx.settings.token_keys]


@dataclass(frozen=True, slots=True)
class Link:
    id: UUID
    url: str
    expires_at: datetime


async def create_link(
    ctx: Context, tenant_id: UUID, *, email: str | None, subject_id: UUID | None, purpose: str
) -> Link:
    if (email is None) == (subject_id is None):
        raise InvalidInput.field("email", "give exactly one of email or subject_id")
    if email is not None:
        subject_id = await find(ctx, tenant_id, lookup_identifier(email, None, None, ctx.settings.default_phone_region))
    assert subject_id is not None
    async with ctx.pool.acquire() as conn, conn.transaction():
        if await purpose_store.get_purpose(conn, tenant_id, purpose) is None:
            raise InvalidInput.field("purpose", f"unknown purpose {purpose!r}")
        if await subject_store.subject_by_id(conn, tenant_id, subject_id) is None:
            raise NotFound(f"no subject {subject_id}")
        now = ctx.clock()
        expires_at = datetime.fromtimestamp(int((now + timedelta(days=LINK_DAYS)).timestamp()), UTC)
        link = ReconsentLinkRow(
            tenant_id=tenant_id, id=uuid7(), subject_id=subject_id, purpose=purpose, created_at=now,
            expires_at=expires_at, used_at=None, event_id=None,
        )  # fmt: skip
        await store.insert_reconsent_link(conn, link)
    token = tokens.sign_link(
        _keys(ctx), "reconsent", tokens.LinkClaims(tenant_id, link.id, int(expires_at.timestamp()))
    )
    return Link(link.id, f"{ctx.settings.public_url}/r/{token}", expires_at)


LinkState = Literal["pending", "used", "expired"]


@dataclass(frozen=True, slots=True)
class LinkView:
    state: LinkState
    branding: BrandingRow
    purpose: PurposeConfig


async def _view(conn: Any, ctx: Context, token: str, *, lock: bool) -> tuple[LinkView, ReconsentLinkRow]:
    claims = tokens.verify_link(_keys(ctx), "reconsent", token)
    if claims is None:
        raise NotFound("no such link")
    link = await store.reconsent_link(conn, claims.tenant_id, claims.id, lock=lock)
    branding = await tenant_store.get_branding(conn, claims.tenant_id)
    if link is None or branding is None:
        raise NotFound("no such link")  # erased, or never ours
    purpose = await _purpose(conn, claims.tenant_id, link.purpose)
    expired = ctx.clock() >= link.expires_at
    state: LinkState = "used" if link.used_at is not None else "expired" if expired else "pending"
    return LinkView(state, branding, purpose), link


async def view(ctx: Context, token: str) -> LinkView:
    """What ``GET /r/{token}`` shows: the purpose's current notice; writes nothing."""
    async with ctx.pool.acquire() as conn:
        return (await _view(conn, ctx, token, lock=False))[0]


async def accept(ctx: Context, token: str, client: Client, shown_notice: str | None) -> tuple[LinkView, bool]:
    """Record the consent on the notice the page showed (the current one; a page shown before a
    newer notice was published is shown again instead). Single use."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        found, link = await _view(conn, ctx, token, lock=True)
        if found.state != "pending" or shown_notice != found.purpose.notice_version:
            return found, False
        subject = await subject_store.subject_by_id(conn, link.tenant_id, link.subject_id)
        if subject is None or not subject.identifiers:
            raise NotFound("no such link")
        type_, _, value = subject.identifiers[0]
        ref = msgspec.convert({type_: value}, SubjectRef)
        now = ctx.clock()
        proof = ConfirmedProof(
            notice_version=found.purpose.notice_version, ip=client.ip_prefix, user_agent=client.agent,
            reconsent={"link_id": str(link.id), "link_created_at": link.created_at.isoformat(),
                       "confirmed_at": now.isoformat(), "confirm_ip_prefix": client.ip_prefix,
                       "confirm_user_agent": client.agent},
        )  # fmt: skip
        [result] = await record_in(conn, ctx, link.tenant_id, [EventIn(
            subject=ref, type="consent_given", purpose=found.purpose.key, channels=list(found.purpose.channels),
            source="web_form", occurred_at=now, proof=proof,
        )])  # fmt: skip
        await store.reconsent_link_used(conn, link.tenant_id, link.id, now, result.event_id)
    _log.info("reconsent recorded", link_id=str(link.id), subject_id=str(link.subject_id))
    return LinkView("used", found.branding, found.purpose), True
