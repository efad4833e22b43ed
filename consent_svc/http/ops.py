"""Operations endpoints: health and readiness on the public app; metrics on a
listener of its own (``CONSENT_METRICS_PORT``, loopback by default), never on
the public port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from consent_svc.http.problems import problem
from consent_svc.service.tenants import Authenticator
from consent_svc.store import migrations, outbox
from consent_svc.store.reads import ReadRouter

POOL_SIZE = Gauge("consent_db_pool_connections", "Database pool connections", ["state"])
OUTBOX_PENDING = Gauge("consent_webhook_outbox_pending", "Webhook messages waiting to be delivered")
OUTBOX_OLDEST = Gauge("consent_webhook_outbox_oldest_pending_seconds", "Age of the oldest undelivered message")
OUTBOX_DEAD = Gauge("consent_webhook_outbox_dead", "Dead-lettered webhook messages")


class _DecisionReads(Collector):  # type: ignore[misc]  # prometheus_client is untyped here
    """``consent_decision_reads_total{route}``: where decision reads were served
    (replica, or primary and why), from the process's read router."""

    def __init__(self) -> None:
        self.router: ReadRouter | None = None

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "consent_decision_reads", "Decision reads by where they were served", labels=["route"]
        )
        for route, count in sorted((self.router.routes if self.router else {}).items()):
            family.add_metric([route], count)
        yield family


DECISION_READS = _DecisionReads()
REGISTRY.register(DECISION_READS)


class _KeyLookups(Collector):  # type: ignore[misc]  # prometheus_client is untyped here
    """``consent_api_key_lookups_total`` (database look-ups of API keys) and
    ``consent_api_key_refusals_total`` (unknown keys refused, 429, without a
    look-up: an address over its failure budget), from the process's authenticator."""

    def __init__(self) -> None:
        self.authenticator: Authenticator | None = None

    def collect(self) -> Iterator[Metric]:
        auth = self.authenticator
        lookups = CounterMetricFamily("consent_api_key_lookups", "API key look-ups in the database")
        lookups.add_metric([], auth.look_ups if auth else 0)
        yield lookups
        refusals = CounterMetricFamily(
            "consent_api_key_refusals", "Unknown API keys refused without a look-up (address over its failure budget)"
        )
        refusals.add_metric([], auth.refused if auth else 0)
        yield refusals


KEY_LOOKUPS = _KeyLookups()
REGISTRY.register(KEY_LOOKUPS)


@get("/healthz", tags=["operations"], include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/readyz", tags=["operations"])
async def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    """The database answers and every migration is applied."""
    ctx = request.app.state.ctx
    try:
        async with ctx.pool.acquire(timeout=2) as conn:
            pending = await migrations.status(conn)
    except Exception:
        return problem(503, "the database is not reachable")
    if pending:
        return problem(503, f"{len(pending)} migration(s) not applied: run `consent-svc migrate`")
    # A read replica that is down does not make the service unready: decisions read the primary.
    reads = ctx.reads.status() if ctx.reads is not None else "none"
    return Response({"status": "ready", "read_replica": reads})


@get("/metrics", media_type="text/plain; version=0.0.4", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text format (served by the metrics listener's app only)."""
    pool = request.app.state.ctx.pool
    DECISION_READS.router = request.app.state.ctx.reads
    POOL_SIZE.labels("total").set(pool.get_size())
    POOL_SIZE.labels("idle").set(pool.get_idle_size())
    async with pool.acquire() as conn:
        pending, oldest, dead = await outbox.stats(conn)
    OUTBOX_PENDING.set(pending)
    OUTBOX_OLDEST.set(oldest)
    OUTBOX_DEAD.set(dead)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
