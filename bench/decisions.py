"""Decision and ingest benchmark, with a raw-asyncpg baseline measured in the same run.

    .venv/bin/python bench/decisions.py [--subjects 1000000] [--seconds 10]

Seeds a realistic tenant (consents, withdrawals, objections, customers, event
contacts, leads, suppressions) straight into the tables with the production
fold, starts the real ``consent-svc serve`` process against that database, and
measures from this (separate) process over loopback:

* single decisions at concurrency 1 and 32 (rate, p50, p99);
* ``POST /v1/decisions/batch`` with 100,000 recipients (decisions/s end to end);
* the NDJSON stream of 1,000,000 recipients (time, server peak RSS);
* event ingest through ``POST /v1/events/batch``, 10,000 events a request,
  next to raw asyncpg writing the same rows (INSERT ... unnest, and COPY);
* the baseline: raw asyncpg doing the same look-ups on the same tables (pooled
  point look-ups at concurrency 32, and one ``= ANY($1)`` query per 10,000 keys).

It prints each figure and its ratio to the baseline. Uses the embedded
PostgreSQL in a temporary folder unless ``CONSENT_BENCH_DATABASE_URL`` is set
(a database it may fill).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import get_request, run_load
from consent_svc.domain import facts as facts_mod
from consent_svc.domain.identifiers import Hasher, Identifier, exchange_sha256
from consent_svc.domain.models import Ref
from consent_svc.store.embedded import EmbeddedPostgres
from tests.e2e.duplex import ndjson_exchange

PEPPER = "bench-pepper-0123456789abcdef0123456789abcdef"
TOKEN_KEY = "bench-token-0123456789abcdef0123456789abcdef"
BIN = Path(sys.executable).parent / "consent-svc"
NOW = datetime.now(UTC)

PURPOSES = {
    "newsletter": {
        "legal_basis": "consent", "direct_marketing": True, "channels": ["email", "sms"],
        "notice_version": "2026-03", "title": {"sv": "Nyhetsbrev", "en": "Newsletter"},
        "description": {"sv": "Nyheter", "en": "News"},
    },
    "marketing": {
        "legal_basis": "legitimate_interest", "direct_marketing": True, "soft_opt_in": True,
        "channels": ["email", "phone", "post"], "notice_version": "2026-03",
        "title": {"sv": "Erbjudanden", "en": "Offers"}, "description": {"sv": "Erbjudanden", "en": "Offers"},
    },
}  # fmt: skip


def email(i: int) -> str:
    return f"person{i}@example.se"


SEED_CHUNK = 250_000  # people generated and copied at a time: memory stays flat at 10,000,000


async def seed(dsn: str, tenant_id: uuid.UUID, subjects: int) -> dict[str, float]:
    """Write ``subjects`` people with histories straight into the tables (COPY, in one
    transaction, ``SEED_CHUNK`` people at a time), folding their facts with the production fold
    so decisions read exactly what the service writes."""
    hasher = Hasher(PEPPER.encode())
    rnd = random.Random(42)
    conn = await asyncpg.connect(dsn)
    began = time.perf_counter()
    generated = 0.0
    events = 0
    first_seq = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('events', 'seq'))") + 1
    seq = first_seq
    sup_rows: list[tuple[Any, ...]] = []
    encode_proof = {"notice_version": "2026-03", "form_url": "https://example.se/nyhetsbrev"}
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")  # skip FK checks for bulk load
        for chunk in range(0, subjects, SEED_CHUNK):
            chunk_began = time.perf_counter()
            subj_rows: list[tuple[Any, ...]] = []
            ident_rows: list[tuple[Any, ...]] = []
            event_rows: list[tuple[Any, ...]] = []
            for i in range(chunk, min(subjects, chunk + SEED_CHUNK)):
                sid = uuid.uuid4()
                f = facts_mod.Facts()
                kind = "consumer"
                history: list[tuple[str, str | None, tuple[str, ...], datetime]] = []
                bucket = rnd.random()
                t = NOW - timedelta(days=rnd.uniform(1, 900))
                if bucket < 0.40:
                    history.append(("consent_given", "newsletter", ("email",), t))
                elif bucket < 0.50:
                    history += [
                        ("consent_given", "newsletter", (), t),
                        ("consent_withdrawn", "newsletter", (), t + timedelta(days=3)),
                    ]
                elif bucket < 0.60:
                    history += [("consent_given", "newsletter", (), t), ("objection", None, (), t + timedelta(days=5))]
                elif bucket < 0.75:
                    history += [("purchase", None, (), t), ("customer_started", None, (), t)]
                    if rnd.random() < 0.5:
                        history.append(("customer_ended", None, (), t + timedelta(days=30)))
                elif bucket < 0.87:
                    history.append(("event_attended", None, (), t))
                    kind = "business_contact"
                else:
                    history.append(("lead_activity", None, (), t))
                    kind = rnd.choice(("business_contact", "sole_trader"))
                for type_, purpose, channels, at in history:
                    eid = uuid.uuid4()
                    facts_mod.fold(f, type_, purpose, channels, Ref(eid, at, seq))
                    proof = msgspec.json.encode(encode_proof if type_ == "consent_given" else {}).decode()
                    event_rows.append((tenant_id, eid, sid, type_, purpose, list(channels), at, "import", proof))
                    seq += 1
                ident = Identifier("email", email(i))
                h = hasher.key(ident)
                subj_rows.append((tenant_id, sid, kind, facts_mod.encode(f)))
                ident_rows.append((tenant_id, h, sid, "email", ident.value))
                if rnd.random() < 0.05:
                    reason = rnd.choice(("unsubscribe", "complaint", "hard_bounce"))
                    sup_rows.append((tenant_id, uuid.uuid4(), h, "email", ident.value, exchange_sha256(ident), "all",
                                     reason, len(sup_rows) + 1))  # fmt: skip
            generated += time.perf_counter() - chunk_began
            await conn.copy_records_to_table(
                "subjects", records=subj_rows, columns=["tenant_id", "id", "kind", "facts"]
            )
            await conn.copy_records_to_table(
                "subject_identifiers", records=ident_rows, columns=["tenant_id", "hash", "subject_id", "type", "value"]
            )
            # The ledger rows, in the order their facts assumed (identity values follow COPY order).
            await conn.copy_records_to_table(
                "events",
                records=event_rows,
                columns=["tenant_id", "id", "subject_id", "type", "purpose", "channels", "occurred_at", "source",
                         "proof"],
            )  # fmt: skip
            events += len(event_rows)
            if subjects > SEED_CHUNK:
                print(f"  seeded {min(subjects, chunk + SEED_CHUNK):,} people", flush=True)
        for j in range(subjects // 20):  # suppressed addresses nobody has recorded
            ident = Identifier("email", f"stranger{j}@example.org")
            sup_rows.append((tenant_id, uuid.uuid4(), hasher.key(ident), "email", ident.value, exchange_sha256(ident),
                             "all", "register", len(sup_rows) + 1))  # fmt: skip
        await conn.copy_records_to_table(
            "suppressions",
            records=sup_rows,
            columns=["tenant_id", "id", "ident_hash", "ident_type", "value", "sha256", "scope", "reason", "change_seq"],
        )
        await conn.execute(
            "UPDATE tenant_counters SET suppression_seq = $2 WHERE tenant_id = $1", tenant_id, len(sup_rows)
        )
    await conn.execute("ANALYZE")
    await conn.close()
    return {
        "subjects": subjects,
        "events": events,
        "suppressions": len(sup_rows),
        "generate_s": generated,
        "total_s": time.perf_counter() - began,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([str(BIN), *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


def server_env(dsn: str) -> dict[str, str]:
    """The environment a bench serves consent-svc with: this one without its ``CONSENT_*``
    variables, the database, the bench's pepper and token key, JSON logs, no rate limit per key,
    and no metrics listener (two servers of one bench would share its port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}
    env.update(CONSENT_DATABASE_URL=dsn, CONSENT_PEPPER=PEPPER, CONSENT_TOKEN_KEYS=TOKEN_KEY,
               CONSENT_LOG_LEVEL="info", CONSENT_LOG_FORMAT="json", CONSENT_RATE_LIMIT_PER_KEY="0",
               CONSENT_METRICS_PORT="0")  # fmt: skip
    return env


def bench_tenant(env: dict[str, str], prefix: str) -> tuple[uuid.UUID, str]:
    """Migrate the database, create a tenant named ``prefix-...`` and an admin key: (tenant id, key)."""
    cli(env, "migrate")
    name = f"{prefix}-" + uuid.uuid4().hex[:6]
    tenant_id = uuid.UUID(cli(env, "tenants", "create", name))
    return tenant_id, cli(env, "keys", "create", "--tenant", name, "--scope", "admin")


def server_rss(proc: psutil.Process) -> int:
    """RSS of the server: the process and, with --processes, its serving children."""
    return int(proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children()))


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, server_rss(self.proc))
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)


LOOKUP = (
    "SELECT s.id, s.kind, s.facts FROM subject_identifiers si "
    "JOIN subjects s ON s.tenant_id = si.tenant_id AND s.id = si.subject_id "
    "WHERE si.tenant_id = $1 AND si.hash = $2"
)
LOOKUP_ANY = (
    "SELECT s.id, s.kind, s.facts FROM subject_identifiers si "
    "JOIN subjects s ON s.tenant_id = si.tenant_id AND s.id = si.subject_id "
    "WHERE si.tenant_id = $1 AND si.hash = ANY($2::bytea[])"
)


async def baseline_point(dsn: str, tenant_id: uuid.UUID, hashes: list[bytes], seconds: float) -> tuple[float, float]:
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
    assert pool is not None
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        while time.perf_counter() < stop:
            h = hashes[next(counter) % len(hashes)]
            t = time.perf_counter()
            await pool.fetchrow(LOOKUP, tenant_id, h)
            latencies.append((time.perf_counter() - t) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(32)))
    elapsed = time.perf_counter() - began
    await pool.close()
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(0.99 * len(latencies))]


async def baseline_any(dsn: str, tenant_id: uuid.UUID, hashes: list[bytes]) -> float:
    conn = await asyncpg.connect(dsn)
    began = time.perf_counter()
    for start in range(0, len(hashes), 10_000):
        await conn.fetch(LOOKUP_ANY, tenant_id, hashes[start : start + 10_000])
    elapsed = time.perf_counter() - began
    await conn.close()
    return len(hashes) / elapsed


Rows = list[tuple[Any, ...]]


def _ingest_rows(tenant_id: uuid.UUID, tag: str, n: int) -> tuple[Rows, Rows, Rows]:
    """The rows an ingest of ``n`` new people with one consent each writes, built outside the timing."""
    hasher = Hasher(PEPPER.encode())
    subjects, identifiers, events = [], [], []
    for i in range(n):
        sid, eid = uuid.uuid4(), uuid.uuid4()
        f = facts_mod.Facts()
        facts_mod.fold(f, "consent_given", "newsletter", ("email",), Ref(eid, NOW, i))
        ident = Identifier("email", f"raw{tag}-{i}@example.se")
        subjects.append((tenant_id, sid, "consumer", facts_mod.encode(f)))
        identifiers.append((tenant_id, hasher.key(ident), sid, "email", ident.value))
        events.append((tenant_id, eid, sid, "consent_given", "newsletter", ["email"], NOW, "import",
                       '{"notice_version": "2026-03"}'))  # fmt: skip
    return subjects, identifiers, events


async def baseline_ingest(dsn: str, tenant_id: uuid.UUID, requests: int) -> tuple[float, float]:
    """Raw asyncpg writing the same rows (subjects with facts, identifiers, events) for
    ``requests`` x 10,000 new people, one transaction each: with ``INSERT ... SELECT
    unnest`` (the service's style) and with ``COPY`` (the fastest PostgreSQL offers).
    No validation, idempotency, locking or fold: the floor of what the writes cost."""
    conn = await asyncpg.connect(dsn)
    rates = []
    for style in ("insert", "copy"):
        batches = [_ingest_rows(tenant_id, f"{style}{r}", 10_000) for r in range(requests)]
        began = time.perf_counter()
        for subjects, identifiers, events in batches:
            async with conn.transaction():
                if style == "copy":
                    await conn.copy_records_to_table("subjects", records=subjects,
                                                     columns=["tenant_id", "id", "kind", "facts"])  # fmt: skip
                    await conn.copy_records_to_table(
                        "subject_identifiers", records=identifiers,
                        columns=["tenant_id", "hash", "subject_id", "type", "value"])  # fmt: skip
                    await conn.copy_records_to_table("events", records=events, columns=[
                        "tenant_id", "id", "subject_id", "type", "purpose", "channels", "occurred_at", "source",
                        "proof"])  # fmt: skip
                    continue
                await conn.execute(
                    "INSERT INTO subjects (tenant_id, id, kind, facts) SELECT $1, u.id, u.kind, u.facts "
                    "FROM unnest($2::uuid[], $3::text[], $4::bytea[]) AS u(id, kind, facts)",
                    tenant_id, [r[1] for r in subjects], [r[2] for r in subjects], [r[3] for r in subjects],
                )  # fmt: skip
                await conn.execute(
                    "INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value) "
                    "SELECT $1, u.h, u.s, u.t, u.v FROM unnest($2::bytea[], $3::uuid[], $4::text[], $5::text[]) "
                    "AS u(h, s, t, v)",
                    tenant_id, [r[1] for r in identifiers], [r[2] for r in identifiers], [r[3] for r in identifiers],
                    [r[4] for r in identifiers],
                )  # fmt: skip
                await conn.execute(
                    "INSERT INTO events (tenant_id, id, subject_id, type, purpose, channels, occurred_at, "
                    "source, proof) "
                    "SELECT $1, u.id, u.s, u.t, u.p, string_to_array(u.c, ','), u.at, u.src, u.proof::jsonb "
                    "FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], "
                    "$8::text[], $9::text[]) AS u(id, s, t, p, c, at, src, proof)",
                    tenant_id, [r[1] for r in events], [r[2] for r in events], [r[3] for r in events],
                    [r[4] for r in events], [",".join(r[5]) for r in events], [r[6] for r in events],
                    [r[7] for r in events], [r[8] for r in events],
                )  # fmt: skip
        rates.append(requests * 10_000 / (time.perf_counter() - began))
    await conn.close()
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each single-decision run")
    parser.add_argument("--stream", type=int, default=1_000_000, help="recipients in the NDJSON stream")
    parser.add_argument("--ingest-requests", type=int, default=5, help="POST /v1/events/batch requests of 10,000")
    parser.add_argument("--processes", type=int, default=1, help="serve --processes (serving processes on the port)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="consent-bench-"))
    embedded = None
    server_url = os.environ.get("CONSENT_BENCH_DATABASE_URL")
    if server_url:
        dsn = server_url
    else:
        embedded = EmbeddedPostgres(tmp / "data")
        dsn = embedded.start()
    env = server_env(dsn)
    server = None
    try:
        tenant_id, key = bench_tenant(env, "bench")
        port = free_port()
        server = subprocess.Popen([str(BIN), "serve", "--port", str(port), "--processes", str(args.processes)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}
        for _ in range(100):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        for pkey, body in PURPOSES.items():
            httpx.put(f"{base}/v1/purposes/{pkey}", json=body, headers=auth).raise_for_status()

        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
              f"PostgreSQL {'embedded' if embedded else 'external'}")  # fmt: skip
        print(f"seeding {args.subjects:,} subjects ...", flush=True)
        seeded = asyncio.run(seed(dsn, tenant_id, args.subjects))
        print(f"  {seeded['events']:,} events, {seeded['suppressions']:,} suppressions "
              f"in {seeded['total_s']:.1f} s")  # fmt: skip

        rnd = random.Random(7)
        sample = [email(rnd.randrange(args.subjects)) if rnd.random() < 0.9 else f"nobody{i}@example.net"
                  for i in range(20_000)]  # fmt: skip
        hasher = Hasher(PEPPER.encode())
        hashes = [hasher.key(Identifier("email", e)) for e in sample]
        paths = [f"/v1/decisions?purpose=newsletter&channel=email&email={e}" for e in sample]
        request = get_request("127.0.0.1", paths, auth)

        print("\nbaseline (raw asyncpg, same look-ups, same tables)")
        raw_rate, raw_p99 = asyncio.run(baseline_point(dsn, tenant_id, hashes, args.seconds))
        print(f"  pooled point look-ups, concurrency 32: {raw_rate:,.0f}/s  p99 {raw_p99:.2f} ms")
        many = [hashes[i % len(hashes)] for i in range(100_000)]
        raw_any = asyncio.run(baseline_any(dsn, tenant_id, many))
        print(f"  = ANY($1), 10,000 keys a query: {raw_any:,.0f} keys/s")

        print("\nsingle decisions: GET /v1/decisions")
        for concurrency in (1, 32):
            result = asyncio.run(run_load("127.0.0.1", port, request, connections=concurrency, duration=args.seconds))
            print(f"  concurrency {concurrency:>2}: {result.rate:,.0f}/s  p50 {result.p50:.2f} ms  "
                  f"p99 {result.p99:.2f} ms  errors {result.errors}  "
                  f"ratio to raw point look-ups {result.rate / raw_rate:.2f}")  # fmt: skip

        print("\nbatch: POST /v1/decisions/batch, 100,000 recipients")
        batch_emails = (
            [email(i) for i in range(100_000, 200_000)]
            if args.subjects >= 200_000
            else [email(i % args.subjects) if i < args.subjects else f"other{i}@example.net" for i in range(100_000)]
        )
        batch_body = msgspec.json.encode({"purpose": "newsletter", "channel": "email",
                                          "recipients": [{"email": e} for e in batch_emails]})  # fmt: skip
        timings = []
        for _ in range(3):
            began = time.perf_counter()
            response = httpx.post(f"{base}/v1/decisions/batch", content=batch_body, timeout=300,
                                  headers={**auth, "Content-Type": "application/json"})  # fmt: skip
            response.raise_for_status()
            timings.append(time.perf_counter() - began)
            assert len(response.json()["results"]) == 100_000
        best = min(timings)
        print(f"  first run (address cache cold): {100_000 / timings[0]:,.0f} decisions/s ({timings[0]:.2f} s)")
        print(f"  {100_000 / best:,.0f} decisions/s end to end (best of 3: {best:.2f} s)  "
              f"ratio to raw = ANY {100_000 / best / raw_any:.2f}")  # fmt: skip

        print(f"\nstream: NDJSON, {args.stream:,} recipients")
        sampler = RssSampler(server.pid)
        sampler.start()
        rss_before = server_rss(psutil.Process(server.pid))

        def lines() -> Iterator[bytes]:
            for start in range(0, args.stream, 10_000):
                yield "".join(f'{{"email":"{sample[i % len(sample)]}"}}\n'
                              for i in range(start, min(start + 10_000, args.stream))).encode()  # fmt: skip

        async def stream() -> int:
            status, _, body = await ndjson_exchange(
                "127.0.0.1", port, "/v1/decisions/batch?purpose=newsletter&channel=email",
                {**auth, "Content-Type": "application/x-ndjson"}, lines(),
            )  # fmt: skip
            assert status == 200, status
            count = 0
            async for line in body:
                count += bool(line)
            return count

        began = time.perf_counter()
        count = asyncio.run(stream())
        elapsed = time.perf_counter() - began
        sampler.running = False
        sampler.join()
        assert count == args.stream, count
        print(f"  {elapsed:.1f} s ({args.stream / elapsed:,.0f} decisions/s); server RSS {rss_before / 2**20:.0f} MB "
              f"before, peak {sampler.peak / 2**20:.0f} MB")  # fmt: skip

        print(f"\ningest: POST /v1/events/batch, {args.ingest_requests} x 10,000 events")
        total = 0
        began = time.perf_counter()
        for r in range(args.ingest_requests):
            events = [{"subject": {"email": f"new{r}-{i}@example.se"}, "type": "consent_given", "purpose": "newsletter",
                       "channels": ["email"], "source": "import", "proof": {"notice_version": "2026-03"}}
                      for i in range(10_000)]  # fmt: skip
            response = httpx.post(f"{base}/v1/events/batch", json={"events": events}, headers=auth, timeout=300)
            response.raise_for_status()
            total += len(response.json()["results"])
        elapsed = time.perf_counter() - began
        rate = total / elapsed
        print(f"  {rate:,.0f} events/s ({total:,} new subjects with a consent each, {elapsed:.1f} s)")
        raw_insert, raw_copy = asyncio.run(baseline_ingest(dsn, tenant_id, args.ingest_requests))
        print(f"  baseline, the same rows written raw: INSERT ... unnest {raw_insert:,.0f}/s, COPY {raw_copy:,.0f}/s; "
              f"ratio {rate / raw_insert:.2f} and {rate / raw_copy:.2f}")  # fmt: skip
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
