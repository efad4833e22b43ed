"""Per-write hash chaining against sealing after the fact: event ingest under concurrency.

    .venv/bin/python bench/ledger_chain.py [--writers 16] [--events 200]

Chaining every write means each event transaction must read and advance the
tenant's chain head under a lock, so concurrent writers of one tenant queue up.
This measures that cost directly: the same single-event writes through the
production write path (``service.events.record_in``), once as they are
(sealed later by the sealer, off the write path) and once holding the tenant's
head row lock for the transaction and advancing it, as per-write chaining must.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consent_svc.domain.identifiers import Hasher
from consent_svc.runtime import prepare_database
from consent_svc.service import events, purposes, tenants
from consent_svc.service.context import Context
from consent_svc.service.inputs import EventIn, PurposeIn
from consent_svc.store import db
from consent_svc.store.embedded import EmbeddedPostgres
from tests.conftest import NEWSLETTER, TEST_PEPPER, test_settings


def item(i: int) -> EventIn:
    return msgspec.convert({"subject": {"email": f"c{i}@example.se"}, "type": "consent_given", "purpose": "newsletter",
                            "proof": {"notice_version": "2026-03"}}, EventIn)  # fmt: skip


async def run(writers: int, per_writer: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="consent-bench-chain-"))
    embedded = EmbeddedPostgres(tmp / "data")
    dsn = embedded.start()
    try:
        await prepare_database(dsn, Hasher(TEST_PEPPER), migrate=True)
        pool = await db.create_pool(dsn, min_size=writers, max_size=writers)
        ctx = Context(settings=test_settings(), pool=pool, hasher=Hasher(TEST_PEPPER))
        tenant = await tenants.create_tenant(ctx, "c" + uuid.uuid4().hex[:6])
        await purposes.put(ctx, tenant.id, "newsletter", msgspec.convert(NEWSLETTER, PurposeIn))
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_heads (tenant_id uuid PRIMARY KEY, pos bigint, hash bytea)"
        )
        await pool.execute("INSERT INTO bench_heads VALUES ($1, 0, $2) ON CONFLICT DO NOTHING", tenant.id, b"\0" * 32)

        async def plain(i: int) -> None:
            await events.record(ctx, tenant.id, [item(i)])

        async def chained(i: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                head = await conn.fetchrow(
                    "SELECT pos, hash FROM bench_heads WHERE tenant_id = $1 FOR UPDATE", tenant.id
                )
                [result] = await events.record_in(conn, ctx, tenant.id, [item(i)])
                digest = hashlib.sha256(head["hash"] + result.event_id.bytes).digest()
                await conn.execute(
                    "UPDATE bench_heads SET pos = pos + 1, hash = $2 WHERE tenant_id = $1", tenant.id, digest
                )

        for name, fn, offset in (
            ("sealed later (no lock)", plain, 0),
            ("chained per write (tenant lock)", chained, 10**6),
        ):

            async def writer(w: int, fn: Callable[[int], Awaitable[None]] = fn, offset: int = offset) -> None:
                for k in range(per_writer):
                    await fn(offset + w * per_writer + k)

            began = time.perf_counter()
            await asyncio.gather(*(writer(w) for w in range(writers)))
            elapsed = time.perf_counter() - began
            print(f"  {name}: {writers * per_writer / elapsed:,.0f} events/s ({writers} concurrent writers)")
        await pool.close()
    finally:
        embedded.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--events", type=int, default=200, help="events per writer")
    args = parser.parse_args()
    print("machine: 2 cores; single-event transactions, one tenant")
    asyncio.run(run(args.writers, args.events))


if __name__ == "__main__":
    main()
