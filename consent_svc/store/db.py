"""Connection pool and codecs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import msgspec

_json_encode = msgspec.json.encode
_json_decode = msgspec.json.decode
CONNECT_TIMEOUT_SECONDS = 10.0


class DatabaseUnreachable(Exception):
    """The database could not be reached or refused us; the message is one line for a person."""


def where(dsn: str) -> str:
    """host:port/database of a DSN (the socket folder for a local socket), never the password."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    hosts = parts.netloc.rpartition("@")[2]  # may list several: "a:5432,b:5432"
    if not hosts:
        hosts = (query.get("host") or ["local socket"])[0] + ":" + (query.get("port") or ["5432"])[0]
    elif ":" not in hosts.rsplit("]", 1)[-1] and "," not in hosts:
        hosts += ":5432"
    return f"{hosts}/{parts.path.lstrip('/') or parts.username or 'postgres'}"


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out through msgspec: faster than the stdlib json module.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + _json_encode(value),
        decoder=lambda data: _json_decode(data[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset (a round trip running RESET ALL, UNLISTEN ...).

    Pooled connections never change session state: no SET without LOCAL, no
    LISTEN, no session advisory locks (migrations use a connection of their own).
    """


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_no_reset,
        # Statements are prepared per connection and reused; 1,000 is plenty.
        statement_cache_size=1000,
        server_settings={
            "application_name": "consent-svc",
            "timezone": "UTC",
            # Every query here is a prepared statement over keys (tenant, hash,
            # arrays of hashes) whose best plan does not depend on the values;
            # a custom plan per execution cost ~0.3 ms of planning, more than
            # running the decision query itself.
            "plan_cache_mode": "force_generic_plan",
            # JIT compilation pays off for long analytic queries; a decision
            # chunk's estimated cost crossed jit_above_cost and spent ~17 ms
            # compiling expressions for a query that runs in ~50 ms.
            "jit": "off",
        },
        **kwargs,
    )
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """A single connection; a database that cannot be reached is :class:`DatabaseUnreachable`."""
    try:
        conn = await asyncpg.connect(
            dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": "consent-svc", "timezone": "UTC"},
        )
    except (TimeoutError, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise DatabaseUnreachable(f"cannot reach the database at {where(dsn)}: {why.lower()}") from exc
    except asyncpg.PostgresError as exc:
        raise DatabaseUnreachable(f"the database at {where(dsn)} refused the connection: {exc}") from exc
    await _init_connection(conn)
    return conn
