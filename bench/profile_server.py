"""Where a hot path's time goes in the real server: py-spy over ``consent-svc serve`` under wrk load.

    .venv/bin/python bench/profile_server.py check|record [--people 100000] [--seconds 20] [--top 40]

Seeds a tenant as bench/floor.py does (embedded PostgreSQL in a temporary folder
unless ``CONSENT_BENCH_DATABASE_URL`` is set), starts ``consent-svc serve``, drives
the chosen path with wrk (-t2 -c32, the same requests as bench/floor.py) while
py-spy samples the server process, then prints two tables from the samples:

* inclusive: the share of samples in which a function is on the stack (the
  cost of a step with everything it calls), for the project's own functions and
  the libraries' entry points;
* self: the share of samples whose innermost frame is the function.

py-spy is not a dependency of the project: install it anywhere (``pip install
--target /opt/pyspy py-spy``) and pass ``--py-spy /opt/pyspy/bin/py-spy`` or put
it on PATH. A profile is read as shares, not seconds: the samples say which
steps are worth removing, bench/floor.py says how fast the result is.
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
import uuid
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.decisions import BIN, PURPOSES, bench_tenant, email, free_port, seed, server_env
from bench.floor import RECORD_BODY, WRK, sealed, wait_ready, wrk_get_script, wrk_post_script
from consent_svc.store.embedded import EmbeddedPostgres


def frames_of(line: str) -> list[str]:
    """py-spy's raw format: ``frame;frame;...;frame count`` (outermost first)."""
    stack, _, _ = line.rpartition(" ")
    return stack.split(";")


def short(frame: str) -> str:
    """``function (path/to/module.py:line)`` -> ``module.py:function``."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0]
    parts = Path(file).parts
    module = "/".join(parts[parts.index("consent_svc") :]) if "consent_svc" in parts else Path(file).name
    return f"{module}:{name}"


def summarize(raw: Path, top: int) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        count = int(line.rpartition(" ")[2])
        frames = [short(f) for f in frames_of(line)]
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    out = [f"{total:,} samples", "", "| inclusive | function |", "|---|---|"]
    out += [f"| {100 * n / total:5.1f} % | {name} |" for name, n in inclusive.most_common(top)]
    out += ["", "| self | function |", "|---|---|"]
    out += [f"| {100 * n / total:5.1f} % | {name} |" for name, n in own.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", choices=["check", "record"])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "/opt/pyspy/bin/py-spy")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw samples here")
    args = parser.parse_args()
    if WRK is None:
        raise SystemExit("wrk is needed (Debian package wrk)")
    if not Path(args.py_spy).exists():
        raise SystemExit(f"py-spy not found at {args.py_spy} (pip install --target /opt/pyspy py-spy)")

    tmp = Path(tempfile.mkdtemp(prefix="consent-profile-"))
    embedded = None
    dsn = os.environ.get("CONSENT_BENCH_DATABASE_URL")
    if not dsn:
        embedded = EmbeddedPostgres(tmp / "data")
        dsn = embedded.start()
    env = server_env(dsn)
    server = None
    try:
        tenant_id, api_key = bench_tenant(env, "profile")
        port = free_port()
        server = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {api_key}"}
        wait_ready(f"{url}/readyz")
        for pkey, body in PURPOSES.items():
            httpx.put(f"{url}/v1/purposes/{pkey}", json=body, headers=auth).raise_for_status()
        asyncio.run(seed(dsn, tenant_id, args.people))
        asyncio.run(sealed(dsn))
        if args.path == "check":
            paths = [f"/v1/decisions?purpose=newsletter&channel=email&email={email(i * 7 % args.people)}"
                     for i in range(20_000)]  # fmt: skip
            script = wrk_get_script(paths, auth)
        else:
            script = wrk_post_script("/v1/events", auth, RECORD_BODY, "p" + uuid.uuid4().hex[:6])
        lua = tmp / "load.lua"
        lua.write_text(script)
        raw = args.raw or tmp / "samples.txt"
        load = subprocess.Popen(
            [WRK, "-t2", "-c32", f"-d{args.seconds + 4}s", "--timeout", "10s", "-s", str(lua), url],
            stdout=subprocess.PIPE,
            text=True,
        )
        subprocess.run(
            [args.py_spy, "record", "--pid", str(server.pid), "--duration", str(args.seconds), "--rate", "250",
             "--format", "raw", "--output", str(raw), "--nonblocking"],
            check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(Path(args.py_spy).parents[1])},
        )  # fmt: skip
        out, _ = load.communicate()
        result = next((line for line in out.splitlines() if line.startswith("RESULT")), "")
        if result:
            requests, duration_us = result.split()[1:3]
            print(f"{args.path}: {int(requests) / (int(duration_us) / 1e6):,.0f} requests/s under the profiler")
        print(summarize(raw, args.top))
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        if embedded is not None:
            embedded.release()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
