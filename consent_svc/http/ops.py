"""Operations endpoints: health, readiness, metrics."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from consent_svc.http.problems import problem
from consent_svc.store import migrations, outbox

POOL_SIZE = Gauge("consent_db_pool_connections", "Database pool connections", ["state"])
OUTBOX_PENDING = Gauge("consent_webhook_outbox_pending", "Webhook messages waiting to be delivered")
OUTBOX_OLDEST = Gauge("consent_webhook_outbox_oldest_pending_seconds", "Age of the oldest undelivered message")
OUTBOX_DEAD = Gauge("consent_webhook_outbox_dead", "Dead-lettered webhook messages")


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
    return Response({"status": "ready"})


@get("/metrics", tags=["operations"], media_type="text/plain; version=0.0.4")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text format."""
    pool = request.app.state.ctx.pool
    POOL_SIZE.labels("total").set(pool.get_size())
    POOL_SIZE.labels("idle").set(pool.get_idle_size())
    async with pool.acquire() as conn:
        pending, oldest, dead = await outbox.stats(conn)
    OUTBOX_PENDING.set(pending)
    OUTBOX_OLDEST.set(oldest)
    OUTBOX_DEAD.set(dead)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
