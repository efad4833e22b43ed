"""SIGKILL during batch imports: every acknowledged event is there, and no batch is half-written.

Four senders post 5,000-event batches back to back until the server dies; it
is killed as soon as the first batch is acknowledged, so whatever the
machine's speed, batches are both done and in flight at the kill (each sender
always has one in flight). No sleeps: the kill waits on an event.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.server import Server, clean_env

pytestmark = pytest.mark.e2e
SENDERS, SIZE = 4, 5_000


def _batch(b: int) -> dict[str, object]:
    return {
        "events": [
            {
                "subject": {"email": f"crash{b}-{i}@example.se"},
                "type": "consent_given",
                "purpose": "newsletter",
                "proof": {"notice_version": "2026-03"},
                "idempotency_key": f"crash-{b}-{i}",
            }
            for i in range(SIZE)
        ]
    }


def _import_until_killed(server: Server, tenant: Tenant) -> tuple[dict[int, list[str]], int]:
    """(acknowledged batches with their event ids, batches sent in all)."""
    httpx.put(f"{server.url}/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()).raise_for_status()
    acknowledged: dict[int, list[str]] = {}
    first_answer = threading.Event()
    numbers = itertools.count()
    lock = threading.Lock()
    sent: list[int] = []

    def sender() -> None:
        while True:
            with lock:
                b = next(numbers)
                sent.append(b)
            try:
                response = httpx.post(
                    f"{server.url}/v1/events/batch", json=_batch(b), headers=tenant.auth(), timeout=120
                )
            except httpx.HTTPError:
                return  # the server died under us: not acknowledged
            if response.status_code == 201:
                acknowledged[b] = [r["event_id"] for r in response.json()["results"]]
                first_answer.set()

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    assert first_answer.wait(timeout=180), "no batch was acknowledged"
    server.stop(signal.SIGKILL)  # the other senders' batches are in flight
    for t in threads:
        t.join()
    return acknowledged, len(sent)


async def test_kill_during_batch_import(database: str, tenant: Tenant, workdir: Path) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="error",
    )
    server = Server(env, workdir)
    acknowledged, sent = await asyncio.to_thread(_import_until_killed, server, tenant)

    conn = await asyncpg.connect(database)
    try:
        for b in range(sent):
            stored = await conn.fetchval(
                "SELECT count(*) FROM events WHERE tenant_id = $1 AND idempotency_key LIKE $2",
                tenant.id,
                f"crash-{b}-%",
            )
            assert stored in (0, SIZE), f"batch {b} is half-written: {stored} of {SIZE}"
            if b in acknowledged:
                ids = await conn.fetchval(
                    "SELECT count(*) FROM events WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
                    tenant.id,
                    acknowledged[b],
                )
                assert ids == SIZE, f"batch {b} was acknowledged but {SIZE - ids} events are missing"
    finally:
        await conn.close()
    # The kill really interrupted work: some batches were answered, and the senders' last ones were not.
    assert acknowledged
    assert sent - len(acknowledged) >= SENDERS, (sent, sorted(acknowledged))
