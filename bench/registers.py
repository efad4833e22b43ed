"""Opt-out register import benchmark: a NIX-Telefon-sized snapshot through the HTTP endpoint.

    .venv/bin/python bench/registers.py [--lines 3000000] [--replace] [--decisions 20000]

Starts the real ``consent-svc serve`` process (the embedded PostgreSQL in a temporary folder
unless ``CONSENT_BENCH_DATABASE_URL`` is set), then, from this separate process over loopback:

* streams a snapshot of ``--lines`` phone numbers (nine in ten Swedish mobile numbers in mixed
  spellings, one in ten landline numbers, which take the phone library's slow path) to
  ``POST /v1/registers/nix-telefon/snapshots`` as a chunked body, and reports the wall time and
  the server process's RSS before and at its peak (sampled every 50 ms);
* with ``--replace``, imports a second snapshot of the same size (the atomic swap of a full
  register: the new partition in, the old one dropped);
* with ``--decisions N``, times N single phone decisions for a purpose that checks the register,
  at concurrency 32 (half of them numbers in the register).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.decisions import BIN, PEPPER, TOKEN_KEY, RssSampler, cli, free_port, server_rss
from bench.loadgen import get_request, run_load
from consent_svc.domain.identifiers import swedish_today
from consent_svc.store.embedded import EmbeddedPostgres

PREFIXES = ("70", "72", "73", "76", "79")
CALLS = {
    "legal_basis": "legitimate_interest", "direct_marketing": True, "channels": ["phone"],
    "notice_version": "2026-03", "title": {"sv": "Telefonförsäljning", "en": "Telemarketing"},
    "description": {"sv": "Erbjudanden per telefon", "en": "Offers by phone"},
}  # fmt: skip


def number(i: int, offset: int = 0) -> str:
    """The i-th number of a snapshot, spelled as register files spell them."""
    n = i + offset
    if n % 10 == 9:  # a landline in Stockholm (08 and seven or eight digits)
        return f"08-{n % 10_000_000:07d}"
    q, r = divmod(n, 10)  # r in 0..8: a distinct (prefix, serial) for every n
    mobile = f"{PREFIXES[r % 5]}{(q * 2 + r // 5) % 10_000_000:07d}"
    spelling = n % 3
    if spelling == 0:
        return f"0{mobile}"
    if spelling == 1:
        return f"+46{mobile}"
    return f"0{mobile[:2]}-{mobile[2:5]} {mobile[5:7]} {mobile[7:]}"


def body(lines: int, offset: int = 0) -> Iterator[bytes]:
    yield b"telefonnummer\n"
    for start in range(0, lines, 20_000):
        yield "".join(f"{number(i, offset)}\n" for i in range(start, min(start + 20_000, lines))).encode()


def upload(base: str, auth: dict[str, str], server: subprocess.Popen[bytes], lines: int, version: date,
           offset: int = 0) -> None:  # fmt: skip
    sampler = RssSampler(server.pid)
    rss_before = server_rss(psutil.Process(server.pid))
    sampler.start()
    began = time.perf_counter()
    response = httpx.post(
        f"{base}/v1/registers/nix-telefon/snapshots",
        params={"version_date": version.isoformat()},
        content=body(lines, offset),
        headers={**auth, "Content-Type": "text/csv"},
        timeout=600,
    )
    elapsed = time.perf_counter() - began
    sampler.running = False
    sampler.join()
    if response.status_code != 201:
        raise SystemExit(f"{response.status_code}: {response.text[:2000]}")
    register = response.json()["register"]
    print(f"  {lines:,} lines in {elapsed:.1f} s ({lines / elapsed:,.0f} lines/s); {register['entries']:,} entries; "
          f"server RSS {rss_before / 2**20:.0f} MB before, peak {sampler.peak / 2**20:.0f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3_000_000)
    parser.add_argument("--replace", action="store_true", help="import a second snapshot of the same size")
    parser.add_argument("--decisions", type=int, default=0, help="single phone decisions to time afterwards")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="consent-bench-"))
    embedded = None
    dsn = os.environ.get("CONSENT_BENCH_DATABASE_URL")
    if not dsn:
        embedded = EmbeddedPostgres(tmp / "data")
        dsn = embedded.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}
    env.update(CONSENT_DATABASE_URL=dsn, CONSENT_PEPPER=PEPPER, CONSENT_TOKEN_KEYS=TOKEN_KEY,
               CONSENT_LOG_LEVEL="warning", CONSENT_LOG_FORMAT="json", CONSENT_RATE_LIMIT_PER_KEY="0",
               CONSENT_SWEEP_INTERVAL_SECONDS="0")  # fmt: skip
    server = None
    try:
        cli(env, "migrate")
        name = "bench-" + uuid.uuid4().hex[:6]
        cli(env, "tenants", "create", name)
        key = cli(env, "keys", "create", "--tenant", name, "--scope", "admin")
        port = free_port()
        server = subprocess.Popen([str(BIN), "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}
        for _ in range(100):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
              f"PostgreSQL {'embedded' if embedded else 'external'}")  # fmt: skip
        today = swedish_today()
        print(f"\nimport: POST /v1/registers/nix-telefon/snapshots, {args.lines:,} lines, streamed")
        upload(base, auth, server, args.lines, today - timedelta(days=2))
        if args.replace:
            print("\nreplace: a second snapshot of the same size (a third of the numbers new)")
            upload(base, auth, server, args.lines, today - timedelta(days=1), offset=args.lines // 3)
        if args.decisions:
            httpx.put(f"{base}/v1/purposes/calls", json=CALLS, headers=auth).raise_for_status()
            # Every other number is in the snapshot in force, the others are not.
            paths = [
                f"/v1/decisions?purpose=calls&channel=phone&phone={quote(number(i * 7 + (i % 2) * args.lines * 2))}"
                for i in range(2_000)
            ]
            request = get_request("127.0.0.1", paths, auth)
            print("\nsingle phone decisions checking NIX-Telefon: GET /v1/decisions, concurrency 32")
            result = asyncio.run(run_load("127.0.0.1", port, request, connections=32,
                                          duration=max(1.0, args.decisions / 2000)))  # fmt: skip
            print(f"  {result.rate:,.0f}/s  p50 {result.p50:.2f} ms  p99 {result.p99:.2f} ms  errors {result.errors}")
    finally:
        try:
            if server is not None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
        finally:
            if embedded is not None:
                embedded.release()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
