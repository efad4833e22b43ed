"""SIGKILL during batch imports: every acknowledged event is there, and no batch is half-written."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.server import Server, clean_env

pytestmark = pytest.mark.e2e
BATCHES, SIZE = 8, 5_000


async def test_kill_during_batch_import(database: str, ctx: Context, tenant: Tenant, workdir: Path) -> None:
    env = clean_env(CONSENT_DATABASE_URL=database, CONSENT_PEPPER=TEST_PEPPER.decode(),
                    CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(), CONSENT_LOG_LEVEL="error")  # fmt: skip
    server = Server(env, workdir)
    httpx.put(f"{server.url}/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()).raise_for_status()
    acknowledged: dict[int, list[str]] = {}

    def send(b: int) -> None:
        events = [{"subject": {"email": f"crash{b}-{i}@example.se"}, "type": "consent_given", "purpose": "newsletter",
                   "proof": {"notice_version": "2026-03"}, "idempotency_key": f"crash-{b}-{i}"} for i in range(SIZE)]  # fmt: skip
        try:
            response = httpx.post(
                f"{server.url}/v1/events/batch", json={"events": events}, headers=tenant.auth(), timeout=60
            )
        except httpx.HTTPError:
            return  # the server died under us: not acknowledged
        if response.status_code == 201:
            acknowledged[b] = [r["event_id"] for r in response.json()["results"]]

    threads = [threading.Thread(target=send, args=(b,)) for b in range(BATCHES)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    deadline = time.monotonic() + 60
    while len(acknowledged) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop(signal.SIGKILL)  # with the other batches still in flight
    for t in threads:
        t.join()

    conn = await asyncpg.connect(database)
    try:
        for b in range(BATCHES):
            stored = await conn.fetchval(
                "SELECT count(*) FROM events WHERE tenant_id = $1 AND idempotency_key LIKE $2",
                tenant.id,
                f"crash-{b}-%",
            )
            assert stored in (0, SIZE), f"batch {b} is half-written: {stored} of {SIZE}"
            if b in acknowledged:
                ids = await conn.fetchval(
                    "SELECT count(*) FROM events WHERE tenant_id = $1 AND id = ANY($2::uuid[])", tenant.id,
                    acknowledged[b],
                )  # fmt: skip
                assert ids == SIZE, f"batch {b} was acknowledged but {SIZE - ids} events are missing"
    finally:
        await conn.close()
    # The kill really interrupted work: some batches were answered, some were not.
    assert 0 < len(acknowledged) < BATCHES, sorted(acknowledged)
