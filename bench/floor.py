"""consent-svc against the floor, side by side, in one run (issue 22's table).

    .venv/bin/python bench/floor.py [--people 100000] [--seconds 10] [--rounds 1]

The floor is bench/floor_app.py: a bare ASGI app on uvicorn (httptools) with an
asyncpg pool of 10 and no validation, authentication, rules or logging, on tables
of the same shape (schema ``floor``) in the same PostgreSQL. Both are populated
to the same people (consent-svc with the realistic histories of
bench/decisions.py, the floor with one consent each and the same 5 %
suppressed), then each of the four hot paths is measured for consent-svc and
the floor one after the other, ``--rounds`` times, and printed with its ratio:

* check: ``GET /v1/decisions`` (a known address) vs ``GET /check``, wrk -c32;
* record: ``POST /v1/events`` (a new address each) vs ``POST /record``, wrk -c32;
* batch: ``POST /v1/decisions/batch`` of 100,000 known addresses vs ``POST /batch``;
* ingest: ``POST /v1/events/batch``, 5 x 10,000 new people vs ``POST /ingest`` (COPY).

wrk (Debian package ``wrk``) drives the two concurrent rows, with two threads as
the peer figures were taken; without it the in-repo generator bench/loadgen.py
does (GET only). CPU steal during each measurement is read from /proc/stat and
printed: a ratio from a run with much steal is worth less. Uses the embedded
PostgreSQL in a temporary folder unless ``CONSENT_BENCH_DATABASE_URL`` is set.

``--baseline DIR`` serves another version of consent-svc beside this one (a source tree, e.g.
``git archive main | tar -x -C /tmp/base``, run with this virtualenv and ``PYTHONPATH=DIR``), on
the same database and tenant, and measures it in the same rounds: a before/after comparison
in the same conditions, its own ratio to the floor in an extra column. The two versions must
share the schema (no migration in between).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import msgspec
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.decisions import BIN, PURPOSES, SEED_CHUNK, bench_tenant, email, free_port, seed, server_env
from bench.floor_app import key as floor_key
from bench.loadgen import get_request, run_load
from consent_svc.store.embedded import EmbeddedPostgres

WRK = shutil.which("wrk")
FLOOR_PEPPER = "floor-pepper-0123456789abcdef"
FLOOR_SCHEMA = """
DROP SCHEMA IF EXISTS floor CASCADE;
CREATE SCHEMA floor;
CREATE TABLE floor.subject (id uuid PRIMARY KEY, facts jsonb NOT NULL);
CREATE TABLE floor.identifier (hash bytea PRIMARY KEY, subject_id uuid NOT NULL REFERENCES floor.subject);
CREATE TABLE floor.event (
    id uuid PRIMARY KEY, subject_id uuid NOT NULL REFERENCES floor.subject, type text NOT NULL,
    purpose text, proof jsonb NOT NULL, occurred_at timestamptz NOT NULL);
CREATE INDEX ON floor.event (subject_id, occurred_at);
CREATE TABLE floor.suppression (hash bytea PRIMARY KEY, reason text NOT NULL);
"""
RECORD_BODY = (
    '{"subject": {"email": "%s"}, "type": "consent_given", "purpose": "newsletter", "channels": ["email"], '
    '"source": "api", "proof": {"notice_version": "2026-03"}}'
)


@dataclass
class Figure:
    rate: float
    p99_ms: float | None = None
    errors: int = 0
    steal: float = 0.0
    # CPU per item (request, decision or event), in microseconds: the server process, and the
    # PostgreSQL backends (all of them: only the measured server is busy while it is measured).
    server_us: float | None = None
    db_us: float | None = None

    def text(self, unit: str) -> str:
        p99 = f", p99 {self.p99_ms:.1f} ms" if self.p99_ms is not None else ""
        errors = f", {self.errors} errors" if self.errors else ""
        return f"{self.rate:,.0f} {unit}{p99}{errors}"

    def cpu(self) -> str:
        if self.server_us is None:
            return "-"
        db = f" + {self.db_us:,.1f}" if self.db_us is not None else ""
        return f"{self.server_us:,.1f}{db}"


def cpu_times() -> tuple[int, int]:
    """(all jiffies, steal jiffies) of the machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[7] if len(fields) > 7 else 0


# The serving processes by base URL, and the embedded PostgreSQL's postmaster (None: external).
SERVERS: dict[str, psutil.Process] = {}
POSTMASTER: list[psutil.Process] = []


def _cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        with suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def _tree(process: psutil.Process) -> list[psutil.Process]:
    with suppress(psutil.Error):
        return [process, *process.children(recursive=True)]
    return []


@dataclass
class Usage:
    steal: float = 0.0
    server: float | None = None  # CPU seconds of the server's processes
    db: float | None = None  # CPU seconds of PostgreSQL's processes


@contextmanager
def meter(url: str) -> Iterator[Usage]:
    """CPU steal of the machine, and the CPU the server at ``url`` and PostgreSQL spent meanwhile
    (a process that ended meanwhile, e.g. a connection closed, is missed)."""
    usage = Usage()
    server = _tree(SERVERS[url]) if url in SERVERS else []
    db = _tree(POSTMASTER[0]) if POSTMASTER else []
    server0, db0 = _cpu_seconds(server), _cpu_seconds(db)
    total0, steal0 = cpu_times()
    yield usage
    total1, steal1 = cpu_times()
    # Processes started meanwhile (a pool growing under the load) count from zero.
    server1 = _cpu_seconds(_tree(SERVERS[url])) if url in SERVERS else {}
    db1 = _cpu_seconds(_tree(POSTMASTER[0])) if POSTMASTER else {}
    usage.steal = 100 * (steal1 - steal0) / max(1, total1 - total0)
    if server:
        usage.server = sum(seconds - server0.get(p, 0.0) for p, seconds in server1.items())
    if db:
        usage.db = sum(seconds - db0.get(p, 0.0) for p, seconds in db1.items())


def figure(rate: float, items: int, usage: Usage, p99_ms: float | None = None, errors: int = 0) -> Figure:
    def per_item(seconds: float | None) -> float | None:
        return None if seconds is None or not items else 1e6 * seconds / items

    return Figure(rate, p99_ms, errors, usage.steal, per_item(usage.server), per_item(usage.db))


async def seed_floor(dsn: str, people: int, suppressed: set[int]) -> None:
    """The floor's tables: the same people (one consent each), the same suppressed addresses."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(FLOOR_SCHEMA)
        async with conn.transaction():
            await conn.execute("ALTER TABLE floor.event ALTER COLUMN occurred_at SET DEFAULT now()")
            for chunk in range(0, people, SEED_CHUNK):
                subjects, identifiers, events, suppressions = [], [], [], []
                for i in range(chunk, min(people, chunk + SEED_CHUNK)):
                    sid = uuid.uuid4()
                    h = floor_key(email(i))
                    subjects.append((sid, '{"given": {"newsletter": {}}}'))
                    identifiers.append((h, sid))
                    events.append((uuid.uuid4(), sid, "consent_given", "newsletter", '{"notice_version": "2026-03"}'))
                    if i in suppressed:
                        suppressions.append((h, "unsubscribe"))
                await conn.copy_records_to_table("subject", schema_name="floor", records=subjects)
                await conn.copy_records_to_table("identifier", schema_name="floor", records=identifiers)
                await conn.copy_records_to_table(
                    "event", schema_name="floor", records=events,
                    columns=["id", "subject_id", "type", "purpose", "proof"],
                )  # fmt: skip
                await conn.copy_records_to_table("suppression", schema_name="floor", records=suppressions)
        await conn.execute("ANALYZE floor.subject, floor.identifier, floor.event, floor.suppression")
    finally:
        await conn.close()


async def sealed(dsn: str) -> float:
    """Wait until the server's ledger sealer has chained the seeded events (written straight
    into the table, unsealed): sealing 1,000,000 of them is one long transaction of the
    server's sealer, which would otherwise run beside the measurements and take its CPU."""
    began = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events WHERE chain_pos IS NULL)"):  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(2)
    finally:
        await conn.close()
    return time.perf_counter() - began


def wait_ready(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %d\\n", summary.requests, summary.duration,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def wrk_get_script(paths: list[str], headers: dict[str, str]) -> str:
    lines = [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    lines.append("local paths = {" + ",".join(lua_string(p) for p in paths) + "}")
    lines.append("local i = math.random(#paths)")
    lines.append("request = function() i = i % #paths + 1; return wrk.format(nil, paths[i]) end")
    return "\n".join(lines) + WRK_DONE


def wrk_post_script(path: str, headers: dict[str, str], template: str, tag: str) -> str:
    """Each request a new address: the run's tag, the wrk thread and a counter."""
    lines = [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    lines.append("local threads = 0")
    lines.append("setup = function(thread) threads = threads + 1; thread:set('tid', threads) end")
    lines.append("local n = 0")
    lines.append(
        f"request = function() n = n + 1; "
        f"local address = string.format('{tag}-%d-%d@example.se', tid, n); "
        f"return wrk.format('POST', {lua_string(path)}, nil, string.format({lua_string(template)}, address)) end"
    )
    return "\n".join(lines) + WRK_DONE


def run_wrk(url: str, script: str, seconds: float, tmp: Path) -> Figure:
    assert WRK is not None
    file = tmp / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    file.write_text(script)
    with meter(url) as usage:
        done = subprocess.run(
            [WRK, "-t2", "-c32", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(file), url],
            capture_output=True,
            text=True,
            check=True,
        )
    result = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    requests, duration_us, p99_ms, errors = result.split()[1:]
    return figure(int(requests) / (int(duration_us) / 1e6), int(requests), usage, float(p99_ms), int(errors))


def timed(url: str, action: Callable[[], int]) -> Figure:
    """``action`` returns how many items it did; the figure is items per second."""
    with meter(url) as usage:
        began = time.perf_counter()
        items = action()
        elapsed = time.perf_counter() - began
    return figure(items / elapsed, items, usage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=1, help="times each row is measured (best is reported)")
    parser.add_argument("--processes", type=int, default=1, help="consent-svc serve --processes")
    parser.add_argument("--baseline", type=Path, help="a source tree of another version, measured beside")
    parser.add_argument(
        "--paths", default="check,record,batch,ingest", help="the rows to measure, comma separated (default: all four)"
    )
    args = parser.parse_args()
    have_wrk = WRK is not None
    paths = set(args.paths.split(","))
    if unknown := paths - {"check", "record", "batch", "ingest"}:
        parser.error(f"unknown --paths {', '.join(sorted(unknown))} (check, record, batch, ingest)")

    tmp = Path(tempfile.mkdtemp(prefix="consent-floor-"))
    embedded = None
    dsn = os.environ.get("CONSENT_BENCH_DATABASE_URL")
    if not dsn:
        embedded = EmbeddedPostgres(tmp / "data")
        dsn = embedded.start()
    env = server_env(dsn)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        tenant_id, api_key = bench_tenant(env, "floor")
        svc_port, floor_port, base_port = free_port(), free_port(), free_port()
        servers.append(subprocess.Popen(
            [str(BIN), "serve", "--port", str(svc_port), "--processes", str(args.processes)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        if args.baseline is not None:
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "consent_svc", "serve", "--port", str(base_port),
                 "--processes", str(args.processes)],
                # cwd too: ``python -m`` puts the working directory first on sys.path.
                env={**env, "PYTHONPATH": str(args.baseline.resolve())}, cwd=args.baseline.resolve(),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        floor_env = {**env, "FLOOR_DSN": dsn, "FLOOR_PEPPER": FLOOR_PEPPER}
        servers.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--port", str(floor_port), "--http", "httptools",
             "--loop", "uvloop", "--no-access-log", "--log-level", "warning"],
            env={**floor_env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        svc, floor = f"http://127.0.0.1:{svc_port}", f"http://127.0.0.1:{floor_port}"
        base = f"http://127.0.0.1:{base_port}" if args.baseline is not None else None
        for url, server in zip([svc, base, floor] if base else [svc, floor], servers, strict=True):
            SERVERS[url] = psutil.Process(server.pid)
        if embedded is not None:
            POSTMASTER.append(psutil.Process(int((embedded.pgdata / "postmaster.pid").read_text().split()[0])))
        auth = {"Authorization": f"Bearer {api_key}"}
        wait_ready(f"{svc}/readyz")
        if base is not None:
            wait_ready(f"{base}/readyz")
        for pkey, body in PURPOSES.items():
            httpx.put(f"{svc}/v1/purposes/{pkey}", json=body, headers=auth).raise_for_status()

        print(
            f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"PostgreSQL {'embedded' if embedded else 'external'}, load generator {'wrk' if have_wrk else 'loadgen'}"
        )
        print(f"populating {args.people:,} people in both ...", flush=True)
        seeded = asyncio.run(seed(dsn, tenant_id, args.people))
        rnd = random.Random(3)
        asyncio.run(seed_floor(dsn, args.people, {i for i in range(args.people) if rnd.random() < 0.05}))
        wait_ready(f"{floor}/check?email={email(0)}")
        print(f"  consent-svc: {seeded['events']:,} events, {seeded['suppressions']:,} suppressions; floor: "
              f"{args.people:,} events")  # fmt: skip
        print(f"  the ledger sealed in {asyncio.run(sealed(dsn)):.0f} s", flush=True)

        sample = [email(random.Random(i).randrange(args.people)) for i in range(20_000)]
        rows: dict[str, list[tuple[Figure, Figure, Figure | None]]] = {}
        for round_ in range(args.rounds):
            tag = f"r{round_}-{uuid.uuid4().hex[:6]}"
            if "check" in paths:
                rows.setdefault("check", []).append(measure_check(svc, floor, base, auth, sample, args, tmp))
            if "record" in paths and have_wrk:
                a = run_wrk(svc, wrk_post_script("/v1/events", auth, RECORD_BODY, f"s{tag}"), args.seconds, tmp)
                b = run_wrk(floor, wrk_post_script("/record", {}, '{"email": "%s"}', f"f{tag}"), args.seconds, tmp)
                c = (
                    run_wrk(base, wrk_post_script("/v1/events", auth, RECORD_BODY, f"b{tag}"), args.seconds, tmp)
                    if base
                    else None
                )
                rows.setdefault("record", []).append((a, b, c))
            if "batch" in paths:
                rows.setdefault("batch", []).append(measure_batches(svc, floor, base, auth, args.people))
            if "ingest" in paths:
                rows.setdefault("ingest", []).append(measure_ingest(svc, floor, base, auth, tag))

        extra = " baseline | baseline ratio |" if base else ""
        print(f"\n| work | consent-svc | floor | ratio | CPU steal |{extra}")
        print("|---|---|---|---|---|" + ("---|---|" if base else ""))
        labels = {
            "check": ("GET /v1/decisions, c32, known address", "/s"),
            "record": ("POST /v1/events, c32, a new address each", "/s"),
            "batch": ("POST /v1/decisions/batch, 100,000 known", "decisions/s"),
            "ingest": ("POST /v1/events/batch, 5 x 10,000 new", "events/s"),
        }
        for row, figures in rows.items():
            a, b, _ = max(figures, key=lambda f: f[0].rate / f[1].rate)
            label, unit = labels[row]
            line = (
                f"| {label} | {a.text(unit)} | {b.text(unit)} | {a.rate / b.rate:.2f} | {max(a.steal, b.steal):.0f} % |"
            )
            if base:
                # The baseline's best round by its own ratio, against the floor of that round.
                _, bf, c = max(figures, key=lambda f: f[2].rate / f[1].rate if f[2] else 0.0)
                assert c is not None
                line += f" {c.text(unit)} | {c.rate / bf.rate:.2f} |"
            print(line)
        # Where the difference is: CPU per item of the server process and of PostgreSQL, in the same
        # rounds as above. On a machine whose cores are all busy, a ratio is roughly the ratio of these sums.
        extra = " baseline |" if base else ""
        print(f"\n| CPU per item, us: server + PostgreSQL | consent-svc | floor |{extra}")
        print("|---|---|---|" + ("---|" if base else ""))
        for row, figures in rows.items():
            a, b, c = max(figures, key=lambda f: f[0].rate / f[1].rate)
            print(f"| {row} | {a.cpu()} | {b.cpu()} |" + (f" {c.cpu()} |" if c else ""))
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if embedded is not None:
            embedded.release()
        shutil.rmtree(tmp, ignore_errors=True)


def measure_check(
    svc: str, floor: str, base: str | None, auth: dict[str, str], sample: list[str], args: argparse.Namespace, tmp: Path
) -> tuple[Figure, Figure, Figure | None]:
    """GET /v1/decisions against the floor's GET /check, over the same known addresses."""
    svc_paths = [f"/v1/decisions?purpose=newsletter&channel=email&email={e}" for e in sample]
    floor_paths = [f"/check?email={e}" for e in sample]
    if WRK is not None:
        return (
            run_wrk(svc, wrk_get_script(svc_paths, auth), args.seconds, tmp),
            run_wrk(floor, wrk_get_script(floor_paths, {}), args.seconds, tmp),
            run_wrk(base, wrk_get_script(svc_paths, auth), args.seconds, tmp) if base else None,
        )

    def port(url: str) -> int:
        return int(url.rsplit(":", 1)[1])

    return (
        figure_of_load(port(svc), get_request("127.0.0.1", svc_paths, auth), args.seconds),
        figure_of_load(port(floor), get_request("127.0.0.1", floor_paths, {}), args.seconds),
        figure_of_load(port(base), get_request("127.0.0.1", svc_paths, auth), args.seconds) if base else None,
    )


def post_all(url: str, bodies: list[bytes], headers: dict[str, str], expect: int, count: str) -> Figure:
    """POST each (already encoded) body in turn; the figure is items per second, ``count``
    naming how the answer tells how many items it did."""
    headers = {**headers, "Content-Type": "application/json"}

    def action() -> int:
        done = 0
        for body in bodies:
            response = httpx.post(url, content=body, headers=headers, timeout=600)
            if response.status_code != expect:
                raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
            answer = response.json()[count]
            done += answer if isinstance(answer, int) else len(answer)
        return done

    return timed("/".join(url.split("/", 3)[:3]), action)


def measure_batches(
    svc: str, floor: str, base: str | None, auth: dict[str, str], people: int
) -> tuple[Figure, Figure, Figure | None]:
    """100,000 known addresses in one request, after one warm-up request each (as a sender's
    second campaign would find them)."""
    known = [email(i % people) for i in range(100_000)]
    svc_body = msgspec.json.encode({"purpose": "newsletter", "channel": "email",
                                    "recipients": [{"email": e} for e in known]})  # fmt: skip
    floor_body = msgspec.json.encode({"emails": known})
    post_all(f"{svc}/v1/decisions/batch", [svc_body], auth, 200, "results")
    post_all(f"{floor}/batch", [floor_body], {}, 200, "results")
    if base:
        post_all(f"{base}/v1/decisions/batch", [svc_body], auth, 200, "results")
    return (
        post_all(f"{svc}/v1/decisions/batch", [svc_body], auth, 200, "results"),
        post_all(f"{floor}/batch", [floor_body], {}, 200, "results"),
        post_all(f"{base}/v1/decisions/batch", [svc_body], auth, 200, "results") if base else None,
    )


def measure_ingest(
    svc: str, floor: str, base: str | None, auth: dict[str, str], tag: str
) -> tuple[Figure, Figure, Figure | None]:
    """5 requests of 10,000 new people each, the bodies encoded before the clock starts."""
    svc_bodies, floor_bodies, base_bodies = [], [], []
    for r in range(5):
        emails = [f"i{tag}-{r}-{i}@example.se" for i in range(10_000)]
        events = b",".join((RECORD_BODY % e).encode() for e in emails)
        svc_bodies.append(b'{"events": [' + events + b"]}")
        floor_bodies.append(msgspec.json.encode({"emails": emails}))
        events = b",".join((RECORD_BODY % f"b{e}").encode() for e in emails)
        base_bodies.append(b'{"events": [' + events + b"]}")
    return (
        post_all(f"{svc}/v1/events/batch", svc_bodies, auth, 201, "results"),
        post_all(f"{floor}/ingest", floor_bodies, {}, 201, "recorded"),
        post_all(f"{base}/v1/events/batch", base_bodies, auth, 201, "results") if base else None,
    )


def figure_of_load(port: int, request: Callable[[int], bytes], seconds: float) -> Figure:
    with meter(f"http://127.0.0.1:{port}") as usage:
        result = asyncio.run(run_load("127.0.0.1", port, request, connections=32, duration=seconds))
    return figure(result.rate, round(result.rate * seconds), usage, result.p99, result.errors)


if __name__ == "__main__":
    main()
