"""Bringing up the database: the embedded default or ``CONSENT_DATABASE_URL``, migrations, pool.

Used by ``serve`` and by every CLI command, so that with the same environment
they all use the same database.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
import structlog

from consent_svc.config import ConfigError, Settings
from consent_svc.domain.identifiers import Hasher
from consent_svc.service.context import Context
from consent_svc.store import db, migrations, reads
from consent_svc.store import tenants as tenant_store
from consent_svc.store.embedded import EmbeddedPostgres

T = TypeVar("T")
_log = structlog.get_logger("consent_svc.runtime")

# The cyclic garbage collector's first threshold (CPython's default is 700 allocations). A batch
# of 10,000 events or 100,000 decisions keeps a few hundred thousand objects alive until it
# answers; with the default, the collector ran a full collection (of every object in the
# process) ~3 times per 10,000 events, over a third of the batch's Python time (docs/performance.md).
# With 7,000, a full collection is due at most every 700,000 allocations; memory held by cyclic
# garbage grows by at most that many young objects.
GC_THRESHOLD = (7_000, 10, 10)


def tune_gc() -> None:
    """For a long-running server, once it has built its application: what exists now lives as
    long as the process, so the collector stops looking at it (``gc.freeze``), and collects
    the young generation 10 times less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def check_pepper(conn: asyncpg.Connection, hasher: Hasher) -> None:
    """Refuse to run with a pepper other than the one the database was set up with:
    every keyed hash (and so the suppression list) would silently stop matching."""
    stored = await tenant_store.write_meta_once(conn, "pepper_fingerprint", hasher.fingerprint())
    if stored != hasher.fingerprint():
        raise ConfigError(
            "CONSENT_PEPPER is not the pepper this database was set up with; "
            "every identifier look-up would miss. Restore the original pepper."
        )


async def prepare_database(dsn: str, hasher: Hasher, *, migrate: bool) -> list[str]:
    conn = await db.connect(dsn)
    try:
        applied = await migrations.migrate(conn) if migrate else []
        pending = await migrations.status(conn)
        if pending:
            raise migrations.MigrationError(f"{len(pending)} migration(s) not applied; run `consent-svc migrate` first")
        await check_pepper(conn, hasher)
        return applied
    finally:
        await conn.close()


@asynccontextmanager
async def open_context(settings: Settings, dsn: str, *, migrate: bool) -> AsyncIterator[Context]:
    hasher = Hasher(settings.pepper.reveal())
    applied = await prepare_database(dsn, hasher, migrate=migrate)
    if applied:
        _log.info("migrations applied", migrations=applied)
    pool = await db.create_pool(dsn, min_size=settings.pool_min, max_size=settings.pool_max)
    replica: asyncpg.Pool | None = None
    if settings.database_read_url:
        # No connection at start (min_size=0): a replica that is down must not stop the service.
        replica = await db.create_pool(
            settings.database_read_url, min_size=0, max_size=settings.pool_max, timeout=reads.ACQUIRE_SECONDS
        )
        _log.info("decision reads use the read replica when it is current", max_wait_ms=settings.read_max_wait_ms)
    router = reads.ReadRouter(pool, replica, max_wait_seconds=settings.read_max_wait_ms / 1000)
    try:
        yield Context(settings=settings, pool=pool, hasher=hasher, reads=router)
    finally:
        if replica is not None:
            await replica.close()
        await pool.close()


def run_with_database(settings: Settings, body: Callable[[Context], Awaitable[T]], *, migrate: bool | None = None) -> T:
    """Start (or attach to) the database, run ``body`` with a context, and leave cleanly.

    SIGINT and SIGTERM are turned into a clean shutdown: the server's own
    handlers stop serving, and the embedded PostgreSQL is stopped afterwards.
    """
    embedded: EmbeddedPostgres | None = None
    if settings.database_url:
        dsn = settings.database_url
    else:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = embedded.start()
        _log.info(
            "embedded PostgreSQL ready",
            data_dir=str(embedded.pgdata),
            started=embedded.started_here,
            seconds=round(embedded.start_seconds, 3),
        )
    should_migrate = settings.migrate_on_start if migrate is None else migrate

    async def main() -> T:
        async with open_context(settings, dsn, migrate=should_migrate) as ctx:
            return await body(ctx)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stop_requested: list[int] = []

    def remember(signum: int, _frame: object) -> None:
        # uvicorn re-raises the signal it caught after its shutdown; land here, not in a kill.
        stop_requested.append(signum)

    for sig in previous:
        signal.signal(sig, remember)
    try:
        return _run(main())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if embedded is not None and embedded.release():
            _log.info("embedded PostgreSQL stopped")


def _run(coro: Awaitable[T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]
