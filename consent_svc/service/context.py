"""What every use case needs: the pool, the hasher, the settings and a clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

from consent_svc.config import Settings
from consent_svc.domain.identifiers import Hasher
from consent_svc.store.reads import ReadRouter

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Context:
    settings: Settings
    pool: asyncpg.Pool
    hasher: Hasher
    clock: Callable[[], datetime] = field(default=utcnow)
    # Decision reads: a streaming replica when one is configured and current
    # enough (consent_svc.store.reads), the primary otherwise.
    reads: ReadRouter | None = None

    async def read(self, query: Callable[[Any], Awaitable[T]]) -> T:
        """Run a read-only decision query where it may be read without missing any acknowledged write."""
        if self.reads is None:
            async with self.pool.acquire() as conn:
                return await query(conn)
        return await self.reads.run(query)
