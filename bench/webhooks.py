"""Webhook delivery throughput: messages per second from the outbox to a local receiver.

    .venv/bin/python bench/webhooks.py [--messages 5000]

Records ``--messages`` consent events (one per subject) with one webhook
subscribed, then times one in-process delivery worker (its ``run`` loop, as in
``serve``) emptying the outbox into a real HTTP receiver on loopback (a
threaded stdlib server that verifies every signature). Prints messages/s; the
baseline is the receiver alone, posted to by one httpx client with 32 requests
at a time, in the same run. One webhook gets at most
``MAX_IN_FLIGHT_PER_WEBHOOK`` (8) attempts at once.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consent_svc.domain.identifiers import Hasher
from consent_svc.jobs.delivery import DeliveryWorker
from consent_svc.runtime import prepare_database
from consent_svc.service import events, purposes, tenants, webhooks
from consent_svc.service.context import Context
from consent_svc.service.inputs import EventIn, PurposeIn
from consent_svc.store import db
from consent_svc.store.embedded import EmbeddedPostgres
from tests.conftest import NEWSLETTER, TEST_PEPPER, test_settings
from tests.e2e.receiver import Receiver


async def run(messages: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="consent-bench-webhooks-"))
    embedded = EmbeddedPostgres(tmp / "data")
    dsn = embedded.start()
    receiver = Receiver().start()
    try:
        await prepare_database(dsn, Hasher(TEST_PEPPER), migrate=True)
        pool = await db.create_pool(dsn)
        settings = dataclasses.replace(test_settings(), webhook_allow_private=True, webhook_poll_seconds=0.01)
        ctx = Context(settings=settings, pool=pool, hasher=Hasher(TEST_PEPPER))
        tenant = await tenants.create_tenant(ctx, "w" + uuid.uuid4().hex[:6])
        await purposes.put(ctx, tenant.id, "newsletter", msgspec.convert(NEWSLETTER, PurposeIn))
        _, secret = await webhooks.create(ctx, tenant.id, receiver.url, ["consent.given"], None)
        receiver.secret = secret
        items = [msgspec.convert({"subject": {"email": f"w{i}@example.se"}, "type": "consent_given",
                                  "purpose": "newsletter", "proof": {"notice_version": "2026-03"}}, EventIn)
                 for i in range(messages)]  # fmt: skip
        for start in range(0, messages, 10_000):
            await events.record(ctx, tenant.id, items[start : start + 10_000], batch=True)

        # Baseline: the receiver alone, 32 concurrent posts from one client.
        body = b'{"id":"x","type":"consent.given","data":{}}'
        sem = asyncio.Semaphore(32)
        async with httpx.AsyncClient() as client:

            async def post() -> None:
                async with sem:
                    await client.post(receiver.url, content=body, headers={"Content-Type": "application/json"})

            began = time.perf_counter()
            await asyncio.gather(*(post() for _ in range(min(messages, 2000))))
            raw = min(messages, 2000) / (time.perf_counter() - began)
        receiver.received.clear()

        worker = DeliveryWorker(ctx)
        began = time.perf_counter()
        running = asyncio.create_task(worker.run())
        while len(receiver.received) < messages:  # noqa: ASYNC110 - the receiver is a thread; it signals nothing
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - began
        worker.stop()
        await running
        await worker.close()
        assert all(r.signature_ok for r in receiver.received)
        print(f"machine: 2 cores; {messages:,} messages, one worker, receiver on loopback")
        print(f"  baseline (httpx to the receiver, 32 at a time): {raw:,.0f} requests/s")
        print(f"  worker: {messages / elapsed:,.0f} messages/s ({elapsed:.1f} s)  ratio {messages / elapsed / raw:.2f}")
        await pool.close()
    finally:
        receiver.stop()
        embedded.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    asyncio.run(run(parser.parse_args().messages))


if __name__ == "__main__":
    main()
