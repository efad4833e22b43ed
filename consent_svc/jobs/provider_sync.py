"""Suppressions out: the worker that pushes suppression changes to the providers.

The outbox rows are written with the change (``store.integration_outbox.enqueue``, called by
``store.suppressions.add`` and ``lift``). The worker leases an integration whose queue is due
(``claim``: a statement committed at once, ``FOR UPDATE SKIP LOCKED``, safe with many workers),
reads the oldest pending rows in order, and pushes them with the protocol layer
(``plan_pushes``, ``SuppressionPusher``): adds to one target batched, consecutive adds and
lifts kept in their order. Each outcome is written under the lease (a worker that lost its
lease writes nothing), and the lease is renewed before a push when little of it is left.

- delivered: the provider took it (a lift answered 404 counts: the address was not there);
- skipped, with the reason: the provider cannot take the entry (a phone number, a hash-only
  entry, SES and a per-purpose entry, a purpose mapped to no group ...), or a lift while
  another active entry still covers the address (the provider keeps suppressing it);
- a failure the provider may get over (429, 5xx, network; after the pusher's own three
  tries) stops the round: the rows stay pending with the attempt counted, and the
  integration is due again after a backoff (doubling, full jitter, at most an hour), until
  ``CONSENT_WEBHOOK_RETRY_WINDOW_SECONDS`` has passed since the change: then dead;
- a refusal (another 4xx: wrong credentials, a shape the provider refuses) is dead at once.
  Dead rows stay in the delivery log; ``consent-svc integrations sync`` pushes the current
  list again once the cause is fixed (a dead row is never re-sent on its own: sent late, an
  old add could undo a later lift).

Provider API calls go only where the webhook SSRF check allows (public addresses on 443 or
8443 unless ``CONSENT_WEBHOOK_ALLOW_PRIVATE``), connecting to the checked address.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

import httpx
import structlog
from prometheus_client import Counter

from consent_svc.domain.errors import DomainError, InvalidInput
from consent_svc.integrations import (
    OutboundSuppression,
    PushRequest,
    PushResult,
    Settings,
    SuppressionPusher,
    plan_pushes,
)
from consent_svc.integrations.outbound import base_url
from consent_svc.jobs.pinned import PIN, PinnedTransport
from consent_svc.service.context import Context
from consent_svc.service.integrations import settings_of
from consent_svc.service.webhooks import check_target
from consent_svc.store import integration_outbox as outbox

_log = structlog.get_logger("consent_svc.integrations")
PUSHES = Counter("consent_provider_pushes_total", "Suppression pushes to providers", ["provider", "outcome"])
BATCH = 1000  # pending rows read per round
MAX_IN_FLIGHT = 8  # integrations worked on at once, per worker
MAX_BACKOFF_SECONDS = 3600.0
PUSH_ATTEMPTS = 3
MAX_RETRY_AFTER = 30.0


class CheckedTransport(httpx.AsyncBaseTransport):
    """Each request's host is checked as a webhook's is (SSRF), and the connection goes to the
    checked address (``jobs.pinned``): an ``api_base_url`` cannot reach into the network."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = PinnedTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            target = await check_target(str(request.url), self._allow_private, field="api_base_url")
        except InvalidInput as exc:
            message = exc.errors[0].message if exc.errors else exc.detail
            raise httpx.ConnectError(f"refused: {message}", request=request) from None
        request.extensions = {**request.extensions, PIN: target.addresses}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class SyncWorker:
    def __init__(
        self,
        ctx: Context,
        *,
        client: httpx.AsyncClient | None = None,
        name: str = "sync",
        max_in_flight: int = MAX_IN_FLIGHT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.max_in_flight = max_in_flight
        timeout = ctx.settings.webhook_timeout_seconds
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
            transport=CheckedTransport(ctx.settings.webhook_allow_private),
            follow_redirects=False,
            trust_env=False,
        )
        self.pusher = SuppressionPusher(self.client, attempts=PUSH_ATTEMPTS, max_wait=MAX_RETRY_AFTER, sleep=sleep)
        # A push, with its tries and waits, ends well within this; the lease is renewed before each.
        self.lease_seconds = PUSH_ATTEMPTS * timeout + 2 * MAX_RETRY_AFTER + 10.0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        if self._own_client:
            await self.client.aclose()

    async def run(self) -> None:
        """Push until stopped: look for due integrations when a round ends, and every
        ``webhook_poll_seconds`` when idle."""
        poll = self.ctx.settings.webhook_poll_seconds
        while not self._stop.is_set():
            self._wake.clear()
            try:
                for lease in await self._claim(self.max_in_flight - len(self._tasks)):
                    task = asyncio.create_task(self._work(lease))
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
            except Exception as exc:  # the worker must outlive a bad moment of the database
                _log.error("provider sync error", error=type(exc).__name__)
            waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def sync_due(self) -> int:
        """One round over every due integration (tests and scripts). Returns how many were worked on."""
        leases = await self._claim(self.max_in_flight)
        await asyncio.gather(*(self._work(lease) for lease in leases))
        return len(leases)

    async def sync_one(self, tenant_id: UUID, integration_id: UUID) -> bool:
        """One round of one integration, if it is due and no other worker holds it."""
        async with self.ctx.pool.acquire() as conn:
            leases = await outbox.claim(conn, 1, lease_seconds=self.lease_seconds, only=(tenant_id, integration_id))
        for lease in leases:
            await self._work(lease)
        return bool(leases)

    async def _claim(self, room: int) -> list[outbox.Lease]:
        if room <= 0:
            return []
        async with self.ctx.pool.acquire() as conn:
            return await outbox.claim(conn, room, lease_seconds=self.lease_seconds)

    async def _work(self, lease: outbox.Lease) -> None:
        work = _Round(self, lease)
        try:
            due_in = await work.run()
            if not work.lost:
                async with self.ctx.pool.acquire() as conn:
                    await outbox.release(conn, work.lease, due_in)
        except Exception as exc:  # the lease runs out and the rows are tried again
            _log.error("provider sync error", integration_id=str(lease.id), error=type(exc).__name__)


class _Round:
    """One lease's work: the oldest pending rows of one integration, in order."""

    def __init__(self, worker: SyncWorker, lease: outbox.Lease) -> None:
        self.worker = worker
        self.ctx = worker.ctx
        self.lease = lease
        self.leased_at = time.monotonic()
        self.lost = False

    async def _finish(self, ids: list[UUID], status: str, *, tried: bool = False, request: str | None = None,
                      status_code: int | None = None, error: str | None = None) -> None:  # fmt: skip
        if self.lost or not ids:
            return
        async with self.ctx.pool.acquire() as conn:
            held = await outbox.finish(conn, self.lease, ids, status=status, tried=tried, request=request,
                                       status_code=status_code, error=error)  # fmt: skip
        if not held:
            self.lost = True
            _log.warning("provider sync lease lost; the outcome is not recorded", integration_id=str(self.lease.id))

    async def _renew(self) -> None:
        """Renew the lease when less than one push's worth of it is left."""
        left = self.worker.lease_seconds - (time.monotonic() - self.leased_at)
        if left > self.worker.lease_seconds / 2 or self.lost:
            return
        async with self.ctx.pool.acquire() as conn:
            renewed = await outbox.renew(conn, self.lease, self.worker.lease_seconds)
        if renewed is None:
            self.lost = True
        else:
            self.lease, self.leased_at = renewed, time.monotonic()

    async def run(self) -> float:
        """Returns when the integration is due again (seconds; 0: at once)."""
        lease = self.lease
        try:
            settings = settings_of(self.ctx, lease.provider, lease.tenant_id, lease.id, lease.settings,
                                   lease.sealed_secrets)  # fmt: skip
        except DomainError as exc:
            _log.error("provider sync cannot read the integration", integration_id=str(lease.id), error=exc.detail)
            return 300.0
        async with self.ctx.pool.acquire() as conn:
            rows = await outbox.head(conn, lease, BATCH)
            lifts = [(r.id, r.ident_hash, r.scope) for r in rows if r.action == "lift" and r.ident_hash and r.scope]
            covered = await outbox.still_covered(conn, lease.tenant_id, lifts)
        gone = [r.id for r in rows if r.ident_type is None]
        await self._finish(gone, "skipped", error="the suppression entry no longer exists")
        for row_id, by in covered.items():
            await self._finish([row_id], "skipped", error=f"still suppressed by entry {by}: not lifted")
        live = [r for r in rows if r.ident_type is not None and r.id not in covered]
        # Runs of consecutive adds or lifts, each planned as a whole (adds to one target batch).
        runs: list[list[outbox.Pending]] = []
        for row in live:
            if runs and runs[-1][0].action == row.action:
                runs[-1].append(row)
            else:
                runs.append([row])
        for run in runs:
            due_in = await self._push(settings, run)
            if due_in is not None or self.lost:
                return due_in or 0.0
        return 0.0

    async def _push(self, settings: Settings, run: list[outbox.Pending]) -> float | None:
        """Push one run; a retryable failure stops the round: returns when to try again."""
        by_id = {str(r.id): r for r in run}
        entries = [
            OutboundSuppression(
                id=str(r.id), ident_type=r.ident_type, value=r.value, scope=r.scope or "all",  # type: ignore[arg-type]
                channel=r.channel, reason=r.reason or "manual", created_at=r.entry_created_at or r.created_at,
            )
            for r in run
        ]  # fmt: skip
        try:
            plan = plan_pushes(settings, entries, run[0].action, groups=self.lease.purposes)  # type: ignore[arg-type]
        except ValueError as exc:  # the integration lacks what pushing needs (e.g. Mailgun without a domain)
            await self._finish([r.id for r in run], "dead", error=str(exc))
            return None
        for skipped in plan.skipped:
            await self._finish([by_id[skipped.entry_id].id], "skipped", error=skipped.reason)
            PUSHES.labels(self.lease.provider, "skipped").inc()
        for request in plan.requests:
            await self._renew()
            if self.lost:
                return None
            due_in = await self._send(settings, request, [by_id[i] for i in request.entry_ids])
            if due_in is not None:
                return due_in
        return None

    async def _send(self, settings: Settings, request: PushRequest, rows: list[outbox.Pending]) -> float | None:
        ids = [r.id for r in rows]
        try:
            # Said in the log in words; the transport checks again, and connects to what it checked.
            await check_target(base_url(settings) + request.path, self.ctx.settings.webhook_allow_private,
                               field="api_base_url")  # fmt: skip
        except (InvalidInput, ValueError) as exc:
            message = exc.errors[0].message if isinstance(exc, InvalidInput) and exc.errors else str(exc)
            result = PushResult(description=request.description, entry_ids=request.entry_ids, ok=False, attempts=1,
                                retryable=True, error=f"refused: {message}")  # fmt: skip
        else:
            result = await self.worker.pusher.push(settings, request)
        if result.ok:
            PUSHES.labels(self.lease.provider, "delivered").inc()
            await self._finish(ids, "delivered", tried=True, request=request.description, status_code=result.status)
            return None
        settings_ = self.ctx.settings
        if result.retryable:
            attempts = max(r.attempts for r in rows)
            backoff = min(MAX_BACKOFF_SECONDS, settings_.webhook_retry_base_seconds * 2**attempts)
            delay = random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter, not security
            oldest = min(r.created_at for r in rows)
            if (datetime.now(UTC) - oldest).total_seconds() + delay <= settings_.webhook_retry_window_seconds:
                PUSHES.labels(self.lease.provider, "retry").inc()
                await self._finish(ids, "pending", tried=True, request=request.description,
                                   status_code=result.status, error=result.error)  # fmt: skip
                _log.warning("provider push failed; will retry", integration_id=str(self.lease.id),
                             request=request.description, status=result.status, error=result.error,
                             retry_in=round(delay, 2))  # fmt: skip
                return delay
        PUSHES.labels(self.lease.provider, "dead").inc()
        await self._finish(ids, "dead", tried=True, request=request.description, status_code=result.status,
                           error=result.error)  # fmt: skip
        _log.warning("provider push failed", integration_id=str(self.lease.id), request=request.description,
                     status=result.status, error=result.error)  # fmt: skip
        return None
