"""Operations endpoints: health and readiness on the public app; metrics on a
listener of its own (``CONSENT_METRICS_PORT``, loopback by default), never on
the public port."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consent_svc.http.auth import Authenticator
from consent_svc.http.deps import Ctx
from consent_svc.http.problems import problem
from consent_svc.service import ops, registers
from consent_svc.service.context import Context

POOL_SIZE = Gauge("consent_db_pool_connections", "Database pool connections", ["state"])
OUTBOX_PENDING = Gauge("consent_webhook_outbox_pending", "Webhook messages waiting to be delivered")
OUTBOX_OLDEST = Gauge("consent_webhook_outbox_oldest_pending_seconds", "Age of the oldest undelivered message")
OUTBOX_DEAD = Gauge("consent_webhook_outbox_dead", "Dead-lettered webhook messages")


class _DecisionReads(Collector):  # type: ignore[misc]  # prometheus_client is untyped here
    """``consent_decision_reads_total{route}``: where decision reads were served
    (replica, or primary and why), from the process's read router."""

    def __init__(self) -> None:
        self.ctx: Context | None = None

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "consent_decision_reads", "Decision reads by where they were served", labels=["route"]
        )
        router = self.ctx.reads if self.ctx is not None else None
        for route, count in sorted((router.routes if router else {}).items()):
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


class _RegisterAges(Collector):  # type: ignore[misc]  # prometheus_client is untyped here
    """``consent_register_age_seconds{tenant,register}``: how old each opt-out register's snapshot
    in force is (a wash is good for 60 days), and ``consent_register_stale{tenant,register}`` (1: past
    its validity, direct marketing on its channel is denied). Read at each scrape."""

    def __init__(self) -> None:
        self.ages: list[registers.RegisterAge] = []

    def collect(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "consent_register_age_seconds",
            "Age of an opt-out register's snapshot in force",
            labels=["tenant", "register"],
        )
        stale = GaugeMetricFamily(
            "consent_register_stale", "1 when an opt-out register's snapshot is past its validity",
            labels=["tenant", "register"],
        )  # fmt: skip
        for row in self.ages:
            age.add_metric([row.tenant, row.register], row.age_seconds)
            stale.add_metric([row.tenant, row.register], 1.0 if row.stale else 0.0)
        yield age
        yield stale


REGISTER_AGES = _RegisterAges()
REGISTRY.register(REGISTER_AGES)


class HealthOut(msgspec.Struct, frozen=True, kw_only=True):
    status: str


class ReadyOut(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    read_replica: str


@get("/healthz", tags=["operations"], summary="Check that the process is up")
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


@get("/readyz", tags=["operations"], summary="Check that the service is ready")
async def readyz(ctx: Ctx) -> Response[ReadyOut]:
    """The database answers and every migration is applied (503 otherwise)."""
    ready = await ops.readiness(ctx)
    if not ready.database:
        return problem(503, "the database is not reachable")
    if ready.pending_migrations:
        return problem(503, f"{ready.pending_migrations} migration(s) not applied: run `consent-svc migrate`")
    return Response(ReadyOut(status="ready", read_replica=ready.read_replica))


@get("/metrics", media_type="text/plain; version=0.0.4", include_in_schema=False)
async def metrics(ctx: Ctx) -> Response[bytes]:
    """Prometheus text format (served by the metrics listener's app only)."""
    DECISION_READS.ctx = ctx
    POOL_SIZE.labels("total").set(ctx.pool.get_size())
    POOL_SIZE.labels("idle").set(ctx.pool.get_idle_size())
    stats = await ops.outbox_stats(ctx)
    OUTBOX_PENDING.set(stats.pending)
    OUTBOX_OLDEST.set(stats.oldest_pending_seconds)
    OUTBOX_DEAD.set(stats.dead)
    REGISTER_AGES.ages = await registers.ages(ctx)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
