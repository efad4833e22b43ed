"""The console dashboard (docs/console.md): what happened per purpose per week, the suppression
list by reason, banner choices per site, and the queues, for one tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from consent_svc.service import ledger
from consent_svc.service.context import Context
from consent_svc.store import dashboard as store

WEEKS = 12
KINDS = ("consent_given", "consent_withdrawn", "objection", "unsubscribe")
ACTIONS = ("accept_all", "reject_all", "save", "dismiss")


@dataclass(frozen=True, slots=True)
class PurposeWeeks:
    purpose: str
    weeks: list[date]
    counts: dict[str, list[int]]  # kind -> one count per week


@dataclass(frozen=True, slots=True)
class SiteChoices:
    site_key: str
    counts: dict[str, int]  # action -> count
    gpc: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class Dashboard:
    since: date
    purposes: list[PurposeWeeks]
    suppressions: list[tuple[str, int]]
    sites: list[SiteChoices]
    pending_confirmations: int
    webhooks_pending: int
    webhooks_dead: int
    oldest_pending: datetime | None
    ledger: ledger.Head


def _weeks(now: datetime) -> list[date]:
    monday = now.date() - timedelta(days=now.weekday())
    return [monday - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]


async def dashboard(ctx: Context, tenant_id: UUID) -> Dashboard:
    now = ctx.clock()
    weeks = _weeks(now)
    since = datetime.combine(weeks[0], datetime.min.time(), tzinfo=now.tzinfo)
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await store.events_per_week(conn, tenant_id, since)
        suppressions = await store.suppressions_by_reason(conn, tenant_id)
        choices = await store.banner_choices(conn, tenant_id, since)
        pending = await store.pending_confirmations(conn, tenant_id, now)
        backlog = await store.webhook_backlog(conn, tenant_id)
    index = {w: i for i, w in enumerate(weeks)}
    per_purpose: dict[str, dict[str, list[int]]] = {}
    for week, purpose, kind, n in rows:
        counts = per_purpose.setdefault(purpose, {k: [0] * WEEKS for k in KINDS})
        if week in index and kind in counts:
            counts[kind][index[week]] += n
    sites: dict[str, SiteChoices] = {}
    for site_key, action, n, gpc in choices:
        site = sites.setdefault(site_key, SiteChoices(site_key, dict.fromkeys(ACTIONS, 0), 0))
        site.counts[action] = site.counts.get(action, 0) + n
        sites[site_key] = SiteChoices(site_key, site.counts, site.gpc + gpc)
    return Dashboard(
        since=weeks[0],
        purposes=[PurposeWeeks(p, weeks, c) for p, c in sorted(per_purpose.items())],
        suppressions=suppressions,
        sites=list(sites.values()),
        pending_confirmations=pending,
        webhooks_pending=backlog[0],
        webhooks_dead=backlog[1],
        oldest_pending=backlog[2],
        ledger=await ledger.head(ctx, tenant_id),
    )
