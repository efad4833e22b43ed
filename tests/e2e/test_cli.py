"""The command line as a newcomer meets it: which database a command uses, and what it says when
it cannot use one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_PEPPER, TEST_TOKEN_KEY
from tests.e2e.server import BIN, Server, clean_env, cli, free_port

pytestmark = pytest.mark.e2e


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_a_second_terminal_in_another_folder_is_refused_not_given_a_new_database(workdir: Path) -> None:
    served, elsewhere = workdir / "served", workdir / "elsewhere"
    served.mkdir()
    elsewhere.mkdir()
    server = Server(clean_env(CONSENT_LOG_LEVEL="warning"), served)  # terminal 1: ./data of its folder
    try:
        cli(clean_env(), served, "tenants", "create", "acme")
        # Terminal 2, another folder, no CONSENT_DATA_DIR: refused, and nothing created there.
        refused = run(clean_env(), elsewhere, "keys", "create", "--tenant", "acme", "--scope", "check")
        assert refused.returncode == 2
        assert f"no consent-svc database in {elsewhere / 'data'}" in refused.stderr
        assert "--init" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not (elsewhere / "data").exists()
        # Pointed at the server's folder, the key is one the running server knows.
        pointed = run(
            clean_env(CONSENT_DATA_DIR=str(served / "data")),
            elsewhere,
            "keys",
            "create",
            "--tenant",
            "acme",
            "--scope",
            "admin",
        )
        assert pointed.returncode == 0, pointed.stderr
        assert f"database: the embedded PostgreSQL in {served / 'data'}" in pointed.stderr
        answer = httpx.get(f"{server.url}/v1/purposes", headers={"Authorization": f"Bearer {pointed.stdout.strip()}"})
        assert answer.status_code == 200
    finally:
        server.stop()
    # Asked for, a new database is made.
    made = run(clean_env(), elsewhere, "tenants", "list", "--init")
    assert made.returncode == 0, made.stderr
    assert (elsewhere / "data" / "pg" / "PG_VERSION").exists()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://consent@127.0.0.1:{port}/consent", "cannot reach the database at 127.0.0.1:{port}/consent"),
        (
            "postgresql://postgres@nohost.invalid:5432/consent",
            "cannot reach the database at nohost.invalid:5432/consent",
        ),
    ],
)
def test_a_database_that_cannot_be_reached_is_one_line(workdir: Path, url: str, said: str) -> None:
    port = str(free_port())  # nothing listens there
    env = clean_env(
        CONSENT_DATABASE_URL=url.format(port=port),
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="error",
    )
    for command in (["serve", "--port", str(free_port())], ["migrate"], ["tenants", "list"]):
        done = run(env, workdir, *command)
        assert done.returncode == 1, (command, done.stderr)
        [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert error.startswith(f"error: {said.format(port=port)}: "), error
        assert "Traceback" not in done.stderr
        assert len(done.stderr.splitlines()) <= 2, done.stderr  # "database: ..." and the error


def test_brand_changes_only_the_fields_given(database: str, workdir: Path) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=database, CONSENT_PEPPER=TEST_PEPPER.decode(), CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode()
    )
    cli(env, workdir, "tenants", "create", "brand-cli")
    cli(
        env,
        workdir,
        "tenants",
        "brand",
        "brand-cli",
        "--display-name",
        "Acme",
        "--unsubscribe-mailto",
        "nej@example.se",
    )
    changed = run(
        env, workdir, "tenants", "brand", "brand-cli", "--color", "#112233", "--privacy-url", "https://a.se/p"
    )
    assert changed.returncode == 0, changed.stderr
    assert '"unsubscribe_mailto":"nej@example.se"' in changed.stderr  # kept, not nulled
    assert '"primary_color":"#112233"' in changed.stderr
    cleared = run(env, workdir, "tenants", "brand", "brand-cli", "--clear", "unsubscribe_mailto")
    assert '"unsubscribe_mailto":null' in cleared.stderr
    assert '"display_name":"Acme"' in cleared.stderr
    nothing = run(env, workdir, "tenants", "brand", "brand-cli")
    assert nothing.returncode == 2
    assert "nothing to change" in nothing.stderr


def test_a_platform_key_from_the_command_line_onboards_a_tenant_over_http(
    database: str, external_server: Server, workdir: Path
) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=database, CONSENT_PEPPER=TEST_PEPPER.decode(), CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode()
    )
    platform = cli(env, workdir, "keys", "create", "--platform", "--label", "kubernetes job")
    assert platform.startswith("csp_")
    headers = {"Authorization": f"Bearer {platform}"}
    tenant = httpx.post(f"{external_server.url}/v1/tenants", json={"name": "via-platform"}, headers=headers)
    assert tenant.status_code == 201, tenant.text
    key = httpx.post(
        f"{external_server.url}/v1/tenants/{tenant.json()['id']}/keys", json={"scope": "check"}, headers=headers
    ).json()["key"]
    assert (
        httpx.get(f"{external_server.url}/v1/purposes", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    listed = cli(env, workdir, "keys", "list", "--platform")
    assert "platform" in listed
    assert "kubernetes job" in listed
    no_scope = run(env, workdir, "keys", "create", "--tenant", "via-platform")
    assert no_scope.returncode == 1
    assert "--scope" in no_scope.stderr


def test_a_register_snapshot_imports_from_the_command_line(database: str, workdir: Path) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=database, CONSENT_PEPPER=TEST_PEPPER.decode(), CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode()
    )
    cli(env, workdir, "tenants", "create", "register-cli")
    snapshot = workdir / "nix.csv"
    snapshot.write_text("telefonnummer\n0701234567\n+46701234568\n")
    imported = run(
        env, workdir, "registers", "import", "nix-telefon", str(snapshot), "--version-date", "2026-11-01",
        "--tenant", "register-cli",
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "nix-telefon (phone): 2 entries from 2 lines, version 2026-11-01" in imported.stderr
    listed = cli(env, workdir, "registers", "list", "--tenant", "register-cli")
    assert listed.startswith("nix-telefon  phone  2026-11-01  2  ")
    snapshot.write_text("0701234567\n0701234\n")
    bad = run(
        env, workdir, "registers", "import", "nix-telefon", str(snapshot), "--version-date", "2026-11-02",
        "--tenant", "register-cli",
    )  # fmt: skip
    assert bad.returncode != 0
    assert "line[2]" in bad.stderr
    assert "0701234" not in bad.stderr.replace("0701234567", "")
    assert "Traceback" not in bad.stderr
