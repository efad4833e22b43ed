"""The retention sweep: remove people whose every purpose has lapsed past its retention.

Works in bounded batches (one transaction each), reports progress, and takes a
per-tenant advisory lock, so two replicas (or a cron job and the in-process
job) never sweep one tenant at once. What goes is what an erasure removes
(identifiers, banner receipts, webhook messages, sign-ups, the events' content,
kept as digests in the chain); each run also purges the sign-ups nobody
confirmed before they expired, and the banner receipts never linked to a person
(``CONSENT_BANNER_RECEIPT_RETENTION_DAYS`` after they expired). A person swept for age
was never asked to be erased, so
no ``erasure`` entry is made; but a person who objected or unsubscribed keeps
keyed-hash ``objection`` and ``unsubscribe`` entries (with the scopes and
channels they had) for every identifier, so that a later import cannot make
them contactable again. Every run, dry or real, writes an audit record.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from consent_svc.domain import facts as facts_mod
from consent_svc.domain.errors import Conflict
from consent_svc.domain.identifiers import Identifier, exchange_sha256
from consent_svc.domain.ids import uuid7
from consent_svc.domain.records import Page, SweepRunRow
from consent_svc.domain.retention import KeptEntry, objection_entries, sweepable
from consent_svc.service import ledger
from consent_svc.service.context import Context
from consent_svc.service.decisions import purpose_from_config
from consent_svc.store import banner as banner_store
from consent_svc.store import ledger as ledger_store
from consent_svc.store import purposes as purpose_store
from consent_svc.store import retention as retention_store
from consent_svc.store import signups as signup_store
from consent_svc.store import subjects as store
from consent_svc.store import suppressions as suppression_store
from consent_svc.store import tenants as tenant_store

BATCH = 500
LIST_LIMIT = 1000


@dataclass
class SweepReport:
    tenant: str
    dry_run: bool
    as_of: datetime
    scanned: int = 0
    swept: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    subjects: list[UUID] = field(default_factory=list)  # the first LIST_LIMIT


def _lock_key(tenant_id: UUID) -> int:
    return 0x5357_0000_0000 + zlib.crc32(tenant_id.bytes)


async def sweep_tenant(
    ctx: Context, tenant_id: UUID, tenant_name: str, *, dry_run: bool,
    progress: Callable[[SweepReport], None] | None = None,
) -> SweepReport:  # fmt: skip
    now = ctx.clock()
    started = now
    report = SweepReport(tenant_name, dry_run, now)
    async with ctx.pool.acquire() as lock_conn:
        if not await retention_store.try_advisory_lock(lock_conn, _lock_key(tenant_id)):
            raise Conflict(f"a sweep of tenant {tenant_name!r} is running elsewhere")
        try:
            async with ctx.pool.acquire() as conn:
                purposes = [purpose_from_config(r.config) for r in await purpose_store.list_purposes(conn, tenant_id)]
            after: UUID | None = None
            last_progress = time.monotonic()
            while True:
                async with ctx.pool.acquire() as conn, conn.transaction():
                    rows = await store.subjects_page(conn, tenant_id, after, BATCH)
                    if not rows:
                        break
                    after = rows[-1]["id"]
                    chosen: list[UUID] = []
                    kept: dict[UUID, list[KeptEntry]] = {}
                    for row in rows:
                        report.scanned += 1
                        facts = facts_mod.decode(row["facts"])
                        found = sweepable(purposes, facts, row["kind"], now)
                        if found is None:
                            continue
                        chosen.append(row["id"])
                        kept[row["id"]] = objection_entries(purposes, facts)
                        for lapse in found:
                            key = f"{lapse.purpose}/{lapse.reason}"
                            report.counts[key] = report.counts.get(key, 0) + 1
                    report.swept += len(chosen)
                    report.subjects += chosen[: max(0, LIST_LIMIT - len(report.subjects))]
                    if chosen and not dry_run:
                        await _remove(conn, ctx, tenant_id, chosen, kept)
                if progress is not None and time.monotonic() - last_progress > 1.0:
                    progress(report)
                    last_progress = time.monotonic()
            # Sign-ups nobody confirmed go once they expired (docs/forms.md): never a subject, never a basis.
            async with ctx.pool.acquire() as conn, conn.transaction():
                unconfirmed = await signup_store.purge_expired(conn, tenant_id, now, dry_run=dry_run)
            if unconfirmed:
                report.counts["signups/unconfirmed_expired"] = unconfirmed
            # Banner receipts never linked to a person go a while after they expired (docs/banner.md).
            expired_before = now - timedelta(days=ctx.settings.banner_receipt_retention_days)
            receipts = await _purge_receipts(ctx, tenant_id, expired_before, dry_run=dry_run)
            if receipts:
                report.counts["banner_receipts/expired"] = receipts
            async with ctx.pool.acquire() as conn:
                await retention_store.insert_sweep_run(conn, tenant_id, {
                    "id": uuid7(), "started_at": started, "finished_at": ctx.clock(), "as_of": now,
                    "dry_run": dry_run, "scanned": report.scanned, "swept": report.swept, "counts": report.counts,
                })  # fmt: skip
            return report
        finally:
            await retention_store.advisory_unlock(lock_conn, _lock_key(tenant_id))


async def _purge_receipts(ctx: Context, tenant_id: UUID, expired_before: datetime, *, dry_run: bool) -> int:
    """Banner receipts never linked to a person, expired before ``expired_before``: counted on a dry
    run, else deleted in batches of BATCH * 20, one transaction each."""
    async with ctx.pool.acquire() as conn:
        if dry_run:
            return await banner_store.count_unlinked_expired(conn, tenant_id, expired_before)
        deleted = 0
        while True:
            async with conn.transaction():
                count = await banner_store.delete_unlinked_expired(conn, tenant_id, expired_before, BATCH * 20)
            deleted += count
            if count < BATCH * 20:
                return deleted


async def _remove(
    conn: Any, ctx: Context, tenant_id: UUID, subject_ids: list[UUID], kept: dict[UUID, list[KeptEntry]]
) -> None:
    await ledger_store.allow_ledger_rewrite(conn)
    for subject_id in subject_ids:
        if not await store.lock_subject(conn, tenant_id, subject_id):
            continue  # erased meanwhile
        hashes = await _keep_suppressions(conn, ctx, tenant_id, subject_id, kept.get(subject_id, []))
        await ledger.erase_events(conn, tenant_id, subject_id)
        await signup_store.erase(conn, tenant_id, subject_id, hashes)
        await store.erase(conn, tenant_id, subject_id, hashes)


async def _keep_suppressions(
    conn: Any, ctx: Context, tenant_id: UUID, subject_id: UUID, objections: list[KeptEntry]
) -> list[bytes]:
    """Before a person goes: their objections, and their unsubscribes (entries on any one of
    their identifiers), become keyed-hash entries on every identifier they have or had.
    Returns those identifiers' hashes."""
    subject = await store.subject_by_id(conn, tenant_id, subject_id)
    assert subject is not None
    identities: dict[bytes, tuple[str, bytes | None]] = {
        h: (t, exchange_sha256(Identifier("email", v)) if t == "email" and v else None)
        for t, h, v in subject.identifiers
    }
    for past in await store.identifier_history(conn, tenant_id, subject_id):
        identities.setdefault(past.hash, (past.type, past.sha256 if past.type == "email" else None))
    hashes = list(identities)
    wanted = {(k.reason, k.scope, k.channel) for k in objections}
    for entry in await suppression_store.active_by_reason(conn, tenant_id, hashes, "unsubscribe"):
        wanted.add(("unsubscribe", entry.scope, entry.channel))
    entries = [
        suppression_store.NewSuppression(
            id=uuid7(), ident_hash=h, ident_type=type_, value=None, sha256=sha, scope=scope, channel=channel,
            reason=reason, source="retention", note=None,
        )
        for h, (type_, sha) in identities.items()
        for reason, scope, channel in sorted(wanted, key=lambda w: (w[0], w[1], w[2] or ""))
    ]  # fmt: skip
    await suppression_store.add(conn, tenant_id, entries)
    return hashes


async def sweep_all(ctx: Context, *, dry_run: bool = False) -> list[SweepReport]:
    async with ctx.pool.acquire() as conn:
        tenants = await tenant_store.list_tenants(conn)
    reports = []
    for tenant in tenants:
        try:
            reports.append(await sweep_tenant(ctx, tenant.id, tenant.name, dry_run=dry_run))
        except Conflict:
            continue  # another replica is sweeping this tenant
    return reports


async def runs(ctx: Context, tenant_id: UUID, before: UUID | None, limit: int) -> Page[SweepRunRow]:
    """The sweep audit of a tenant, newest first."""
    async with ctx.pool.acquire() as conn:
        rows = await retention_store.sweep_runs(conn, tenant_id, before, limit + 1)
    return Page.of(rows, limit, lambda r: r.id)
