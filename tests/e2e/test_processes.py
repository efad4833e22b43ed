"""`consent-svc serve --processes 2`: two serving processes share one port on
the embedded default, both take connections, and SIGTERM to the parent stops
them and the embedded PostgreSQL."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.server import BIN, clean_env, free_port, postgres_running_in

pytestmark = pytest.mark.e2e


def busy_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def serving_children(pid: int) -> list[psutil.Process]:
    """The parent's `python -m consent_svc serve` children (not the short-lived
    helpers it runs while starting the embedded PostgreSQL)."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            command = child.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        if "consent_svc" in command and "serve" in command:
            found.append(child)
    return found


def listening(proc: psutil.Process, port: int) -> bool:
    try:
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in proc.net_connections("tcp"))
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False


def two_free_ports_in_a_row() -> int:
    for _ in range(50):
        first = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", first + 1))
            except OSError:
                continue
        return first
    raise AssertionError("no two free ports in a row")


def test_two_processes_share_the_port_and_stop_together(workdir: Path) -> None:
    port = free_port()
    metrics = two_free_ports_in_a_row()
    env = clean_env(
        CONSENT_DATA_DIR=str(workdir / "data"), CONSENT_LOG_LEVEL="warning", CONSENT_METRICS_PORT=str(metrics)
    )
    log = workdir / "serve.log"
    with log.open("wb") as out:
        parent = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), "--processes", "2"],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        children: list[psutil.Process] = []
        while time.monotonic() < deadline:
            assert parent.poll() is None, log.read_text()
            children = serving_children(parent.pid)
            if len(children) == 2 and all(listening(c, port) for c in children):
                break
            time.sleep(0.2)
        assert len(children) == 2, log.read_text()
        before = [busy_seconds(c) for c in children]
        # A new connection per request: the kernel spreads connections, not requests.
        for _ in range(200):
            with httpx.Client() as fresh:
                assert fresh.get(f"{base}/healthz").status_code == 200
        spent = [busy_seconds(c) - b for c, b in zip(children, before, strict=True)]
        assert all(s > 0.02 for s in spent), spent  # both processes served
        # Each process has its own metrics, on a port of its own: CONSENT_METRICS_PORT + i.
        assert sorted(p for p in (metrics, metrics + 1) for c in children if listening(c, p)) == [metrics, metrics + 1]
        for p in (metrics, metrics + 1):
            assert "consent_http_requests_total" in httpx.get(f"http://127.0.0.1:{p}/metrics").text

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0, log.read_text()
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
        assert not postgres_running_in(workdir / "data")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_processes_need_a_fixed_port(workdir: Path) -> None:
    env = clean_env(CONSENT_DATA_DIR=str(workdir / "data"))
    done = subprocess.run(
        [str(BIN), "serve", "--port", "0", "--processes", "2"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs a fixed --port" in done.stderr
