"""Banner choice statistics at scale: ``GET /v1/sites/{site_key}/stats`` over 90 days of a site
with ``--receipts`` stored choices (default 1,000,000), against PostgreSQL.

    .venv/bin/python bench/banner_stats.py [--receipts 1000000] [--rounds 30] [--days 365]

Starts an embedded PostgreSQL, makes a tenant and a site, and seeds the receipts straight into
``banner_consents`` (``--days`` of choices, a year by default, in statements of 100,000 rows, so the statement trigger
that keeps the rollup runs as it does in production, only bigger): half accept all, three in
ten reject all, one in ten a custom choice, one in ten a dismissal, one in seventeen with GPC,
across three banner versions. Then times the endpoint through the ASGI app in process (httpx's
ASGI transport: no socket) for a 90-day range by day and by week (median and worst of
``--rounds``), and, as the baseline that the rollup replaces, the same counts computed from the
receipts table itself.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEED = """
INSERT INTO banner_consents (tenant_id, id, site_key, categories, action, banner_version, language, gpc,
                             recorded_at, expires_at)
SELECT $1, gen_random_uuid(), $2,
       jsonb_build_object('necessary', true,
                          'analytics', (i % 10) < 5 OR (i % 10) = 8,
                          'marketing', (i % 10) < 5 AND i % 17 <> 0),
       CASE WHEN (i % 10) < 5 THEN 'accept_all' WHEN (i % 10) < 8 THEN 'reject_all'
            WHEN (i % 10) = 8 THEN 'save' ELSE 'dismiss' END,
       1 + (i / 7) % 3, CASE WHEN i % 4 = 0 THEN 'en' ELSE 'sv' END, i % 17 = 0,
       $3::timestamptz - ((i * 7919) % $6::bigint) * interval '1 second',
       $3::timestamptz - ((i * 7919) % $6::bigint) * interval '1 second' + interval '182 days'
FROM generate_series($4::bigint, $5::bigint - 1) AS i
"""

BASELINE = """
SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, banner_version, count(*) AS total,
       count(*) FILTER (WHERE action = 'accept_all') AS accept_all,
       count(*) FILTER (WHERE action = 'reject_all') AS reject_all,
       count(*) FILTER (WHERE gpc) AS gpc,
       count(*) FILTER (WHERE (categories ->> 'analytics')::boolean) AS analytics
FROM banner_consents WHERE tenant_id = $1 AND site_key = $2 AND recorded_at >= $3 AND recorded_at < $4
GROUP BY 1, 2
"""


async def run(receipts: int, rounds: int, days: int) -> None:
    import httpx
    import msgspec

    from consent_svc.domain.identifiers import Hasher
    from consent_svc.http.app import create_app
    from consent_svc.runtime import prepare_database
    from consent_svc.service import banner, tenants
    from consent_svc.service.context import Context
    from consent_svc.service.inputs import SiteIn
    from consent_svc.store import db
    from consent_svc.store.embedded import EmbeddedPostgres
    from tests.conftest import TEST_PEPPER, test_settings
    from tests.http.test_banner import SITE

    tmp = Path(tempfile.mkdtemp(prefix="consent-bench-banner-"))
    embedded = EmbeddedPostgres(tmp / "data")
    dsn = embedded.start()
    try:
        await prepare_database(dsn, Hasher(TEST_PEPPER), migrate=True)
        pool = await db.create_pool(dsn)
        ctx = Context(settings=dataclasses.replace(test_settings()), pool=pool, hasher=Hasher(TEST_PEPPER))
        tenant = await tenants.create_tenant(ctx, "b" + uuid.uuid4().hex[:6])
        site = await banner.create_site(ctx, tenant.id, msgspec.convert(SITE, SiteIn))
        now = datetime.now(UTC)
        started = time.perf_counter()
        async with pool.acquire() as conn:
            for first in range(0, receipts, 100_000):
                await conn.execute(
                    SEED, tenant.id, site.site_key, now, first, min(receipts, first + 100_000), days * 86_400
                )
            await conn.execute("ANALYZE banner_consents; ANALYZE banner_choice_counts")
            rollup_rows = await conn.fetchval("SELECT count(*) FROM banner_choice_counts")
        seeded = time.perf_counter() - started
        print(f"seeded {receipts:,} receipts in {seeded:.1f} s ({rollup_rows:,} rollup rows)")

        _, key_text = await tenants.create_key(ctx, tenant.name, "admin")
        auth = {"Authorization": f"Bearer {key_text}"}
        today = now.date()
        params = {"from": str(today - timedelta(days=89)), "to": str(today)}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://b") as client:
            for interval in ("day", "week"):
                timings = []
                for round_ in range(rounds + 1):
                    t0 = time.perf_counter()
                    answer = await client.get(
                        f"/v1/sites/{site.site_key}/stats", params={**params, "interval": interval, "limit": 1000},
                        headers=auth,
                    )  # fmt: skip
                    elapsed = time.perf_counter() - t0
                    assert answer.status_code == 200, answer.text
                    if round_:  # the first warms the statement caches
                        timings.append(elapsed)
                items = answer.json()["items"]
                total = sum(i["total"] for i in items)
                median, worst = statistics.median(timings) * 1000, max(timings) * 1000
                print(f"GET stats 90 days by {interval}: {len(items)} items, {total:,} choices; "
                      f"median {median:.1f} ms, worst {worst:.1f} ms")  # fmt: skip
        async with pool.acquire() as conn:
            timings = []
            for _ in range(3):
                t0 = time.perf_counter()
                await conn.fetch(BASELINE, tenant.id, site.site_key, now - timedelta(days=90), now + timedelta(days=1))
                timings.append(time.perf_counter() - t0)
        print(
            f"baseline, the same counts from banner_consents itself: median {statistics.median(timings) * 1000:.0f} ms"
        )
        await pool.close()
    finally:
        embedded.release()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--days", type=int, default=365, help="the receipts spread over this many days back")
    args = parser.parse_args()
    asyncio.run(run(args.receipts, args.rounds, args.days))


if __name__ == "__main__":
    main()
