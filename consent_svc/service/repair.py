"""Bringing stored state in line with the ledger after the rules change (``consent-svc refold``).

Every subject's facts are a fold of their events (ADR 0001). When the fold
itself changes (rules v2 keeps objections per channel and the notice version
each consent names), the stored facts are rebuilt from the ledger, subject by
subject, in batches of one transaction each; a subject's row is locked while
its facts are rewritten, so a concurrent writer folds into the new value.

The subject kind is not rebuilt: events recorded before rules v2 do not say
which kind they named (docs/decision-rules.md, "Upgrading to rules v2").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from consent_svc.domain import facts as facts_mod
from consent_svc.domain.models import Ref
from consent_svc.service.context import Context
from consent_svc.store import events as store
from consent_svc.store import subjects as subject_store
from consent_svc.store import tenants as tenant_store

BATCH = 1000


@dataclass
class RefoldReport:
    tenant: str
    subjects: int = 0
    events: int = 0


async def refold_tenant(
    ctx: Context, tenant_id: UUID, name: str, progress: Callable[[RefoldReport], None] | None = None
) -> RefoldReport:
    report = RefoldReport(name)
    after: UUID | None = None
    last = time.monotonic()
    while True:
        async with ctx.pool.acquire() as conn, conn.transaction():
            ids = await subject_store.subject_page(conn, tenant_id, after, BATCH)
            if not ids:
                return report
            after = ids[-1]
            folded: dict[UUID, facts_mod.Facts] = {sid: facts_mod.Facts() for sid in ids}
            for row in await store.events_to_fold(conn, tenant_id, ids):
                ref = Ref(row.id, row.occurred_at, row.seq, row.notice_version if row.type == "consent_given" else None)
                facts_mod.fold(
                    folded[row.subject_id], row.type, row.purpose, row.channels, ref, confirmed=row.confirmed
                )
                report.events += 1
            await subject_store.set_facts(conn, tenant_id, [(sid, facts_mod.encode(f)) for sid, f in folded.items()])
            report.subjects += len(ids)
        if progress is not None and time.monotonic() - last > 1.0:
            progress(report)
            last = time.monotonic()


async def refold_all(ctx: Context, progress: Callable[[RefoldReport], None] | None = None) -> list[RefoldReport]:
    async with ctx.pool.acquire() as conn:
        tenants = await tenant_store.list_tenants(conn)
    return [await refold_tenant(ctx, t.id, t.name, progress) for t in tenants]
