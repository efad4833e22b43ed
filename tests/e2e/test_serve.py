"""End to end: the real ``consent-svc serve`` process, spoken to over HTTP.

* The README tour on the embedded default (no database URL): a private
  PostgreSQL is started in a fresh data directory, the tour runs, SIGTERM
  stops the service and its PostgreSQL, and a restart finds the data.
* A 200,000-line NDJSON stream through a server that uses
  ``CONSENT_DATABASE_URL`` (the other way of running).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.duplex import ndjson_exchange
from tests.e2e.server import BIN, REPO, Server, clean_env, cli, postgres_running_in, readme_tour

pytestmark = pytest.mark.e2e


def test_readme_tour_on_the_embedded_default_survives_a_restart(workdir: Path) -> None:
    env = clean_env(CONSENT_DATA_DIR=str(workdir / "data"), CONSENT_LOG_FORMAT="json")
    server = Server(env, workdir)
    try:
        # The README's tour, word for word (only the port differs), run by bash from the checkout.
        done = subprocess.run(
            [shutil.which("bash") or "/bin/bash", "-euo", "pipefail", "-c", readme_tour(server.url)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        answers = [
            httpx.Response(200, content=line).json() for line in done.stdout.splitlines() if line.startswith("{")
        ]
        purpose, event, allowed, unknown, link, suppression, suppressed, batch = answers
        assert (purpose["key"], purpose["version"]) == ("newsletter", 1)
        assert set(event) == {"event_id", "subject_id", "recorded_at"}
        assert (allowed["allowed"], allowed["reason"], allowed["rule"]) == (True, "consent_active", "R7")
        assert allowed["evidence"] == [event["event_id"]]
        assert (unknown["allowed"], unknown["reason"]) == (False, "no_consent")
        assert link["url"].startswith(f"{server.url}/u/")
        assert link["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert suppression["reason"] == "complaint"
        assert (suppressed["allowed"], suppressed["reason"], suppressed["rule"]) == (False, "suppressed", "R1")
        assert [r["reason"] for r in batch["results"]] == ["suppressed", "no_consent", "invalid_identifier"]
    finally:
        assert server.stop(signal.SIGTERM) == 0
    # SIGTERM stopped the embedded PostgreSQL too.
    assert not postgres_running_in(workdir / "data")
    log = server.log.read_text()
    assert "anna@example.se" not in log  # no plaintext identifier in any log line
    lines = [httpx.Response(200, content=line).json() for line in log.splitlines() if line.startswith("{")]
    # Served on http (as here): serve warns once that one-click unsubscribe needs https (RFC 8058).
    assert [line["event"] for line in lines].count("public_url_not_https") == 1
    requests = [line for line in lines if line.get("event") == "request"]
    decision = next(line for line in requests if line["route"] == "/v1/decisions")
    assert decision["tenant"] == "acme"
    assert decision["status"] == 200
    assert {"request_id", "method", "duration_ms"} <= set(decision)

    # Secrets were generated once, private to the owner.
    for name in ("pepper", "token-key"):
        assert (workdir / "data" / "secrets" / name).stat().st_mode & 0o077 == 0

    again = Server(env, workdir)
    try:
        key = cli(env, workdir, "keys", "create", "--tenant", "acme", "--scope", "check")
        answer = httpx.get(
            f"{again.url}/v1/decisions",
            headers={"Authorization": f"Bearer {key}"},
            params={"purpose": "newsletter", "channel": "email", "email": "anna@example.se"},
        ).json()
        assert (answer["allowed"], answer["reason"]) == (False, "suppressed")
    finally:
        assert again.stop(signal.SIGINT) == 0
    assert not postgres_running_in(workdir / "data")


async def test_a_200000_line_stream_answers_in_order(external_server: Server, ctx: Context, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=external_server.url, headers=tenant.auth(), timeout=120) as http:
        assert (await http.put("/v1/purposes/newsletter", json=NEWSLETTER)).status_code == 201
        for i in (5, 199_999):
            body = {
                "subject": {"email": f"s{i}@example.se"},
                "type": "consent_given",
                "purpose": "newsletter",
                "proof": {"notice_version": "2026-03"},
            }
            assert (await http.post("/v1/events", json=body)).status_code == 201

    def lines() -> Iterator[bytes]:
        for start in range(0, 200_000, 10_000):
            yield "".join(f'{{"email":"s{i}@example.se"}}\n' for i in range(start, start + 10_000)).encode()
        yield b"not json\n"

    status, headers, stream = await ndjson_exchange(
        "127.0.0.1",
        external_server.port,
        "/v1/decisions/batch?purpose=newsletter&channel=email",
        {**tenant.auth(), "Content-Type": "application/x-ndjson", "Accept": "application/x-ndjson"},
        lines(),
    )
    assert status == 200
    assert headers["content-type"].startswith("application/x-ndjson")
    allowed: list[int] = []
    count = 0
    last: dict[str, Any] = {}
    async for line in stream:
        if not line:
            continue
        last = msgspec.json.decode(line)
        if last["allowed"]:
            allowed.append(count)
        count += 1
    assert count == 200_001
    assert allowed == [5, 199_999]
    assert last["reason"] == "invalid_identifier"


def test_staff_export_and_erase_from_the_command_line(database: str, tenant: Tenant, workdir: Path) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
    )
    server = Server(env, workdir)
    try:
        with httpx.Client(base_url=server.url, headers=tenant.auth()) as api:
            api.put("/v1/purposes/newsletter", json=NEWSLETTER).raise_for_status()
            api.post(
                "/v1/events",
                json={
                    "subject": {"email": "cli@example.se"},
                    "type": "consent_given",
                    "purpose": "newsletter",
                    "proof": {"notice_version": "2026-03"},
                },
            ).raise_for_status()
            # The server's own sealer chains the event within about a second.
            deadline = time.monotonic() + 10
            while api.get("/v1/ledger/head").json()["unsealed"] and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        server.stop()
    verified = msgspec.json.decode(cli(env, workdir, "ledger", "verify", "--tenant", tenant.name))
    assert (verified["ok"], verified["events"], verified["unsealed"]) == (True, 1, 0)
    planned = msgspec.json.decode(cli(env, workdir, "sweep", "--dry-run", "--tenant", tenant.name))
    assert (planned["dry_run"], planned["scanned"], planned["swept"]) == (True, 1, 0)
    exported = msgspec.json.decode(
        cli(env, workdir, "subjects", "export", "--tenant", tenant.name, "--email", "cli@example.se")
    )
    assert exported["format"] == "consent-svc.subject-export/1"
    assert [e["type"] for e in exported["events"]] == ["consent_given"]
    erase = ["subjects", "erase", "--tenant", tenant.name, "--email", "cli@example.se", "--reason", "ticket 1"]
    # Not a terminal and no --yes: it says what would go and refuses; --dry-run says it as JSON.
    asked = subprocess.run([str(BIN), *erase], env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert asked.returncode == 2
    assert "the content of 1 events" in asked.stderr
    assert "add --yes" in asked.stderr
    plan = msgspec.json.decode(cli(env, workdir, *erase, "--dry-run"))
    assert (plan["dry_run"], plan["erasure_id"], plan["events_erased"]) == (True, None, 1)
    receipt = msgspec.json.decode(cli(env, workdir, *erase, "--yes"))
    assert receipt["events_erased"] == 1
    assert receipt["reason"] == "ticket 1"
    done = subprocess.run(
        [str(BIN), "subjects", "export", "--tenant", tenant.name, "--email", "cli@example.se"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no subject" in done.stderr
