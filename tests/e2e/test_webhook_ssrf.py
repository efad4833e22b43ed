"""Webhook SSRF: DNS rebinding, IPv6 forms that embed an IPv4 address, ports.

The DNS answers come from a resolver that changes its answer, put in the
place of the system resolver (the event loop's ``getaddrinfo``, which the
check and any HTTP client both use), so a second resolution by anyone would
see the rebound answer, as it would with a real attacker's DNS.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import random
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_svc.http.app import create_app
from consent_svc.jobs.delivery import DeliveryWorker
from consent_svc.service import webhooks
from consent_svc.service.context import Context
from consent_svc.service.webhooks import blocked, check_target, embedded_ipv4
from tests.conftest import NEWSLETTER, Tenant
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

PUBLIC = "192.88.99.1"  # a public address (what the attacker's DNS answers first)


class RebindingDNS:
    """Answers for chosen names: each look-up takes the next answer, the last one repeats. Other names: the system's."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    def answer(self, name: str, *addresses: str) -> None:
        self.answers[name] = list(addresses)

    async def __call__(
        self, host: bytes | str | None, port: Any, *, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple[Any, ...]]:
        name = host.decode() if isinstance(host, bytes) else host  # httpx's anyio asks with bytes
        if name not in self.answers:
            return list(await self.real(host, port, family=family, type=type, proto=proto, flags=flags))
        self.lookups.append(name)
        queue = self.answers[name]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        ip = ipaddress.ip_address(address)
        if ip.version == 6:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port or 0), 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> RebindingDNS:
    loop = asyncio.get_running_loop()
    fake = RebindingDNS(loop.getaddrinfo)
    monkeypatch.setattr(loop, "getaddrinfo", fake)
    return fake


class Listener:
    """A TCP listener on a loopback address that only counts the connections it gets (a service to protect)."""

    def __init__(self, host: str, port: int) -> None:
        self.connections = 0
        self._sock = socket.create_server((host, port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._sock.close()


def loopback_listener(port: int) -> tuple[str, Listener]:
    """A listener on some 127.x.y.z (all of 127/8 is loopback on Linux): the port is then free on a shared machine."""
    for _ in range(20):
        host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        try:
            return host, Listener(host, port)
        except OSError:
            continue
    raise AssertionError(f"no free loopback address for port {port}")


def wctx_for(ctx: Context, **settings: Any) -> Context:
    return dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, **settings))


async def subscribe(ctx: Context, tenant: Tenant, url: str) -> str:
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=tenant.auth()) as api:
        assert (await api.put("/v1/purposes/newsletter", json=NEWSLETTER)).status_code in (200, 201)
        response = await api.post("/v1/webhooks", json={"url": url, "events": ["consent.given"]})
        assert response.status_code == 201, response.text
        event = {
            "subject": {"email": "rebind@example.se"},
            "type": "consent_given",
            "purpose": "newsletter",
            "proof": {"notice_version": "2026-03"},
        }
        assert (await api.post("/v1/events", json=event)).status_code == 201
        return str(response.json()["secret"])


async def retire(ctx: Context, tenant: Tenant) -> None:
    """Delete the tenant's webhooks (their pending messages are dead-lettered): the database is shared by the run."""
    for hook in (await webhooks.list_page(ctx, tenant.id, None, 1000)).items:
        await webhooks.delete(ctx, tenant.id, hook.id)


async def test_a_rebound_name_never_reaches_loopback(ctx: Context, tenant: Tenant, dns: RebindingDNS) -> None:
    """The check sees a public address, the attacker's DNS answers 127.x next: nothing connects to 127.x."""
    host, service = loopback_listener(8443)
    strict = wctx_for(ctx, webhook_allow_private=False, webhook_timeout_seconds=1.0, webhook_retry_base_seconds=0.01)
    try:
        dns.answer("rebind.test", PUBLIC)
        await subscribe(strict, tenant, "https://rebind.test:8443/hooks")
        dns.answer("rebind.test", PUBLIC, host)  # once more public (the delivery's check), then loopback
        dns.lookups.clear()
        worker = DeliveryWorker(strict)
        try:
            assert await worker.deliver_due() >= 1
            assert service.connections == 0  # the loopback service was not reached
            assert dns.lookups == ["rebind.test"]  # one resolution, by the check; the connection used its answer
            async with ctx.pool.acquire() as conn:
                first = await conn.fetchrow("SELECT status, last_error FROM outbox WHERE tenant_id = $1", tenant.id)
            assert first["status"] == "pending"
            assert not first["last_error"].startswith("refused"), first  # it was let through, to the public address
            # The retry's check sees the loopback answer and refuses before connecting.
            async with ctx.pool.acquire() as conn:
                await conn.execute("UPDATE outbox SET next_attempt_at = now() WHERE tenant_id = $1", tenant.id)
            assert await worker.deliver_due() >= 1
        finally:
            await worker.close()
        async with ctx.pool.acquire() as conn:
            second = await conn.fetchval("SELECT last_error FROM outbox WHERE tenant_id = $1", tenant.id)
        assert second == "refused: resolves to a private, loopback or link-local address"
        assert service.connections == 0
    finally:
        service.close()
        await retire(ctx, tenant)


def make_certificate(tmp: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a certificate for ``name`` (DNS name only, no IP) signed by it: (server, client) contexts."""

    binary = shutil.which("openssl")
    assert binary is not None, "the TLS tests need the openssl command"

    def openssl(*args: str) -> None:
        subprocess.run([binary, *args], check=True, capture_output=True, cwd=tmp)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=consent-svc test CA",
    )
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={name}")
    (tmp / "ext.cnf").write_text(f"subjectAltName=DNS:{name}\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "leaf.pem", tmp / "leaf.key")
    client = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    return server, client


@pytest.mark.parametrize("certified", ["hooks.test", "someone-else.test"])
async def test_the_connection_goes_to_the_checked_address_and_tls_checks_the_name(
    ctx: Context, tenant: Tenant, dns: RebindingDNS, tmp_path: Path, certified: str
) -> None:
    """hooks.test is checked at 127.0.0.2 and then answers 127.0.0.3: the delivery goes to 127.0.0.2, over TLS
    with SNI hooks.test, the certificate checked against hooks.test (one for another name fails)."""
    server_tls, client_tls = make_certificate(tmp_path, certified)
    receiver = Receiver(host="127.0.0.2", tls=server_tls).start()
    decoy = Listener("127.0.0.3", receiver.port)
    loose = wctx_for(ctx, webhook_allow_private=True, webhook_timeout_seconds=5.0)
    try:
        dns.answer("hooks.test", "127.0.0.2")
        receiver.secret = await subscribe(loose, tenant, f"https://hooks.test:{receiver.port}/hooks")
        dns.answer("hooks.test", "127.0.0.2", "127.0.0.3")
        worker = DeliveryWorker(loose, verify=client_tls)
        try:
            assert await worker.deliver_due() >= 1
        finally:
            await worker.close()
        async with ctx.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status, last_error FROM outbox WHERE tenant_id = $1", tenant.id)
        assert decoy.connections == 0
        assert receiver.server_names == ["hooks.test"]
        if certified == "hooks.test":
            assert row["status"] == "delivered", row
            assert [r.signature_ok for r in receiver.received] == [True]
        else:
            assert (row["status"], row["last_error"]) == ("pending", "ConnectError: hooks.test")
            assert receiver.received == []
    finally:
        decoy.close()
        receiver.stop()
        await retire(ctx, tenant)


@pytest.mark.parametrize(
    ("address", "is_blocked"),
    [
        ("64:ff9b::7f00:1", True),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254 (cloud metadata)
        ("64:ff9b::a00:1", True),  # NAT64 of 10.0.0.1
        ("64:ff9b::5db8:d822", False),  # NAT64 of 93.184.216.34
        ("2002:7f00:1::1", True),  # 6to4 of 127.0.0.1
        ("2002:c0a8:10a::", True),  # 6to4 of 192.168.1.10
        ("2002:5db8:d822::1", False),  # 6to4 of 93.184.216.34
        ("::ffff:127.0.0.1", True),  # IPv4-mapped
        ("::ffff:a9fe:a9fe", True),
        ("::ffff:93.184.216.34", False),
        ("::127.0.0.1", True),  # IPv4-compatible (deprecated)
        ("::a00:1", True),
        ("::5db8:d822", False),
        ("::ffff:0:7f00:1", True),  # IPv4-translated (SIIT)
        ("::ffff:0:5db8:d822", False),
        ("64:ff9b:1::808:808", True),  # the local-use NAT64 prefix: refused whatever it carries
        ("fec0::1", True),  # site-local (deprecated)
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),  # Teredo
        ("::", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("ff02::1", True),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("100.64.0.1", True),  # carrier-grade NAT
        ("224.0.0.1", True),
        ("93.184.216.34", False),
    ],
)
def test_addresses_are_judged_by_the_ipv4_they_embed(address: str, is_blocked: bool) -> None:
    assert blocked(address) is is_blocked


def test_embedded_ipv4_decoding() -> None:
    six = ipaddress.IPv6Address
    assert str(embedded_ipv4(six("64:ff9b::c000:221"))) == "192.0.2.33"
    assert str(embedded_ipv4(six("2002:c000:221:1::5"))) == "192.0.2.33"
    assert str(embedded_ipv4(six("::ffff:192.0.2.33"))) == "192.0.2.33"
    assert str(embedded_ipv4(six("::192.0.2.33"))) == "192.0.2.33"
    assert str(embedded_ipv4(six("::ffff:0:192.0.2.33"))) == "192.0.2.33"
    assert embedded_ipv4(six("2606:4700:4700::1111")) is None


@pytest.mark.parametrize(
    ("url", "allow_private", "refusal"),
    [
        ("https://93.184.216.34/x", False, None),
        ("https://93.184.216.34:443/x", False, None),
        ("https://93.184.216.34:8443/x", False, None),
        ("https://93.184.216.34:80/x", False, "must use port 443 or 8443"),
        ("https://93.184.216.34:22/x", False, "must use port 443 or 8443"),
        ("https://93.184.216.34:6379/x", False, "must use port 443 or 8443"),
        ("https://[2606:4700:4700::1111]:8080/x", False, "must use port 443 or 8443"),
        ("https://93.184.216.34:99999/x", False, "has an invalid port"),
        ("http://93.184.216.34:443/x", False, "must be an https:// url"),
        ("https://127.0.0.1:6379/x", True, None),  # development: any port
        ("https://127.0.0.1:99999/x", True, "has an invalid port"),
        ("https://0177.0.0.1/x", False, "is not a valid url"),  # the client's parser refuses octal; so do we
    ],
)
async def test_ports_and_parsing(url: str, allow_private: bool, refusal: str | None) -> None:
    from consent_svc.domain.errors import InvalidInput

    if refusal is None:
        target = await check_target(url, allow_private)
        assert target.port in (443, 8443, 6379)
        assert target.addresses
    else:
        with pytest.raises(InvalidInput) as caught:
            await check_target(url, allow_private)
        assert caught.value.errors[0].message == refusal
