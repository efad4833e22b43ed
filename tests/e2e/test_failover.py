"""A database failover under write load: the primary crashes, its synchronous
replica is promoted, and ``consent-svc serve`` (given both hosts with
``target_session_attrs=read-write``, as an HA manager's clients are) carries
on. Every acknowledged event is on the new primary exactly once, clients that
retried with the same idempotency key made no duplicates, and an unsubscribe
after the failover blocks the next decision.

This is what pg_auto_failover, Patroni or CloudNativePG do on a primary
failure (promote the synchronous standby; clients reconnect to the writable
host); here the promotion is done by hand so the test needs no HA manager."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import NEWSLETTER
from tests.e2e.pgpair import StreamingPair, start_service

pytestmark = pytest.mark.e2e
WRITERS = 4
PER_WRITER = 60


@pytest.fixture
def pair() -> Iterator[StreamingPair]:
    pair = StreamingPair(synchronous=True).start()
    try:
        pair.psql(pair.primary, "CREATE DATABASE consent")
        yield pair
    finally:
        pair.close()


async def test_failover_loses_no_acknowledged_write(pair: StreamingPair, workdir: Path) -> None:
    hosts = f"127.0.0.1:{pair.primary.port},127.0.0.1:{pair.replica.port}"
    server, key = start_service(
        workdir,
        CONSENT_DATABASE_URL=f"postgresql://postgres@{hosts}/consent?target_session_attrs=read-write",
        CONSENT_LOG_LEVEL="error",
    )
    acknowledged: list[str] = []
    retried = 0
    failed_over = asyncio.Event()
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            assert (await http.put("/v1/purposes/newsletter", json=NEWSLETTER)).status_code == 201

            async def write(idempotency_key: str, email: str) -> None:
                nonlocal retried
                body = {
                    "subject": {"email": email},
                    "type": "consent_given",
                    "purpose": "newsletter",
                    "proof": {"notice_version": "2026-03"},
                    "idempotency_key": idempotency_key,
                }
                deadline = time.monotonic() + 60
                while True:
                    try:
                        response = await http.post("/v1/events", json=body)
                    except httpx.TransportError:
                        response = None
                    if response is not None and response.status_code in (200, 201):
                        acknowledged.append(idempotency_key)
                        return
                    # Only "unavailable, retry" is expected during the failover; anything else is a bug.
                    assert response is None or response.status_code == 503, response.text
                    if response is not None:
                        assert response.headers["retry-after"] == "1"
                    retried += 1
                    assert time.monotonic() < deadline, "no writable database after 60 s"
                    await asyncio.sleep(0.1)

            async def writer(w: int) -> None:
                for i in range(PER_WRITER):
                    await write(f"w{w}-{i}", f"w{w}.{i}@example.se")
                    if w == 0 and i == PER_WRITER // 3:
                        failed_over.set()

            async def fail_over() -> None:
                await failed_over.wait()
                # A crash: no shutdown, clients cut off mid-request.
                await asyncio.to_thread(pair.primary.stop, "immediate")
                await asyncio.sleep(0.5)
                await asyncio.to_thread(pair.replica.promote)

            await asyncio.gather(*(writer(w) for w in range(WRITERS)), fail_over())
            assert retried > 0  # the failover did happen under the writers

            # After the failover: an unsubscribe blocks the very next decision.
            link = (await http.post("/v1/unsubscribe-links", json={"email": "w1.1@example.se"})).json()
            assert (await http.post(link["url"], data={"List-Unsubscribe": "One-Click"})).status_code == 200
            params = {"purpose": "newsletter", "channel": "email", "email": "w1.1@example.se"}
            answer = (await http.get("/v1/decisions", params=params)).json()
            assert (answer["allowed"], answer["reason"]) == (False, "suppressed")
            assert (await http.get("/readyz")).status_code == 200
    finally:
        server.stop(signal.SIGTERM)

    # Every acknowledged write is on the new primary, once.
    assert len(acknowledged) == WRITERS * PER_WRITER
    rows = pair.psql(
        pair.replica,
        "SELECT idempotency_key, count(*) FROM events WHERE type = 'consent_given' GROUP BY 1",
        "consent",
    ).split()
    counts = dict(row.split("|") for row in rows)
    assert set(counts) == set(acknowledged)
    assert set(counts.values()) == {"1"}
