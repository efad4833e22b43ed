"""What reading decisions from a streaming replica costs, and where reads go.

Starts a real PostgreSQL primary with a pg_basebackup streaming replica on
loopback (tests/e2e/pgpair.py), seeds a tenant, and runs the same single
decisions (GET /v1/decisions, concurrency 32) and a 100,000-recipient batch
against two `consent-svc serve` processes in turn: one reading the primary
only (the baseline), one with CONSENT_DATABASE_READ_URL. Prints both, their
ratio, and the routes the second took (from its metrics listener). On one machine the
replica adds no capacity (both servers share the cores); the figure is the
price of the freshness check, which is what a deployment pays per decision.

    .venv/bin/python bench/read_replica.py [--subjects 100000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import random
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.decisions import BIN, PEPPER, PURPOSES, TOKEN_KEY, cli, email, free_port, seed
from bench.loadgen import get_request, run_load

# Imported at run time: mypy would otherwise follow tests.e2e.pgpair into the e2e tests it
# imports, which are type-checked with the test suite, not with bench/.
StreamingPair: Any = importlib.import_module("tests.e2e.pgpair").StreamingPair


def start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int, int]:
    port, metrics_port = free_port(), free_port()
    env = {**env, "CONSENT_METRICS_PORT": str(metrics_port)}
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc, port, metrics_port
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("serve did not become ready")


def measure(port: int, key: str, paths: list[str], seconds: float, batch: bytes) -> tuple[float, float, float]:
    auth = {"Authorization": f"Bearer {key}"}
    single = asyncio.run(run_load("127.0.0.1", port, get_request("127.0.0.1", paths, auth), connections=32,
                                  duration=seconds))  # fmt: skip
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        httpx.post(f"http://127.0.0.1:{port}/v1/decisions/batch", content=batch, timeout=300,
                   headers={**auth, "Content-Type": "application/json"}).raise_for_status()  # fmt: skip
        best = min(best, time.perf_counter() - began)
    return single.rate, single.p99, 100_000 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    pair = StreamingPair().start()
    servers: list[subprocess.Popen[bytes]] = []
    try:
        pair.psql(pair.primary, "CREATE DATABASE consent")
        env = {"PATH": "/usr/bin:/bin", "CONSENT_DATABASE_URL": pair.primary.dsn("consent"),
               "CONSENT_PEPPER": PEPPER, "CONSENT_TOKEN_KEYS": TOKEN_KEY, "CONSENT_LOG_LEVEL": "warning",
               "CONSENT_RATE_LIMIT_PER_KEY": "0", "CONSENT_SWEEP_INTERVAL_SECONDS": "0"}  # fmt: skip
        cli(env, "migrate")
        name = "bench-" + uuid.uuid4().hex[:6]
        tenant_id = uuid.UUID(cli(env, "tenants", "create", name))
        key = cli(env, "keys", "create", "--tenant", name, "--scope", "admin")
        print(f"seeding {args.subjects:,} subjects on the primary ...", flush=True)
        asyncio.run(seed(pair.primary.dsn("consent"), tenant_id, args.subjects))
        pair.psql(pair.primary, "VACUUM ANALYZE", "consent")
        pair.wait_caught_up()

        rnd = random.Random(7)
        sample = [email(rnd.randrange(args.subjects)) for _ in range(20_000)]
        paths = [f"/v1/decisions?purpose=newsletter&channel=email&email={e}" for e in sample]
        recipients = [{"email": sample[i % len(sample)]} for i in range(100_000)]
        batch = msgspec.json.encode({"purpose": "newsletter", "channel": "email", "recipients": recipients})

        results = {}
        with_replica = {"CONSENT_DATABASE_READ_URL": pair.replica.dsn("consent")}
        for label, extra in (("primary only", {}), ("with read replica", with_replica)):
            proc, port, metrics_port = start({**env, **extra})
            servers.append(proc)
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}) as http:
                for pkey, body in PURPOSES.items():
                    http.put(f"http://127.0.0.1:{port}/v1/purposes/{pkey}", json=body).raise_for_status()
                results[label] = measure(port, key, paths, args.seconds, batch)
                metrics = http.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            proc.terminate()
            proc.wait(30)
            rate, p99, batch_rate = results[label]
            print(f"{label:>18}: single c=32 {rate:,.0f}/s p99 {p99:.2f} ms; batch 100k {batch_rate:,.0f}/s")
            routes = dict(re.findall(r'^consent_decision_reads_total\{route="(\w+)"\} (\S+)$', metrics, re.M))
            if routes:
                print(f"{'':>18}  reads by route: {routes}")
        base, replica = results["primary only"], results["with read replica"]
        print(f"ratio replica/primary-only: single {replica[0] / base[0]:.2f}, batch {replica[2] / base[2]:.2f}")
    finally:
        for proc in servers:
            if proc.poll() is None:
                proc.kill()
        pair.close()


if __name__ == "__main__":
    main()
