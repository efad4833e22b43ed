"""Tenants, API keys and authentication."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from consent_svc.domain.errors import Conflict, InvalidInput, NotFound
from consent_svc.domain.identifiers import normalize_email
from consent_svc.domain.ids import uuid7
from consent_svc.domain.models import KEY_SCOPES
from consent_svc.domain.records import BrandingRow, KeyRow, TenantRow
from consent_svc.service.context import Context
from consent_svc.service.inputs import BrandingIn
from consent_svc.service.ratelimit import Clock, RateLimited, TokenBuckets
from consent_svc.store import tenants as store

KEY_PREFIX = "csk_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant and the scope of the key."""

    tenant_id: UUID
    tenant_name: str
    key_id: UUID
    scope: str

    def allows(self, needed: str) -> bool:
        # admin can do everything; record can also check.
        order = {"check": 0, "record": 1, "admin": 2}
        return order[self.scope] >= order[needed]


def hash_key(token: str) -> bytes:
    # Keys carry 256 random bits, so a plain SHA-256 is enough (no stretching needed).
    return hashlib.sha256(token.encode()).digest()


async def create_tenant(ctx: Context, name: str) -> TenantRow:
    name = name.strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", name):
        raise InvalidInput.field(
            "name",
            "use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await store.insert_tenant(conn, uuid7(), name)
    if row is None:
        raise Conflict(f"a tenant named {name!r} exists")
    return row


async def list_tenants(ctx: Context) -> list[TenantRow]:
    async with ctx.pool.acquire() as conn:
        return await store.list_tenants(conn)


async def create_key(ctx: Context, tenant_name: str, scope: str, label: str | None = None) -> tuple[UUID, str]:
    """Create a key; return its id and the key itself (shown once, only its hash is kept)."""
    if scope not in KEY_SCOPES:
        raise InvalidInput.field("scope", f"must be one of {', '.join(KEY_SCOPES)}")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = uuid7()
    async with ctx.pool.acquire() as conn, conn.transaction():
        tenant = await store.tenant_by_name(conn, tenant_name)
        if tenant is None:
            raise NotFound(f"no tenant named {tenant_name!r}")
        await store.insert_key(conn, tenant.id, key_id, hash_key(token), scope, label)
    return key_id, token


async def revoke_key(ctx: Context, key_id: UUID) -> KeyRow:
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await store.revoke_key(conn, key_id)
    if row is None:
        raise NotFound(f"no key with id {key_id}")
    return row


async def list_keys(ctx: Context, tenant_name: str) -> list[KeyRow]:
    async with ctx.pool.acquire() as conn:
        tenant = await store.tenant_by_name(conn, tenant_name)
        if tenant is None:
            raise NotFound(f"no tenant named {tenant_name!r}")
        return await store.list_keys(conn, tenant.id)


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
    every path (the decision fast path and the litestar guard alike):

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
        if not token.startswith(KEY_PREFIX) or len(token) > 100:
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
        async with self._ctx.pool.acquire() as conn:
            row = await store.active_key_by_hash(conn, digest)
        now = self._clock()
        if row is None:
            self._good.pop(digest, None)
            if self._ttl > 0:
                self._remember(self._bad, digest, now + self._ttl)
            return None
        principal = Principal(row.tenant_id, row.tenant_name, row.id, row.scope)
        self._bad.pop(digest, None)
        self._remember(self._good, digest, (now + self._ttl, principal))
        return principal

    def _remember(self, table: OrderedDict[bytes, Any], digest: bytes, value: Any) -> None:
        table[digest] = value
        table.move_to_end(digest)
        while len(table) > self._cache_size:
            table.popitem(last=False)


async def get_branding(ctx: Context, tenant_id: UUID) -> BrandingRow:
    async with ctx.pool.acquire() as conn:
        row = await store.get_branding(conn, tenant_id)
    if row is None:
        raise NotFound("no such tenant")
    return row


# Legal in an address's local part, but each means something in a mailto: URI or a
# List-Unsubscribe header ("a?cc=x@evil.example" would add a recipient if left raw).
# Other URI characters ("=", "/", "#" ...) are allowed and percent-encoded in the URI.
_MAILTO_FORBIDDEN = frozenset("?&%<>,")


def _unsubscribe_mailbox(raw: str) -> str:
    """A plain address for the List-Unsubscribe mailto:, nothing that could read as URI syntax."""
    value = raw.strip()
    if any(c in _MAILTO_FORBIDDEN or c.isspace() or not c.isprintable() for c in value):
        raise InvalidInput.field("unsubscribe_mailto", "must be a plain address: no ? & % < > , or spaces")
    return normalize_email(value, field="unsubscribe_mailto")


async def set_branding(ctx: Context, tenant_id: UUID, body: BrandingIn) -> BrandingRow:
    mailto = None
    if body.unsubscribe_mailto is not None:
        mailto = _unsubscribe_mailbox(body.unsubscribe_mailto)
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await store.get_branding(conn, tenant_id)
        if current is None:
            raise NotFound("no such tenant")
        branding = BrandingRow(
            name=current.name,
            display_name=body.display_name,
            logo_url=body.logo_url,
            primary_color=body.primary_color.lower() if body.primary_color else None,
            privacy_policy_url=body.privacy_policy_url,
            unsubscribe_mailto=mailto,
        )
        return await store.set_branding(conn, tenant_id, branding)


async def tenant_id_by_name(ctx: Context, name: str) -> UUID:
    async with ctx.pool.acquire() as conn:
        tenant = await store.tenant_by_name(conn, name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant.id
