"""The webhook delivery worker.

A worker leases due outbox messages (``consent_svc.store.outbox.claim``: a
short statement, committed at once), sends each one signed, and records the
outcome in a statement of its own: no database transaction is open while a
receiver is called. A message whose worker dies is due again when its lease
runs out (the attempt's deadline plus a margin), so nothing is lost; a
subject's messages for one webhook still go out one at a time, in order.

One receiver cannot hold up the others, nor the worker's memory:

- every attempt has one total deadline, ``CONSENT_WEBHOOK_TIMEOUT_SECONDS``,
  for resolving, connecting, sending and reading the whole answer (a receiver
  that answers a byte a second is cut off at the deadline);
- at most ``MAX_RESPONSE_BYTES`` of an answer's body are read; the rest is
  never read (the connection is closed);
- at most ``MAX_IN_FLIGHT`` attempts run at once, and at most
  ``MAX_IN_FLIGHT_PER_WEBHOOK`` of them for one webhook: a slow webhook fills
  its own slots, and the messages of every other webhook keep flowing.

The address is checked (SSRF) at every attempt, and the connection goes to
the address that was checked (``consent_svc.jobs.pinned``). A failure is
retried with exponential backoff and full jitter until the retry window (24 h
by default) is spent; then the message is dead-lettered, visible in
``GET /v1/webhooks/{id}/deliveries`` and can be redelivered.

Delivery is at least once: a crash after the receiver answered but before the
outcome was written sends the message again. Receivers deduplicate on
``Consent-Event-Id``.
"""

from __future__ import annotations

import asyncio
import collections
import random
import ssl
import time
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

import anyio
import httpx
import msgspec
import structlog
from prometheus_client import Counter

from consent_svc import webhook_signatures
from consent_svc.domain.errors import InvalidInput
from consent_svc.jobs.pinned import PIN, PinnedTransport
from consent_svc.service.context import Context
from consent_svc.service.webhooks import check_target
from consent_svc.store import outbox

_log = structlog.get_logger("consent_svc.webhooks")
ATTEMPTS = Counter("consent_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
MAX_IN_FLIGHT = 64  # attempts at once, per worker
MAX_IN_FLIGHT_PER_WEBHOOK = 8  # attempts at once to one webhook, per worker
MAX_RESPONSE_BYTES = 4096  # of an answer's body; the rest is never read
LEASE_MARGIN_SECONDS = 5.0  # a lease lasts the attempt's deadline plus this
MAX_BACKOFF_SECONDS = 3600.0


class Body(msgspec.Struct, frozen=True):
    id: str
    type: str
    created_at: datetime
    data: dict[str, object]


_encode = msgspec.json.Encoder().encode


class Outcome(NamedTuple):
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryWorker:
    def __init__(
        self,
        ctx: Context,
        *,
        name: str = "worker",
        max_in_flight: int = MAX_IN_FLIGHT,
        per_webhook: int = MAX_IN_FLIGHT_PER_WEBHOOK,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.max_in_flight = max_in_flight
        self.per_webhook = per_webhook
        deadline = ctx.settings.webhook_timeout_seconds
        self.client = httpx.AsyncClient(
            # The deadline of the whole attempt is enforced around it (``_attempt``); these bound each step too.
            timeout=httpx.Timeout(deadline, connect=min(5.0, deadline)),
            transport=PinnedTransport(
                verify=verify,
                limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight),
            ),
            follow_redirects=False,
            trust_env=False,  # no proxy or .netrc from the environment: connect where the check said
            headers={"User-Agent": "consent-svc-webhooks/1", "Accept-Encoding": "identity"},
        )
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # an attempt finished: room for more, maybe a subject's next message
        self._busy: collections.Counter[UUID] = collections.Counter()  # attempts in flight per webhook
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        await self.client.aclose()

    @property
    def lease_seconds(self) -> float:
        return self.ctx.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS

    async def run(self) -> None:
        """Deliver until stopped, each message as soon as there is room for it.

        Looks for due messages whenever an attempt finishes, and every
        ``webhook_poll_seconds`` when idle. On stop, waits for the attempts in
        flight (each ends by its deadline).
        """
        poll = self.ctx.settings.webhook_poll_seconds
        while not self._stop.is_set():
            self._wake.clear()
            room = self.max_in_flight - len(self._tasks)
            try:
                started = self._start(await self._claim())
            except Exception as exc:  # the worker must outlive a bad moment of the database
                _log.error("webhook worker error", error=type(exc).__name__)
                started = 0
            # Look again at once only if this look filled every free slot (there may be more);
            # otherwise what is due was taken, and the next look comes when an attempt ends.
            if started < room or len(self._tasks) >= self.max_in_flight:
                waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._wake.wait())]
                await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def deliver_due(self) -> int:
        """One round: lease what is due (as much as there is room for), deliver it, wait for every outcome.

        Returns how many messages were attempted. For tests and scripts;
        ``run`` does not wait for a round to finish before starting more.
        """
        due = await self._claim()
        self._start(due)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return len(due)

    async def _claim(self) -> list[outbox.Due]:
        room = self.max_in_flight - len(self._tasks)
        if room <= 0:
            return []
        async with self.ctx.pool.acquire() as conn:
            return await outbox.claim(
                conn, room, lease_seconds=self.lease_seconds, per_webhook=self.per_webhook, busy=self._busy
            )

    def _start(self, due: list[outbox.Due]) -> int:
        for d in due:
            self._busy[d.webhook_id] += 1
            task = asyncio.create_task(self._deliver(d))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(due)

    async def _deliver(self, due: outbox.Due) -> None:
        try:
            outcome = await self._attempt(due)
            retry = None if outcome.ok else self._retry_in(due)
            async with self.ctx.pool.acquire() as conn:
                held = await outbox.record_attempt(
                    conn, due, ok=outcome.ok, status_code=outcome.status_code, error=outcome.error,
                    duration_ms=outcome.duration_ms, retry_in_seconds=retry,
                )  # fmt: skip
            ATTEMPTS.labels("delivered" if outcome.ok else ("retry" if retry is not None else "dead")).inc()
            if not held:
                _log.warning("webhook lease lost; the outcome is not recorded", message_id=str(due.id))
            elif not outcome.ok:
                _log.warning(
                    "webhook delivery failed", message_id=str(due.id), attempt=due.attempts + 1,
                    status=outcome.status_code, error=outcome.error, dead=retry is None,
                )  # fmt: skip
        except Exception as exc:  # recording failed: the lease runs out and the message is tried again
            _log.error("webhook worker error", error=type(exc).__name__, message_id=str(due.id))
        finally:
            self._busy[due.webhook_id] -= 1
            if self._busy[due.webhook_id] <= 0:
                del self._busy[due.webhook_id]
            self._wake.set()

    def _retry_in(self, due: outbox.Due) -> float | None:
        settings = self.ctx.settings
        backoff = min(MAX_BACKOFF_SECONDS, settings.webhook_retry_base_seconds * 2**due.attempts)
        delay = random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter, not security
        age = (datetime.now(UTC) - due.created_at).total_seconds()
        return None if age + delay > settings.webhook_retry_window_seconds else delay

    async def _attempt(self, due: outbox.Due) -> Outcome:
        """Check, connect, send and read the answer, all within one deadline."""
        started = time.perf_counter()
        deadline = self.ctx.settings.webhook_timeout_seconds
        try:
            # anyio's scope, as httpcore's own timeouts are (httpcore runs on anyio): it keeps cancelling
            # until the attempt has left it, also past httpcore's shielded clean-ups, where a one-shot
            # asyncio.timeout cancellation has nothing to fall back on.
            with anyio.fail_after(deadline):
                return await self._send(due, started)
        except TimeoutError:
            return Outcome(False, None, f"timeout: no complete answer within {deadline:g} s", _ms(started))

    async def _send(self, due: outbox.Due, started: float) -> Outcome:
        try:
            # Checked at every delivery: DNS may have changed since the webhook was created.
            target = await check_target(due.url, self.ctx.settings.webhook_allow_private)
        except InvalidInput as exc:
            return Outcome(False, None, f"refused: {exc.errors[0].message if exc.errors else exc.detail}", _ms(started))
        body = _encode(Body(id=str(due.id), type=due.event_type, created_at=due.created_at, data=due.payload))
        headers = {
            "Content-Type": "application/json",
            "Consent-Event-Id": str(due.id),
            "Consent-Event-Type": due.event_type,
            "Consent-Signature": webhook_signatures.sign(due.secret, body),
        }
        try:
            async with self.client.stream(
                "POST", due.url, content=body, headers=headers, extensions={PIN: target.addresses}
            ) as response:
                read = 0
                async for chunk in response.aiter_raw():  # raw: nothing is decompressed
                    read += len(chunk)
                    if read >= MAX_RESPONSE_BYTES:
                        break  # leaving the block closes the connection; the rest is never read
                status = response.status_code
        except httpx.HTTPError as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {target.host}", _ms(started))
        if 200 <= status < 300:
            return Outcome(True, status, None, _ms(started))
        return Outcome(False, status, f"HTTP {status}", _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
