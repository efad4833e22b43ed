"""Decision reads from a streaming replica, without ever answering from the past.

The promise the product makes is that an unsubscribe is honoured by the very
next decision, whichever replica of the service took the unsubscribe and
whichever answers the decision. A streaming replica lags its primary, so a
decision read from it could miss a withdrawal committed a millisecond
earlier. The rule that keeps the promise:

1. Ask the primary for its WAL flush position ``P`` (``pg_current_wal_flush_lsn()``,
   a function call, no table read). Every transaction acknowledged before the
   decision arrived ends at or before ``P`` (with ``synchronous_commit`` on,
   the default: a commit returns only after its record is flushed).
2. Ask the replica how far it has replayed, ``R`` (``pg_last_wal_replay_lsn()``),
   on the connection that will run the look-up. Steps 1 and 2 run at the same
   time, on two connections.
3. If ``R >= P``, run the look-up on that replica connection: its snapshot is
   taken after ``R`` was read, so it contains everything up to ``P``.
   Otherwise re-read ``R`` every 2 ms for at most ``CONSENT_READ_MAX_WAIT_MS``;
   if the replica is still behind, read the primary.

A replica that cannot be reached (stopped, failed over, network) is skipped
for ``DOWN_SECONDS`` and the primary answers meanwhile; a replica that is
promoted (not in recovery any more) is read without a check. The position is
checked per connection, never cached across connections, so a read URL that
points at a load balancer over several replicas is also correct.

The cost is one extra, tiny primary round trip per decision (per 5,000
recipients in a batch), in parallel with the replica's own; docs/operations.md
has the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import asyncpg
import structlog

_log = structlog.get_logger("consent_svc.reads")

_PRIMARY_POSITION = "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint"
# NULL position and false: the server is not (or no longer) a standby; it is current by definition.
_REPLICA_POSITION = "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"

DOWN_SECONDS = 5.0
POLL_SECONDS = 0.002
ACQUIRE_SECONDS = 2.0

T = TypeVar("T")
Route = Literal[
    "replica", "primary_no_replica", "primary_replica_behind", "primary_replica_down", "primary_replica_failed"
]
_REPLICA_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def _is_disconnect(exc: BaseException) -> bool:
    """The server went away (as opposed to one statement failing, e.g. a recovery conflict)."""
    disconnects = (
        OSError,
        TimeoutError,
        asyncpg.InterfaceError,
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.AdminShutdownError,
    )
    return isinstance(exc, disconnects)


class _ReplicaFailed(Exception):
    """The replica, not the primary, failed while its position was read."""


@dataclass(slots=True)
class ReadRouter:
    """Hands out the connection a decision reads from: the replica when it is
    current enough, the primary otherwise (module docstring)."""

    primary: asyncpg.Pool
    replica: asyncpg.Pool | None = None
    max_wait_seconds: float = 0.05
    down_seconds: float = DOWN_SECONDS
    down_until: float = 0.0
    routes: dict[str, int] = field(default_factory=dict)

    def status(self) -> str:
        if self.replica is None:
            return "none"
        return "down" if time.monotonic() < self.down_until else "up"

    async def run(self, query: Callable[[Any], Awaitable[T]]) -> T:
        """Run a read-only ``query(conn)`` on the replica when it is current
        enough, else on the primary. A replica failing mid-query is retried on
        the primary (the query only reads, so running it twice is harmless)."""
        if self.replica is None or time.monotonic() < self.down_until:
            self._count("primary_no_replica" if self.replica is None else "primary_replica_down")
            async with self.primary.acquire() as conn:
                return await query(conn)
        replica_conn, route = await self._current_replica_connection()
        if replica_conn is not None:
            try:
                answer = await query(replica_conn)
            except _REPLICA_ERRORS as exc:
                await self._discard(replica_conn)
                if _is_disconnect(exc):
                    self._mark_down(exc)
                route = "primary_replica_failed"
            else:
                await self.replica.release(replica_conn)
                self._count("replica")
                return answer
        self._count(route)
        async with self.primary.acquire() as conn:
            return await query(conn)

    async def _current_replica_connection(self) -> tuple[Any | None, Route]:
        assert self.replica is not None
        try:
            replica_conn = await self.replica.acquire(timeout=ACQUIRE_SECONDS)
        except _REPLICA_ERRORS as exc:
            self._mark_down(exc)
            return None, "primary_replica_down"
        try:
            async with self.primary.acquire() as primary_conn:
                results: tuple[Any, Any] = await asyncio.gather(
                    primary_conn.fetchval(_PRIMARY_POSITION),
                    replica_conn.fetchrow(_REPLICA_POSITION, timeout=ACQUIRE_SECONDS),
                    return_exceptions=True,
                )
            target, position = results
            if isinstance(target, BaseException):
                raise target  # the primary's failure is the request's, not the replica's
            if isinstance(position, BaseException):
                raise _ReplicaFailed from position
            standby, replayed = position
            deadline = time.monotonic() + self.max_wait_seconds
            while standby and (replayed is None or replayed < target):
                if time.monotonic() >= deadline:
                    await self.replica.release(replica_conn)
                    return None, "primary_replica_behind"
                await asyncio.sleep(POLL_SECONDS)
                try:
                    standby, replayed = await replica_conn.fetchrow(_REPLICA_POSITION, timeout=ACQUIRE_SECONDS)
                except _REPLICA_ERRORS as exc:
                    raise _ReplicaFailed from exc
        except _ReplicaFailed as failed:
            await self._discard(replica_conn)
            self._mark_down(failed.__cause__ or failed)
            return None, "primary_replica_down"
        except BaseException:
            await self._discard(replica_conn)
            raise
        return replica_conn, "replica"

    async def _discard(self, conn: Any) -> None:
        assert self.replica is not None
        with contextlib.suppress(*_REPLICA_ERRORS):
            await self.replica.release(conn)

    def _mark_down(self, exc: BaseException) -> None:
        if time.monotonic() >= self.down_until:
            _log.warning(
                "read replica unreachable; decisions read the primary",
                error=type(exc).__name__,
                retry_in_seconds=self.down_seconds,
            )
        self.down_until = time.monotonic() + self.down_seconds

    def _count(self, route: str) -> None:
        self.routes[route] = self.routes.get(route, 0) + 1
