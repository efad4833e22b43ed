"""The Python client's ``decide_many`` over a long send list, with the client's memory measured.

    .venv/bin/python bench/client_decide_many.py [--recipients 1000000] [--window 5000] [--tracemalloc]

Starts the embedded PostgreSQL in a temporary folder (or uses ``CONSENT_BENCH_DATABASE_URL``, a
database it may fill) and the real ``consent-svc serve`` against it, records consent for one
recipient in 1,000 through ``record_many``, then asks ``decide_many`` about every recipient from a
generator. Prints the rate, and this process's RSS (and, with ``--tracemalloc``, the peak of Python
allocations, which slows the client down) every 10% of the list: flat memory shows as a flat
column. The suite runs 200,000 (tests/e2e/test_client_python.py); figures in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consent_svc_client import ConsentClient, EventIn, Proof, SubjectRef

from consent_svc.store.embedded import EmbeddedPostgres
from tests.conftest import NEWSLETTER
from tests.e2e.server import Server, clean_env, cli

PEPPER = "bench-pepper-0123456789abcdef0123456789abcdef"
TOKEN_KEY = "bench-token-0123456789abcdef0123456789abcdef"


def recipients(n: int) -> Iterator[dict[str, str]]:
    for i in range(n):
        yield {"email": f"bench{i}@example.se"}


def run(dsn: str, folder: Path, n: int, window: int, trace: bool) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=dsn, CONSENT_PEPPER=PEPPER, CONSENT_TOKEN_KEYS=TOKEN_KEY, CONSENT_LOG_LEVEL="warning"
    )
    server = Server(env, folder)
    try:
        cli(env, folder, "tenants", "create", "bench")
        key = cli(env, folder, "keys", "create", "--tenant", "bench", "--scope", "admin").splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        httpx.put(f"{server.url}/v1/purposes/newsletter", json=NEWSLETTER, headers=auth).raise_for_status()
        me = psutil.Process()
        with ConsentClient(server.url, key, timeout=120) as consent:
            consents = (
                EventIn(
                    subject=SubjectRef(email=f"bench{i}@example.se"),
                    type="consent_given",
                    purpose="newsletter",
                    proof=Proof(notice_version="2026-03"),
                )
                for i in range(0, n, 1000)
            )
            recorded = sum(1 for _ in consent.record_many(consents))
            print(f"recorded {recorded:,} consents; deciding {n:,} recipients, window {window:,}")
            if trace:
                tracemalloc.start()
            started = time.monotonic()
            allowed = 0
            step = max(1, n // 10)
            print(f"{'answered':>10} {'seconds':>8} {'per s':>8} {'RSS MB':>7}" + (" peak MB" if trace else ""))
            for i, answer in enumerate(
                consent.decide_many(recipients(n), purpose="newsletter", channel="email", window=window), start=1
            ):
                allowed += answer.allowed
                if i % step == 0:
                    seconds = time.monotonic() - started
                    line = f"{i:>10,} {seconds:>8.1f} {i / seconds:>8,.0f} {me.memory_info().rss / 1e6:>7.1f}"
                    if trace:
                        line += f" {tracemalloc.get_traced_memory()[1] / 1e6:>7.1f}"
                    print(line, flush=True)
            assert allowed == recorded, (allowed, recorded)
            print(f"done: {n:,} answers in order, {allowed:,} allowed, {time.monotonic() - started:.1f} s")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=5_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="consent-bench-client-") as tmp:
        folder = Path(tmp)
        dsn = os.environ.get("CONSENT_BENCH_DATABASE_URL")
        if dsn:
            run(dsn, folder, args.recipients, args.window, args.tracemalloc)
            return
        embedded = EmbeddedPostgres(folder / "pg")
        try:
            run(embedded.start(), folder, args.recipients, args.window, args.tracemalloc)
        finally:
            embedded.release()


if __name__ == "__main__":
    main()
