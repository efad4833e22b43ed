"""The edge of the real ``consent-svc serve`` process, over real sockets: the
metrics listener apart from the public port, the unknown-key budget (look-ups
counted by the server's own metrics), hostile input answered with 4xx and
logged without row data, and ``nosniff`` on every response.

The key guesser speaks from 127.0.0.2 (all of 127/8 is loopback on Linux), so
its spent budget is its own and the other requests, from 127.0.0.1, are not
affected."""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import subprocess
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import psutil
import pytest

from consent_svc.domain.identifiers import Hasher, normalize
from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.server import BIN, Server, clean_env, free_port
from tests.http.test_edge import SITE

pytestmark = pytest.mark.e2e

GUESSER = "127.0.0.2"
SECRET_NOTE = "do-not-log-this-note"


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("edge")
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_FORMAT="json",
    )
    server = Server(env, workdir, metrics=True)
    yield server
    server.stop()


def log_lines(server: Server) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]


def counter(server: Server, name: str) -> float:
    text = httpx.get(server.metrics_url).text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} not in the metrics"
    return float(found[1])


def test_metrics_are_served_on_their_own_loopback_listener_only(server: Server) -> None:
    public = httpx.get(f"{server.url}/metrics")
    assert public.status_code == 404
    assert "consent_http_requests_total" not in public.text
    metrics = httpx.get(server.metrics_url)
    assert metrics.status_code == 200
    assert metrics.headers["x-content-type-options"] == "nosniff"
    for name in ("consent_http_requests_total", "consent_api_key_lookups_total", "consent_webhook_outbox_pending"):
        assert name in metrics.text
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(server.proc.pid).net_connections("tcp")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", server.port), ("127.0.0.1", server.metrics_port)}
    assert f"metrics on http://127.0.0.1:{server.metrics_port}/metrics" in server.log.read_text()


def test_no_metrics_listener_with_port_0_and_a_clear_error_when_the_port_is_taken(
    database: str, tmp_path: Path
) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
    )
    without = Server(env, tmp_path)  # clean_env sets CONSENT_METRICS_PORT=0
    try:
        ports = {
            c.laddr.port
            for c in psutil.Process(without.proc.pid).net_connections("tcp")
            if c.status == psutil.CONN_LISTEN
        }
        assert ports == {without.port}
    finally:
        without.stop()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        taken_env = {**env, "CONSENT_METRICS_PORT": str(port)}
        done = subprocess.run(
            [str(BIN), "serve", "--port", str(free_port())],
            env=taken_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen for metrics on 127.0.0.1:{port}" in done.stderr
    assert "CONSENT_METRICS_PORT" in done.stderr


async def test_a_flood_of_unknown_keys_costs_at_most_the_budget_and_valid_keys_still_work(
    server: Server, tenant: Tenant
) -> None:
    decision = {"purpose": "newsletter", "channel": "email", "email": "flood@example.se"}
    async with httpx.AsyncClient(base_url=server.url, headers=tenant.auth()) as local:
        assert (await local.put("/v1/purposes/newsletter", json=NEWSLETTER)).status_code in (200, 201)
    transport = httpx.AsyncHTTPTransport(local_address=GUESSER)
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=30) as guesser:
        # The check key has verified from this address before the flood.
        assert (await guesser.get("/v1/decisions", params=decision, headers=tenant.auth("check"))).status_code == 200
        before = counter(server, "consent_api_key_lookups_total")
        started = time.monotonic()

        def guess(i: int) -> Awaitable[httpx.Response]:
            auth = {"Authorization": f"Bearer csk_guess{i:03}"}
            if i % 2:
                return guesser.get("/v1/decisions", params=decision, headers=auth)  # the fast path
            return guesser.get("/v1/purposes", headers=auth)  # the litestar route

        answers = await asyncio.gather(*(guess(i) for i in range(100)))
        statuses = [a.status_code for a in answers]
        assert set(statuses) == {401, 429}, statuses
        looked_up = counter(server, "consent_api_key_lookups_total") - before
        # A burst of 20, refilled at one a second: on a loaded machine the flood itself takes seconds.
        assert looked_up <= 20 + math.ceil(time.monotonic() - started), looked_up
        assert statuses.count(401) == looked_up
        assert counter(server, "consent_api_key_refusals_total") >= 80
        # A key that verified before still works from the guessing address, on both paths.
        assert (await guesser.get("/v1/decisions", params=decision, headers=tenant.auth("check"))).status_code == 200
        assert (await guesser.get("/v1/purposes", headers=tenant.auth("check"))).status_code == 200
        # The documented trade-off: a key this process never saw, from that address, waits for the budget
        # (spent again first: it refills while a loaded machine gets here).
        for i in range(3):
            await guesser.get("/v1/purposes", headers={"Authorization": f"Bearer csk_again{i}"})
        refused = await guesser.get("/v1/purposes", headers=tenant.auth("record"))
        assert refused.status_code == 429
        assert refused.headers["x-content-type-options"] == "nosniff"
    # From another address it is checked at once.
    async with httpx.AsyncClient(base_url=server.url) as local:
        assert (await local.get("/v1/purposes", headers=tenant.auth("record"))).status_code == 200


async def test_hostile_input_is_answered_4xx_and_logged_without_row_data(
    server: Server, tenant: Tenant, database: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=tenant.auth(), timeout=30) as api:
        assert (await api.put("/v1/purposes/newsletter", json=NEWSLETTER)).status_code in (200, 201)
        site = (await api.post("/v1/sites", json=SITE)).json()
        answers = {
            "newline purpose key": await api.put("/v1/purposes/newsletter%0A", json=NEWSLETTER),
            "upper-case purpose key": await api.put("/v1/purposes/Newsletter", json=NEWSLETTER),
            "newline colour": await api.put("/v1/branding", json={"primary_color": "#ffffff\n"}),
            "deep JSON, public": await api.post(
                f"/v1/banner/{site['site_key']}/consents",
                content=b"[" * 2000 + b"]" * 2000,
                headers={"Content-Type": "application/json", "Origin": "https://www.example.se", "Authorization": ""},
            ),
            "NUL in text": await api.post(
                "/v1/suppressions",
                json={"email": "nul@example.se", "reason": "complaint", "note": SECRET_NOTE + "\u0000"},
            ),
        }
        answers["unique race"] = await _rectify_into_a_concurrent_write(api, server, tenant, database)
    expected = {
        "newline purpose key": 400,
        "upper-case purpose key": 400,
        "newline colour": 400,
        "deep JSON, public": 400,
        "NUL in text": 400,
        "unique race": 409,
    }
    assert {name: a.status_code for name, a in answers.items()} == expected, {n: a.text for n, a in answers.items()}
    for answer in answers.values():
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert len(answer.content) < 1000

    log = _wait_for_log(server, "database refused a write")
    for leak in (
        SECRET_NOTE,
        "nul@example.se",
        "race@example.se",
        "DETAIL",
        "Failing row",
        "Key (",
        "Traceback",
        "RecursionError",
        "unhandled error",
    ):
        assert leak not in log, leak
    lines = log_lines(server)
    refused = [line for line in lines if line["event"] in ("database refused a write", "database refused a value")]
    assert {(line["exc_type"], line.get("constraint")) for line in refused} >= {
        ("UniqueViolationError", "subject_identifiers_pkey"),
        ("CharacterNotInRepertoireError", None),
    }
    assert all(
        set(line) <= {"event", "level", "timestamp", "route", "exc_type", "sqlstate", "constraint", "table", "column"}
        for line in refused
    ), refused
    statuses = {(line["route"], line["status"]) for line in lines if line["event"] == "request"}
    assert {
        ("/v1/purposes/{key}", 400),
        ("/v1/branding", 400),
        ("/v1/banner/{site_key}/consents", 400),
        ("/v1/suppressions", 400),
        ("/v1/subjects/{subject_id}", 409),
    } <= statuses
    assert not [line for line in lines if line["event"] == "request" and line["status"] >= 500]


async def _rectify_into_a_concurrent_write(
    api: httpx.AsyncClient, server: Server, tenant: Tenant, database: str
) -> httpx.Response:
    """PATCH a subject's email to one that another transaction is inserting at that moment:
    the PATCH checks the address is free, inserts, waits on the other's uncommitted row,
    and fails on the unique key when it commits."""
    first = await api.post("/v1/events", json={"subject": {"email": "first@example.se"}, "type": "lead_activity"})
    other = await api.post("/v1/events", json={"subject": {"external_id": "crm-9"}, "type": "lead_activity"})
    wanted = normalize("email", "race@example.se")
    racer = await asyncpg.connect(database)
    try:
        async with racer.transaction():
            await racer.execute(
                "INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value) "
                "VALUES ($1, $2, $3, 'email', $4)",
                tenant.id,
                Hasher(TEST_PEPPER).key(wanted),
                UUID(other.json()["subject_id"]),
                wanted.value,
            )
            patch = asyncio.ensure_future(
                api.patch(f"/v1/subjects/{first.json()['subject_id']}", json={"email": "race@example.se"})
            )
            deadline = time.monotonic() + 10
            while not patch.done() and time.monotonic() < deadline:
                waiting = await racer.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'consent-svc' AND wait_event_type = 'Lock'"
                )
                if waiting:
                    break
                await asyncio.sleep(0.01)
            assert not patch.done(), (await patch).text
        return await patch
    finally:
        await racer.close()


def _wait_for_log(server: Server, text: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = server.log.read_text()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged")


def test_every_response_says_nosniff(server: Server, tenant: Tenant) -> None:
    with httpx.Client(base_url=server.url) as http:
        http.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())
        link = http.post("/v1/unsubscribe-links", json={"email": "nosniff@example.se"}, headers=tenant.auth()).json()
        responses = [
            http.get("/healthz"),
            http.get("/nowhere"),
            http.get("/v1/purposes"),
            http.get(
                "/v1/decisions",
                headers=tenant.auth("check"),
                params={"purpose": "newsletter", "channel": "email", "email": "a@example.se"},
            ),
            http.get(link["url"].removeprefix(server.url)),
            http.get("/banner.js"),
            http.get("/schema/openapi.json"),
        ]
    for response in responses:
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], (response.url, response.status_code)
