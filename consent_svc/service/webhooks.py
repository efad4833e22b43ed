"""Webhook subscriptions: create (with an SSRF check), list, delete, see deliveries, redeliver."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import httpx
import msgspec

from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.ids import uuid7
from consent_svc.domain.records import DeliveryRow, Page, WebhookRow
from consent_svc.service.context import Context
from consent_svc.store import outbox as store
from consent_svc.store import webhooks as webhook_store

# Where a webhook may be delivered. Receivers listen on the standard https
# port or its common alternative; any other port is refused (unless private
# targets are allowed), so a webhook cannot be pointed at some other service
# that happens to listen on a public address.
ALLOWED_PORTS = (443, 8443)

# IPv6 forms that carry an IPv4 address, whose fate is that IPv4 address's:
# a NAT64 gateway (RFC 6052 well-known prefix), a 6to4 relay (RFC 3056), a
# SIIT translator (IPv4-translated, RFC 2765) or the kernel (IPv4-mapped, and
# the deprecated IPv4-compatible ::a.b.c.d) delivers the packet to the
# embedded IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Refused outright: the local-use NAT64 prefix (RFC 8215; where its IPv4 sits
# depends on a prefix length only the local network knows) and the deprecated
# site-local fec0::/10, which Python counts as global.
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")

Resolve = Callable[[str, int], Awaitable[Sequence[str]]]


class Target(msgspec.Struct, frozen=True):
    """A checked delivery target: connect only to ``addresses`` for ``host``:``port``.

    ``host`` is spelled as the HTTP client spells it (lower case, IDNA, IPv6
    without brackets), so a transport can match a connection to its check.
    """

    host: str
    port: int
    addresses: tuple[str, ...]


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that embed one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_TRANSLATED or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def blocked(address: str) -> bool:
    """True for an address a webhook must not reach: anything but a public unicast address."""
    ip = ipaddress.ip_address(address.partition("%")[0])  # an IPv6 zone (fe80::1%eth0) changes nothing
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL_USE or ip.is_site_local:
            return True
        inner = embedded_ipv4(ip)
        if inner is not None:
            return blocked(str(inner))
    return not ip.is_global or ip.is_multicast


async def system_resolve(host: str, port: int) -> Sequence[str]:
    """The addresses the operating system's resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_target(url: str, allow_private: bool, field: str = "url", resolve: Resolve = system_resolve) -> Target:
    """Refuse urls that would make the service call into its own network (SSRF).

    Only https to ports 443 and 8443, and only when every address the name
    resolves to is public (an IPv6 form that embeds an IPv4 address is judged
    by that IPv4 address); ``allow_private`` (development) also lets private
    and loopback addresses, any port, and http to loopback through. The url is
    parsed by the HTTP client's own parser, so the check and the request agree
    on what host is meant. Returns the checked addresses: a delivery connects
    to one of them and never resolves the name again (a DNS answer that changes
    between the check and the connection, "DNS rebinding", changes nothing).
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError):
        raise InvalidInput.field(field, "is not a valid url") from None
    if parsed.scheme not in ("https", "http") or not host:
        raise InvalidInput.field(field, "must be an https:// url")
    if parsed.userinfo:
        raise InvalidInput.field(field, "must not carry credentials; use the signing secret")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise InvalidInput.field(field, "has an invalid port")
    if not allow_private:
        if parsed.scheme != "https":
            raise InvalidInput.field(field, "must be an https:// url")
        if port not in ALLOWED_PORTS:
            raise InvalidInput.field(field, "must use port 443 or 8443")
    try:
        found = await resolve(host, port)
        addresses = tuple(dict.fromkeys(found))  # once each, in the resolver's order
    except (OSError, UnicodeError):
        raise InvalidInput.field(field, "names a host that does not resolve") from None
    if not addresses:
        raise InvalidInput.field(field, "names a host that does not resolve")
    if allow_private:
        if parsed.scheme == "http" and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise InvalidInput.field(field, "http:// is allowed only for loopback addresses")
    elif any(blocked(a) for a in addresses):
        raise InvalidInput.field(field, "resolves to a private, loopback or link-local address")
    return Target(host=host, port=port, addresses=addresses)


async def create(
    ctx: Context, tenant_id: UUID, url: str, events: list[str], secret: str | None
) -> tuple[WebhookRow, str]:
    if not events:
        raise InvalidInput.field("events", "name at least one event type")
    unknown = [e for e in events if e not in store.MESSAGE_TYPES]
    if unknown:
        raise InvalidInput.field("events", f"unknown event types: {', '.join(unknown)}")
    await check_target(url, ctx.settings.webhook_allow_private)
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    async with ctx.pool.acquire() as conn:
        row = await webhook_store.create_webhook(conn, tenant_id, uuid7(), url, sorted(set(events)), secret)
    return row, secret


async def list_page(ctx: Context, tenant_id: UUID, after: UUID | None, limit: int) -> Page[WebhookRow]:
    async with ctx.pool.acquire() as conn:
        rows = await webhook_store.list_webhooks(conn, tenant_id, after, limit + 1)
    return Page.of(rows, limit, lambda w: w.id)


async def delete(ctx: Context, tenant_id: UUID, webhook_id: UUID) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await webhook_store.delete_webhook(conn, tenant_id, webhook_id):
            raise NotFound(f"no webhook {webhook_id}")


async def deliveries(
    ctx: Context, tenant_id: UUID, webhook_id: UUID, status: str | None, before: int | None, limit: int
) -> Page[DeliveryRow]:
    """A webhook's messages, newest first; a page's ``after`` is the position the next one starts before."""
    async with ctx.pool.acquire() as conn:
        if not await webhook_store.webhook_exists(conn, tenant_id, webhook_id):
            raise NotFound(f"no webhook {webhook_id}")
        rows = await store.deliveries(conn, tenant_id, webhook_id, status, before, limit + 1)
    page = Page.of(rows, limit, lambda r: r[0])
    return Page([row for _, row in page.items], page.after)


async def redeliver(ctx: Context, tenant_id: UUID, webhook_id: UUID, message_id: UUID) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await webhook_store.webhook_exists(conn, tenant_id, webhook_id) or not await store.redeliver(
            conn, tenant_id, webhook_id, message_id
        ):
            raise NotFound(f"no message {message_id} for webhook {webhook_id}")
