"""The retention sweep: remove people whose every purpose has lapsed past its retention.

Works in bounded batches (one transaction each), reports progress, and takes a
per-tenant advisory lock, so two replicas (or a cron job and the in-process
job) never sweep one tenant at once. What goes is what an erasure removes
(identifiers, banner receipts, webhook messages, the events' content, kept as
digests in the chain), but no new suppression entry is made: a person swept
for age was never asked to be left alone; entries they already had stay, as
keyed hashes only. Every run, dry or real, writes an audit record.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from consent_svc.domain import facts as facts_mod
from consent_svc.domain.errors import Conflict
from consent_svc.domain.ids import uuid7
from consent_svc.domain.retention import sweepable
from consent_svc.service import ledger
from consent_svc.service.context import Context
from consent_svc.service.decisions import purpose_from_config
from consent_svc.store import purposes as purpose_store
from consent_svc.store import subjects as store
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
        if not await store.try_advisory_lock(lock_conn, _lock_key(tenant_id)):
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
                    chosen = []
                    for row in rows:
                        report.scanned += 1
                        found = sweepable(purposes, facts_mod.decode(row["facts"]), row["kind"], now)
                        if found is None:
                            continue
                        chosen.append(row["id"])
                        for lapse in found:
                            key = f"{lapse.purpose}/{lapse.reason}"
                            report.counts[key] = report.counts.get(key, 0) + 1
                    report.swept += len(chosen)
                    report.subjects += chosen[: max(0, LIST_LIMIT - len(report.subjects))]
                    if chosen and not dry_run:
                        await _remove(conn, tenant_id, chosen)
                if progress is not None and time.monotonic() - last_progress > 1.0:
                    progress(report)
                    last_progress = time.monotonic()
            async with ctx.pool.acquire() as conn:
                await store.insert_sweep_run(conn, tenant_id, {
                    "id": uuid7(), "started_at": started, "finished_at": ctx.clock(), "as_of": now,
                    "dry_run": dry_run, "scanned": report.scanned, "swept": report.swept, "counts": report.counts,
                })  # fmt: skip
            return report
        finally:
            await store.advisory_unlock(lock_conn, _lock_key(tenant_id))


async def _remove(conn: Any, tenant_id: UUID, subject_ids: list[UUID]) -> None:
    await store.allow_ledger_rewrite(conn)
    for subject_id in subject_ids:
        if not await store.lock_subject(conn, tenant_id, subject_id):
            continue  # erased meanwhile
        await ledger.erase_events(conn, tenant_id, subject_id)
        await store.erase(conn, tenant_id, subject_id, await store.identifier_hashes(conn, tenant_id, subject_id))


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
