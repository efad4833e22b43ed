"""Starting the real ``consent-svc serve`` (and its CLI) as processes, for the end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

BIN = Path(sys.executable).parent / "consent-svc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}
    env["CONSENT_SWEEP_INTERVAL_SECONDS"] = "0"  # the periodic retention sweep is off in tests
    env["CONSENT_METRICS_PORT"] = "0"  # no metrics listener unless a test asks (on a free port: see Server)
    env.update(extra)
    return env


class Server:
    def __init__(self, env: dict[str, str], cwd: Path, *, metrics: bool = False, port: int | None = None) -> None:
        # A given port: a restarted server at the address its clients already use.
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # With metrics=True, the metrics listener on a free loopback port (metrics_url).
        self.metrics_port = free_port() if metrics else 0
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        env = {**env, "CONSENT_METRICS_PORT": str(self.metrics_port)} if metrics else env
        self.log = cwd / f"serve-{self.port}.log"
        # The child keeps its own copy of the descriptor; ours is closed at once.
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "--port", str(self.port)],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"serve did not become ready:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([str(BIN), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def postgres_running_in(data_dir: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(proc.info["cmdline"] or []):
            return True
    return False


REPO = Path(__file__).resolve().parents[2]


def readme_tour(api: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- tour:start -->", 1)[1].split("<!-- tour:end -->", 1)[0]
    script = block.split("```sh", 1)[1].rsplit("```", 1)[0]
    assert "API=http://127.0.0.1:8000" in script
    return script.replace("API=http://127.0.0.1:8000", f"API={api}")
