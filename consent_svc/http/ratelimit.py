"""Token buckets, in process memory.

Each replica limits on its own: with N replicas behind a load balancer the
effective limit is up to N times the configured one (docs/banner.md). The
table of buckets is bounded, so a flood of new keys cannot grow it without end.
The clock is injectable (``time.monotonic`` by default), so tests can step it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from consent_svc.domain.errors import DomainError

Clock = Callable[[], float]


class RateLimited(DomainError):
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TokenBuckets:
    def __init__(
        self, capacity: float, per_second: float, max_keys: int = 100_000, clock: Clock = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.rate = per_second
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - stamp) * self.rate)

    def _refuse(self, tokens: float, what: str) -> RateLimited:
        retry = max(1, int((1 - tokens) / self.rate + 0.999))
        return RateLimited(f"too many {what}; try again in {retry} s", retry)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets.pop(key, None)  # re-inserted last: the table evicts the least recently used
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def check(self, key: str, what: str) -> None:
        """Raise :class:`RateLimited` if ``key`` has no token left, without taking one."""
        tokens = self._level(key, self.clock())
        if tokens < 1:
            raise self._refuse(tokens, what)

    def take(self, key: str, what: str) -> None:
        """Take one token for ``key`` or raise :class:`RateLimited` with a Retry-After."""
        now = self.clock()
        tokens = self._level(key, now)
        if tokens < 1:
            self._store(key, tokens, now)
            raise self._refuse(tokens, what)
        self._store(key, tokens - 1, now)

    def spend(self, key: str) -> None:
        """Take one token for ``key`` if there is one; never raises (counts without refusing)."""
        now = self.clock()
        self._store(key, max(0.0, self._level(key, now) - 1), now)

    def give_back(self, key: str) -> None:
        """Return a token taken by :meth:`take` (up to the capacity)."""
        now = self.clock()
        if key in self._buckets:
            self._store(key, min(self.capacity, self._level(key, now) + 1), now)
