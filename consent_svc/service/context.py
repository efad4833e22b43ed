"""What every use case needs: the pool, the hasher, the settings and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from consent_svc.config import Settings
from consent_svc.domain.identifiers import Hasher


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Context:
    settings: Settings
    pool: asyncpg.Pool
    hasher: Hasher
    clock: Callable[[], datetime] = field(default=utcnow)
