"""docs/examples/roles.sql on a fresh database: the owner role migrates, the service runs as the
least-privilege role (record, decide, suppress, erase, the ledger sealer, the CLI), and that role can
change no schema."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from consent_svc.store.embedded import pg_bin
from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, create_database, drop_database, ok
from tests.e2e.server import BIN, Server, clean_env, cli, free_port

pytestmark = pytest.mark.e2e

ROLES_SQL = Path(__file__).resolve().parents[2] / "docs" / "examples" / "roles.sql"


def as_role(dsn: str, role: str, password: str) -> str:
    """The same server and database (a host in the address, or a socket folder in ?host=), as another role."""
    parts = urlsplit(dsn)
    netloc = f"{role}:{password}@{parts.netloc.rpartition('@')[2]}"
    # The superuser's password file holds no line for this role; the password is in the address.
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("passfile="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@dataclass
class Roles:
    owner: str  # DSNs
    app: str
    app_role: str


def run_psql(dsn: str, script: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """psql as the file's header says to run it (the package's own psql, so no client need be installed)."""
    psql = [str(pg_bin() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for name, value in variables.items():
        psql += ["-v", f"{name}={value}"]
    return subprocess.run(psql, input=script, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
async def roles(server_dsn: str) -> AsyncIterator[Roles]:
    """A new database with roles.sql applied, as the file says to (psql, as a superuser). Role names are
    cluster-wide, so this run's carry a suffix; the file is otherwise run as it is."""
    suffix = secrets.token_hex(4)
    owner, app = f"consent_owner_{suffix}", f"consent_app_{suffix}"
    dsn = await create_database(server_dsn)
    script = ROLES_SQL.read_text().replace("consent_owner", owner).replace("consent_app", app)
    passwords = {"owner_password": secrets.token_urlsafe(16), "app_password": secrets.token_urlsafe(16)}
    done = run_psql(dsn, script, passwords)
    try:
        assert done.returncode == 0, done.stderr
        yield Roles(
            owner=as_role(dsn, owner, passwords["owner_password"]),
            app=as_role(dsn, app, passwords["app_password"]),
            app_role=app,
        )
    finally:
        await drop_database(server_dsn, dsn)
        conn = await asyncpg.connect(server_dsn)
        try:
            for role in (app, owner):
                # Default privileges live in the (dropped) database; the roles hold nothing elsewhere.
                await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()


def env_for(dsn: str, **extra: str) -> dict[str, str]:
    return clean_env(
        CONSENT_DATABASE_URL=dsn,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
        **extra,
    )


@pytest.fixture
def migrated(roles: Roles, workdir: Path) -> Roles:
    # Before the owner migrates, the app role may not: a clear error, not a traceback.
    for command in (["migrate"], ["serve", "--port", str(free_port())]):
        refused = subprocess.run(
            [str(BIN), *command], env=env_for(roles.app), cwd=workdir, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 1, command
        assert "this database role may not change the schema" in refused.stderr, refused.stderr
        assert "consent-svc migrate" in refused.stderr
        assert "Traceback" not in refused.stderr
    cli(env_for(roles.owner), workdir, "migrate")
    return roles


def record_decide_suppress_erase(url: str, key: str) -> None:
    """What the service does day to day, over HTTP (a plain function: the server is another process)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api:
        ok(api.put("/v1/purposes/newsletter", json=NEWSLETTER))
        event = {
            "subject": {"email": "anna@example.se"},
            "type": "consent_given",
            "purpose": "newsletter",
            "channels": ["email"],
            "source": "web_form",
            "proof": {"notice_version": "2026-03", "form_url": "https://example.se/nyhetsbrev"},
        }
        ok(api.post("/v1/events", json=event))
        ask = {"purpose": "newsletter", "channel": "email", "email": "anna@example.se"}
        assert api.get("/v1/decisions", params=ask).json()["reason"] == "consent_active"
        ok(api.post("/v1/suppressions", json={"email": "anna@example.se", "reason": "complaint"}))
        assert api.get("/v1/decisions", params=ask).json()["reason"] == "suppressed"
        # The sealer (an UPDATE of the events' chain columns) works as this role.
        deadline = time.monotonic() + 20
        while (head := api.get("/v1/ledger/head").json())["position"] < 1:
            assert time.monotonic() < deadline, head
            time.sleep(0.2)
        [person] = api.get("/v1/subjects", params={"email": "anna@example.se"}).json()["items"]
        erased = api.request("DELETE", f"/v1/subjects/{person['id']}", json={"reason": "ticket 1"})
        assert erased.status_code == 200, erased.text
        assert erased.json()["events_erased"] == 1
        assert api.get("/v1/subjects", params={"email": "anna@example.se"}).json()["items"] == []
        assert api.get("/v1/ledger/verify").json()["ok"] is True
        # An opt-out register snapshot, imported and then replaced: rows only, no table made.
        for version, lines in (("2026-11-01", "0701234567\n"), ("2026-11-02", "0701234568\n")):
            snapshot = api.post(
                "/v1/registers/nix-telefon/snapshots",
                params={"version_date": version},
                content=lines.encode(),
                headers={"Content-Type": "text/csv"},
            )
            assert snapshot.status_code == 201, snapshot.text
        assert api.get("/v1/registers").json()["items"][0]["entries"] == 1


async def test_the_service_runs_as_the_least_privileged_role(migrated: Roles, workdir: Path) -> None:
    app_env = env_for(migrated.app, CONSENT_MIGRATE_ON_START="0")
    cli(app_env, workdir, "tenants", "create", "acme")
    key = cli(app_env, workdir, "keys", "create", "--tenant", "acme", "--scope", "admin").splitlines()[-1]
    # The default CONSENT_MIGRATE_ON_START=1 starts too: with nothing pending, migrating needs no right to.
    server = Server(env_for(migrated.app, CONSENT_LEDGER_SEAL_SECONDS="0.2"), workdir)
    try:
        record_decide_suppress_erase(server.url, key)
    finally:
        server.stop()
    # What the role cannot do: change the schema, or empty the ledger.
    conn = await asyncpg.connect(migrated.app)
    try:
        assert await conn.fetchval("SELECT current_user") == migrated.app_role
        for statement in (
            "CREATE TABLE intruder (id int)",
            "CREATE TEMPORARY TABLE intruder (id int)",
            "DROP TABLE events",
            "ALTER TABLE events DISABLE TRIGGER events_append_only",
            "TRUNCATE suppressions",
            "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
        # Recorded events stay append-only for it, as for everyone.
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("DELETE FROM events")
    finally:
        await conn.close()
