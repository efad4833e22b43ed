"""Bearer authentication and scopes at the edge: the key cache, the budgets, and the litestar guard.

Every route names the scope it needs in ``opt={"scope": ...}`` (on its
controller where it is the same for all); routes without one are public. The
principal is kept in the request state; handlers receive ``ctx`` and
``tenant_id`` from the dependency providers in ``consent_svc.http.deps``.

The fast paths (http/fastpath.py) authenticate through
:func:`authenticate_once` and :func:`limit_once` too, so both paths spend the
same per-address budget and per-key rate limit, and a request a fast path
hands over to the route is not authenticated (looked up, charged) or counted
against its key's rate a second time.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from consent_svc.http.ratelimit import Clock, RateLimited, TokenBuckets
from consent_svc.service import tenants
from consent_svc.service.context import Context
from consent_svc.service.tenants import KEY_PREFIX, PLATFORM_KEY_PREFIX, Principal, hash_key


class Authenticator:
    """Resolves bearer keys and applies two budgets: the per-key rate limit
    (``rate_limit_per_key`` requests a second, a burst of two seconds' worth;
    0 = none) and a per-address budget of failed authentications. Per process.

    Keys that verified are kept in an LRU table of ``cache_size`` entries (the
    least recently used is evicted). An entry answers without a query for
    ``auth_cache_seconds`` (default 5 s: a revoked key is refused by every
    replica within that); after that it is *stale*: the key is looked up again,
    but the process still knows it as a key that verified. Keys that did not
    verify are remembered apart, in an LRU table of their own, for the same
    time, so a flood of unknown keys never pushes a good key out. Concurrent
    requests with the same key share one look-up.

    The failure budget (``FAILURE_BURST`` per address, refilled at
    ``FAILURE_RATE`` a second) protects the database from key guessing, on
    every path (the fast paths and the litestar guard alike):

    * a look-up of a key that is not known is paid for *before* it runs, with
      a token from the client address's bucket, so concurrent guesses cannot
      run ahead of the budget; a key that verifies gets its token back, so
      only failures spend the budget;
    * while the address's tokens are out on look-ups still running, a new
      unknown key waits for them to settle instead of being refused (a burst
      of valid keys is not a burst of failures);
    * an unknown key from an address whose tokens are spent (by failures) is
      refused with 429, without a look-up;
    * a key that is known, fresh or stale, is never refused by this budget: a
      fresh one needs no look-up, and a stale one is looked up whatever the
      budget (only a key that verified before gets this, so it buys an
      attacker nothing).

    The trade-off: a client whose key this process has not seen yet, behind
    the same address as a key guesser (a shared NAT), waits for the budget
    to refill (one look-up a second) before its key is checked once; from
    then on its key is known. docs/operations.md says so.
    """

    FAILURE_BURST = 20
    FAILURE_RATE = 1.0  # a second
    _UNKNOWN = "requests with unknown API keys from this address"

    def __init__(self, ctx: Context, *, clock: Clock = time.monotonic, cache_size: int = 10_000) -> None:
        self._ctx = ctx
        self._ttl = ctx.settings.auth_cache_seconds
        self._clock = clock
        self._cache_size = cache_size
        # digest -> (answer reusable until, principal); LRU order, most recent last
        self._good: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._bad: OrderedDict[bytes, float] = OrderedDict()  # digest -> remembered until
        self._running: dict[bytes, asyncio.Future[Principal | None]] = {}  # look-ups in flight, by key
        self._paid: dict[str, int] = {}  # address -> look-ups it paid for that are still running
        self._settled: dict[str, asyncio.Event] = {}  # address -> set when one of them finishes
        rate = ctx.settings.rate_limit_per_key
        self._limits = TokenBuckets(capacity=2 * rate, per_second=rate, clock=clock) if rate > 0 else None
        self._failures = TokenBuckets(capacity=self.FAILURE_BURST, per_second=self.FAILURE_RATE, clock=clock)
        self.look_ups = 0  # database look-ups of keys, for /metrics
        self.refused = 0  # unknown keys refused (429) without a look-up

    def limit(self, principal: Principal) -> None:
        """Take one request from the key's budget; raises RateLimited (429 with Retry-After)."""
        if self._limits is not None:
            self._limits.take(str(principal.key_id), "requests with this key")

    async def authenticate(self, token: str, address: str) -> Principal | None:
        """The key's principal, or None when it does not verify. Raises
        RateLimited, without a database look-up, for a key that is not known
        good from an ``address`` that has spent its failure budget."""
        digest = hash_key(token)
        now = self._clock()
        known = self._good.get(digest)
        if known is not None:
            self._good.move_to_end(digest)
            if known[0] > now:
                return known[1]
            principal = await self._look_up(digest)  # stale: checked again (a revocation), whatever the budget
            if principal is None:
                self._failures.spend(address)
            return principal
        remembered_bad = self._bad.get(digest)
        if remembered_bad is not None and remembered_bad > now:
            self._bad.move_to_end(digest)
            self._failures.spend(address)
            return None
        if not token.startswith((KEY_PREFIX, PLATFORM_KEY_PREFIX)) or len(token) > 100:
            self._failures.spend(address)  # cannot be a key: no look-up needed
            return None
        if digest in self._running:  # the same key is being looked up (and was paid for): share the answer
            principal = await self._look_up(digest)
            if principal is None:
                self._failures.spend(address)
            return principal
        await self._pay(address)
        try:
            principal = await self._look_up(digest)
        except BaseException:
            self._settle(address, refund=True)  # the database failed, not the key
            raise
        self._settle(address, refund=principal is not None)
        return principal

    async def _pay(self, address: str) -> None:
        """Take a token for a look-up, waiting while the address's tokens are out on
        look-ups still running; RateLimited when they are spent."""
        while True:
            try:
                self._failures.take(address, self._UNKNOWN)
            except RateLimited:
                if not self._paid.get(address):
                    self.refused += 1
                    raise
                await self._settled.setdefault(address, asyncio.Event()).wait()
                continue
            self._paid[address] = self._paid.get(address, 0) + 1
            return

    def _settle(self, address: str, *, refund: bool) -> None:
        if refund:
            self._failures.give_back(address)
        left = self._paid.pop(address) - 1
        if left:
            self._paid[address] = left
        settled = self._settled.pop(address, None)
        if settled is not None:
            settled.set()

    async def _look_up(self, digest: bytes) -> Principal | None:
        """One database look-up per key at a time; it runs on its own, so a
        client that goes away does not cancel it for the others."""
        running = self._running.get(digest)
        if running is None:
            running = asyncio.ensure_future(self._query(digest))
            self._running[digest] = running
            running.add_done_callback(lambda done: self._forget_running(digest, done))
        return await asyncio.shield(running)

    def _forget_running(self, digest: bytes, done: asyncio.Future[Principal | None]) -> None:
        if self._running.get(digest) is done:
            del self._running[digest]

    async def _query(self, digest: bytes) -> Principal | None:
        self.look_ups += 1
        principal = await tenants.principal_for(self._ctx, digest)
        now = self._clock()
        if principal is None:
            self._good.pop(digest, None)
            if self._ttl > 0:
                self._remember(self._bad, digest, now + self._ttl)
            return None
        self._bad.pop(digest, None)
        self._remember(self._good, digest, (now + self._ttl, principal))
        return principal

    def _remember(self, table: OrderedDict[bytes, Any], digest: bytes, value: Any) -> None:
        table[digest] = value
        table.move_to_end(digest)
        while len(table) > self._cache_size:
            table.popitem(last=False)


_OUTCOME = "consent.authentication"  # in the ASGI scope's state: (token, principal or None or RateLimited)


def client_address(scope: dict[str, Any]) -> str:
    """The address a failure budget is kept for (the peer, or the client a trusted proxy named)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def authenticate_once(scope: dict[str, Any], authenticator: Authenticator, token: str) -> Principal | None:
    """The request's principal (None: the key does not verify); RateLimited when the
    client address has spent its budget of failures. Decided once per request."""
    state = scope.setdefault("state", {})
    earlier = state.get(_OUTCOME)
    if earlier is not None and earlier[0] == token:
        outcome = earlier[1]
    else:
        try:
            outcome = await authenticator.authenticate(token, client_address(scope))
        except RateLimited as refused:
            outcome = refused
        state[_OUTCOME] = (token, outcome)
    if isinstance(outcome, RateLimited):
        raise outcome
    return outcome  # type: ignore[no-any-return]


_LIMITED = "consent.rate_limited"  # in the ASGI scope's state: True (a request taken) or the RateLimited refusal


def limit_once(scope: dict[str, Any], authenticator: Authenticator, principal: Principal) -> None:
    """Take the request from its key's budget once, whichever path asks (a fast path that hands
    the request on to its route, then the route's guard); raises RateLimited (429)."""
    state = scope.setdefault("state", {})
    outcome = state.get(_LIMITED)
    if outcome is None:
        try:
            authenticator.limit(principal)
            outcome = True
        except RateLimited as refused:
            outcome = refused
        state[_LIMITED] = outcome
    if isinstance(outcome, RateLimited):
        raise outcome


def _unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail=detail, headers={"WWW-Authenticate": 'Bearer realm="consent-svc"'})


async def require_scope(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    needed = handler.opt.get("scope")
    if needed is None:
        return
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
    authenticator: Authenticator = connection.app.state.authenticator
    principal = await authenticate_once(connection.scope, authenticator, token.strip())  # type: ignore[arg-type]
    if principal is None:
        raise _unauthorized("the API key is unknown or revoked")
    if not principal.allows(needed):
        raise PermissionDeniedException(detail=f"this key has scope {principal.scope!r}; {needed!r} is needed")
    limit_once(connection.scope, authenticator, principal)  # type: ignore[arg-type]
    connection.state.principal = principal
