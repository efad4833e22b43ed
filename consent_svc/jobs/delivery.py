"""The webhook delivery worker.

Claims due outbox messages with ``FOR UPDATE SKIP LOCKED`` (several workers or
replicas never send the same message at once; a subject's messages go out in
order), posts each signed, and records the outcome in the same transaction as
the claim. A failure is retried with exponential backoff and full jitter until
the retry window (24 h by default) is spent; then the message is dead-lettered,
visible in ``GET /v1/webhooks/{id}/deliveries`` and can be redelivered.

Delivery is at least once: a crash after the receiver answered but before the
commit sends the message again. Receivers deduplicate on ``Consent-Event-Id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import msgspec
import structlog
from prometheus_client import Counter

from consent_svc import webhooks
from consent_svc.domain.errors import InvalidInput
from consent_svc.service.context import Context
from consent_svc.service.webhooks import check_target
from consent_svc.store import outbox

_log = structlog.get_logger("consent_svc.webhooks")
ATTEMPTS = Counter("consent_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
BATCH = 32
MAX_BACKOFF_SECONDS = 3600.0


class Body(msgspec.Struct, frozen=True):
    id: str
    type: str
    created_at: datetime
    data: dict[str, object]


_encode = msgspec.json.Encoder().encode


class DeliveryWorker:
    def __init__(self, ctx: Context, *, name: str = "worker") -> None:
        self.ctx = ctx
        self.name = name
        settings = ctx.settings
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds, connect=min(5.0, settings.webhook_timeout_seconds)),
            follow_redirects=False,
            headers={"User-Agent": "consent-svc-webhooks/1"},
        )
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        await self.client.aclose()

    async def run(self) -> None:
        """Deliver until stopped; sleep ``webhook_poll_seconds`` when nothing is due."""
        while not self._stop.is_set():
            try:
                sent = await self.deliver_due()
            except Exception as exc:  # the worker must outlive a bad moment of the database
                _log.error("webhook worker error", error=type(exc).__name__)
                sent = 0
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.ctx.settings.webhook_poll_seconds)

    async def deliver_due(self) -> int:
        """One round: claim, send, record. Returns how many messages were attempted."""
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            due = await outbox.claim(conn, BATCH)
            if not due:
                return 0
            outcomes = await asyncio.gather(*(self._send(d) for d in due))
            for d, (ok, code, error, ms) in zip(due, outcomes, strict=True):
                retry = None if ok else self._retry_in(d)
                await outbox.record_attempt(
                    conn, d, ok=ok, status_code=code, error=error, duration_ms=ms, retry_in_seconds=retry
                )
                ATTEMPTS.labels("delivered" if ok else ("retry" if retry is not None else "dead")).inc()
                if not ok:
                    _log.warning(
                        "webhook delivery failed", message_id=str(d.id), attempt=d.attempts + 1, status=code,
                        error=error, dead=retry is None,
                    )  # fmt: skip
        return len(due)

    def _retry_in(self, due: outbox.Due) -> float | None:
        settings = self.ctx.settings
        backoff = min(MAX_BACKOFF_SECONDS, settings.webhook_retry_base_seconds * 2**due.attempts)
        delay = random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter, not security
        age = (datetime.now(UTC) - due.created_at).total_seconds()
        return None if age + delay > settings.webhook_retry_window_seconds else delay

    async def _send(self, due: outbox.Due) -> tuple[bool, int | None, str | None, float]:
        started = time.perf_counter()
        try:
            # Re-checked at delivery: DNS may have changed since the webhook was created.
            await check_target(due.url, self.ctx.settings.webhook_allow_private)
        except InvalidInput as exc:
            return False, None, f"refused: {exc.errors[0].message if exc.errors else exc.detail}", 0.0
        body = _encode(Body(id=str(due.id), type=due.event_type, created_at=due.created_at, data=due.payload))
        headers = {
            "Content-Type": "application/json",
            "Consent-Event-Id": str(due.id),
            "Consent-Event-Type": due.event_type,
            "Consent-Signature": webhooks.sign(due.secret, body),
        }
        try:
            response = await self.client.post(due.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return False, None, f"{type(exc).__name__}: {urlsplit(due.url).hostname}", _ms(started)
        if 200 <= response.status_code < 300:
            return True, response.status_code, None, _ms(started)
        return False, response.status_code, f"HTTP {response.status_code}", _ms(started)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
