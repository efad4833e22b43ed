"""One tenant's receiver cannot stall the others' deliveries nor the server's memory; a dead worker loses nothing.

Against the real ``consent-svc serve`` process (its delivery worker inside),
with real receivers on loopback: one that drips its answer a byte a second,
one that answers with a 256 MiB body, one that never answers while the server
is killed.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest

from consent_svc.jobs.delivery import LEASE_MARGIN_SECONDS, MAX_IN_FLIGHT_PER_WEBHOOK
from consent_svc.service import webhooks
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant, make_tenant
from tests.e2e.receiver import Hostile, Receiver
from tests.e2e.server import Server, clean_env

pytestmark = pytest.mark.e2e
MiB = 1024 * 1024


def env_for(database: str, timeout: float) -> dict[str, str]:
    return clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
        CONSENT_WEBHOOK_ALLOW_PRIVATE="1",
        CONSENT_WEBHOOK_POLL_SECONDS="0.1",
        CONSENT_WEBHOOK_RETRY_BASE_SECONDS="600",  # a failed attempt is not retried within a test
        CONSENT_WEBHOOK_TIMEOUT_SECONDS=str(timeout),
    )


@pytest.fixture
async def other(ctx: Context) -> Tenant:
    return await make_tenant(ctx)


@pytest.fixture
async def retired(ctx: Context, tenant: Tenant, other: Tenant) -> AsyncIterator[None]:
    """After the test, both tenants' webhooks are deleted (pending messages dead-lettered): the database is shared."""
    yield
    for t in (tenant, other):
        for hook in (await webhooks.list_page(ctx, t.id, None, 1000)).items:
            await webhooks.delete(ctx, t.id, hook.id)


async def subscribe(api: httpx.AsyncClient, tenant: Tenant, url: str) -> str:
    assert (await api.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())).status_code in (200, 201)
    hook = await api.post("/v1/webhooks", json={"url": url, "events": ["consent.given"]}, headers=tenant.auth())
    assert hook.status_code == 201, hook.text
    return str(hook.json()["secret"])


async def consent(api: httpx.AsyncClient, tenant: Tenant, email: str) -> None:
    body = {
        "subject": {"email": email},
        "type": "consent_given",
        "purpose": "newsletter",
        "proof": {"notice_version": "2026-03"},
    }
    response = await api.post("/v1/events", json=body, headers=tenant.auth())
    assert response.status_code == 201, response.text


async def until(condition: object, within: float, what: str) -> None:
    """Poll ``condition()`` (sync or async) until true, or fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = condition()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s: {what}")


async def attempts_of(ctx: Context, tenant: Tenant) -> list[tuple[str | None, float]]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT error, duration_ms FROM webhook_attempts WHERE tenant_id = $1", tenant.id)
    return [(r["error"], r["duration_ms"]) for r in rows]


async def test_a_dripping_receiver_does_not_hold_up_another_tenant(
    database: str,
    ctx: Context,
    tenant: Tenant,
    other: Tenant,
    retired: None,
    workdir: Path,
) -> None:
    deadline = 4.0
    slow, good = Hostile("drip"), Receiver().start()
    server = Server(env_for(database, deadline), workdir)
    try:
        async with httpx.AsyncClient(base_url=server.url) as api:
            await subscribe(api, tenant, slow.url)
            good.secret = await subscribe(api, other, good.url)

            async def delivered_in(email: str) -> float:
                began = time.monotonic()
                count = len(good.received)
                await consent(api, other, email)
                await until(lambda: len(good.received) > count, 15.0, f"delivery of {email}'s consent")
                return good.received[count].at - began

            normal = [await delivered_in(f"calm{i}@example.se") for i in range(5)]

            # The slow tenant: more messages than one webhook may have in flight; they all hang.
            for i in range(MAX_IN_FLIGHT_PER_WEBHOOK + 4):
                await consent(api, tenant, f"drip{i}@example.se")
            await until(lambda: slow.requests >= 1, 10.0, "the slow receiver's first request")
            stuck_since = slow.arrivals[0]

            # Meanwhile the other tenant's messages go out as fast as before.
            during = [await delivered_in(f"busy{i}@example.se") for i in range(5)]
            assert good.received[-1].at < stuck_since + deadline  # the slow ones were still hanging then
            assert slow.requests == MAX_IN_FLIGHT_PER_WEBHOOK  # no more than its share of the worker
            print(
                f"\nother tenant's delivery latency: alone median {statistics.median(normal) * 1000:.0f} ms "
                f"(max {max(normal) * 1000:.0f}); while the slow receiver hangs median "
                f"{statistics.median(during) * 1000:.0f} ms (max {max(during) * 1000:.0f})"
            )
            assert max(during) < 1.0, during

            # The hanging attempts end at the deadline (the whole answer would take 38 s), and the rest follow.
            async def cut() -> bool:
                return len(await attempts_of(ctx, tenant)) >= MAX_IN_FLIGHT_PER_WEBHOOK

            await until(cut, deadline + 5, "the hanging attempts' outcomes")
            await until(lambda: slow.requests == MAX_IN_FLIGHT_PER_WEBHOOK + 4, 5.0, "the slow tenant's other messages")
            first = await attempts_of(ctx, tenant)
            for error, duration_ms in first:
                assert error == f"timeout: no complete answer within {deadline:g} s"
                assert deadline * 1000 - 50 <= duration_ms < deadline * 1000 + 1000, duration_ms  # clocks differ
            print(f"dripping receiver's attempts cut at {max(d for _, d in first):.0f} ms (deadline {deadline:g} s)")
    finally:
        server.stop()
        print(f"serve's log (shown if the test failed):\n{server.log.read_text()[-4000:]}")
        slow.stop()
        good.stop()


def rss(process: psutil.Process) -> int:
    return int(process.memory_info().rss)


async def test_a_huge_answer_leaves_the_server_memory_flat(
    database: str,
    ctx: Context,
    tenant: Tenant,
    other: Tenant,
    retired: None,
    workdir: Path,
) -> None:
    messages, size = 3, 256 * MiB
    huge, good = Hostile("huge", size=size), Receiver().start()
    server = Server(env_for(database, 10.0), workdir)
    process = psutil.Process(server.proc.pid)
    try:
        async with httpx.AsyncClient(base_url=server.url) as api:
            # Warm up: one ordinary delivery, so what a delivery loads is loaded before the baseline.
            good.secret = await subscribe(api, other, good.url)
            await consent(api, other, "warm@example.se")
            await until(lambda: len(good.received) == 1, 15.0, "the warm-up delivery")
            await asyncio.sleep(0.5)
            baseline = statistics.median([rss(process) for _ in range(5)])

            await subscribe(api, tenant, huge.url)
            for i in range(messages):
                await consent(api, tenant, f"huge{i}@example.se")

            peak = baseline

            async def all_recorded() -> bool:
                nonlocal peak
                peak = max(peak, rss(process))
                return len(await attempts_of(ctx, tenant)) == messages

            await until(all_recorded, 30.0, "the huge answers' attempts")
            for _ in range(20):  # and a moment after
                peak = max(peak, rss(process))
                await asyncio.sleep(0.05)
            after = rss(process)
        async with ctx.pool.acquire() as conn:
            statuses = await conn.fetch("SELECT status FROM outbox WHERE tenant_id = $1", tenant.id)
        assert [r["status"] for r in statuses] == ["delivered"] * messages  # a 200 is a 200, however long
        print(
            f"\nserve RSS: baseline {baseline / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB "
            f"(+{(peak - baseline) / MiB:.1f}), after {after / MiB:.1f} MiB; receiver offered "
            f"{messages} x {size // MiB} MiB and got {huge.body_bytes_sent / MiB:.1f} MiB taken in all"
        )
        assert peak - baseline < 32 * MiB
        assert huge.body_bytes_sent < 32 * MiB  # the rest was never read
    finally:
        server.stop()
        print(f"serve's log (shown if the test failed):\n{server.log.read_text()[-4000:]}")
        huge.stop()
        good.stop()


async def test_a_worker_killed_mid_lease_loses_nothing(
    database: str,
    ctx: Context,
    tenant: Tenant,
    other: Tenant,
    retired: None,
    workdir: Path,
) -> None:
    deadline = 2.0
    receiver = Receiver().start()
    receiver.stall.set()  # the first attempt hangs: the message is leased, in flight, when the server dies
    first = Server(env_for(database, deadline), workdir)
    try:
        async with httpx.AsyncClient(base_url=first.url) as api:
            receiver.secret = await subscribe(api, tenant, receiver.url)
            await consent(api, tenant, "lease@example.se")
        await until(lambda: receiver.requests == 1, 10.0, "the first attempt")
        first.stop(signal.SIGKILL)
        killed = time.monotonic()
        async with ctx.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, attempts, extract(epoch FROM next_attempt_at - now()) AS lease_left "
                "FROM outbox WHERE tenant_id = $1",
                tenant.id,
            )
        assert (row["status"], row["attempts"]) == ("pending", 0)
        lease_left = float(row["lease_left"])
        assert 0 < lease_left <= deadline + LEASE_MARGIN_SECONDS
    finally:
        first.stop(signal.SIGKILL)
        receiver.stall.clear()
    second = Server(env_for(database, deadline), workdir)
    try:
        got = receiver.wait_for(1, timeout=lease_left + 10)
        assert len(got) == 1
        assert got[0].signature_ok
        assert got[0].at >= killed + lease_left - 0.25  # not before the dead worker's lease ran out

        async def recorded() -> bool:
            async with ctx.pool.acquire() as conn:
                row = await conn.fetchrow("SELECT status, attempts FROM outbox WHERE tenant_id = $1", tenant.id)
            return (row["status"], row["attempts"]) == ("delivered", 1)  # the dead worker's attempt left no trace

        await until(recorded, 5.0, "the delivery's outcome")
        print(f"\nleased message delivered {got[0].at - killed:.1f} s after the kill (lease left {lease_left:.1f} s)")
    finally:
        second.stop()
        print(f"serve's log (shown if the test failed):\n{second.log.read_text()[-4000:]}")
        receiver.stop()
