"""Three `consent-svc serve` processes against one database, driven at once: nothing duplicated or lost."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from consent_svc.service import ledger
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.receiver import Receiver
from tests.e2e.server import Server, clean_env

pytestmark = pytest.mark.e2e
PEOPLE = 60


async def test_three_replicas(database: str, ctx: Context, tenant: Tenant, workdir: Path) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="error",
        CONSENT_WEBHOOK_ALLOW_PRIVATE="1",
        CONSENT_WEBHOOK_POLL_SECONDS="0.05",
        CONSENT_LEDGER_SEAL_SECONDS="0.2",
        CONSENT_AUTH_CACHE_SECONDS="0",
    )
    replicas = [Server(env, workdir) for _ in range(3)]
    receiver = Receiver().start()
    try:
        async with httpx.AsyncClient(headers=tenant.auth(), timeout=60) as http:
            base = replicas[0].url
            assert (await http.put(f"{base}/v1/purposes/newsletter", json=NEWSLETTER)).status_code == 201
            hook = (
                await http.post(
                    f"{base}/v1/webhooks",
                    json={
                        "url": receiver.url,
                        "events": ["consent.given", "consent.withdrawn", "objection.recorded", "suppression.added"],
                    },
                )
            ).json()
            receiver.secret = hook["secret"]

            # Every person's first consent is sent to all three replicas at once, with one idempotency key.
            async def consent(i: int, replica: Server) -> httpx.Response:
                body = {
                    "subject": {"email": f"r{i}@example.se"},
                    "type": "consent_given",
                    "purpose": "newsletter",
                    "proof": {"notice_version": "2026-03"},
                    "idempotency_key": f"signup-{i}",
                }
                return await http.post(f"{replica.url}/v1/events", json=body)

            answers = await asyncio.gather(*(consent(i, r) for i in range(PEOPLE) for r in replicas))
            assert all(a.status_code in (200, 201) for a in answers)
            for i in range(PEOPLE):
                ids = {answers[i * 3 + k].json()["event_id"] for k in range(3)}
                assert len(ids) == 1  # one event per person, whichever replica answered

            # Half of them unsubscribe through a link handed out by one replica and clicked on another.
            async def unsubscribe(i: int) -> None:
                link = (
                    await http.post(f"{replicas[i % 3].url}/v1/unsubscribe-links", json={"email": f"r{i}@example.se"})
                ).json()
                other = replicas[(i + 1) % 3].url
                path = link["url"].split("/u/", 1)[1]
                assert (await http.post(f"{other}/u/{path}", data={"List-Unsubscribe": "One-Click"})).status_code == 200

            await asyncio.gather(*(unsubscribe(i) for i in range(0, PEOPLE, 2)))

            # Every replica answers every decision the same, at once.
            for i in range(PEOPLE):
                params = {"purpose": "newsletter", "channel": "email", "email": f"r{i}@example.se"}
                seen = {(await http.get(f"{r.url}/v1/decisions", params=params)).json()["allowed"] for r in replicas}
                assert seen == {i % 2 == 1}, (i, seen)

        # Webhooks: 60 consents + 30 x (withdrawal, objection, suppression), each delivered exactly once.
        expected = PEOPLE + (PEOPLE // 2) * 3
        got = receiver.wait_for(expected, timeout=30)
        await asyncio.sleep(0.5)  # room for a duplicate to show up, if there were one (absence has no event)
        delivered = receiver.ids()
        assert len(delivered) == expected
        assert len(set(delivered)) == expected
        assert all(r.signature_ok for r in got)
    finally:
        for replica in replicas:
            replica.stop(signal.SIGTERM)
        receiver.stop()

    async with ctx.pool.acquire() as conn:
        events = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant.id)
        subjects = await conn.fetchval("SELECT count(*) FROM subjects WHERE tenant_id = $1", tenant.id)
    assert (events, subjects) == (PEOPLE + PEOPLE, PEOPLE)  # 60 consents + 30 x 2 unsubscribe events
    async with ctx.pool.acquire() as conn, conn.transaction():
        await ledger.seal_tenant(conn, tenant.id)  # anything the replicas had not sealed when stopped
    result = await ledger.verify(ctx, tenant.id)
    assert (result.ok, result.events) == (True, PEOPLE * 2)
