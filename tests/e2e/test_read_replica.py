"""Decisions read from a real streaming replica, and an unsubscribe still
blocks the very next decision: with the replica current, lagging (replay
paused) and stopped. Everything goes through a real ``consent-svc serve``
over HTTP; the routes taken are read from its metrics listener."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import NEWSLETTER
from tests.e2e.pgpair import Cluster, StreamingPair, start_service
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e
PEOPLE = 20


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    pair = StreamingPair().start()
    try:
        pair.psql(pair.primary, "CREATE DATABASE consent")
        yield pair
    finally:
        pair.close()


def routes(http: httpx.Client, server: Server) -> dict[str, float]:
    text = http.get(server.metrics_url).text
    pattern = r'^consent_decision_reads_total\{route="(\w+)"\} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.M)}


def decide(http: httpx.Client, server: Server, email: str) -> dict[str, object]:
    params = {"purpose": "newsletter", "channel": "email", "email": email}
    response = http.get(f"{server.url}/v1/decisions", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def unsubscribe(http: httpx.Client, server: Server, email: str) -> None:
    link = http.post(f"{server.url}/v1/unsubscribe-links", json={"email": email, "purpose": "newsletter"}).json()
    assert http.post(link["url"], data={"List-Unsubscribe": "One-Click"}).status_code == 200


def events_on(pair: StreamingPair, cluster: Cluster) -> int:
    return int(pair.psql(cluster, "SELECT count(*) FROM events", "consent"))


def test_unsubscribe_blocks_the_next_decision_read_from_a_replica(pair: StreamingPair, workdir: Path) -> None:
    server, key = start_service(
        workdir,
        CONSENT_DATABASE_URL=pair.primary.dsn("consent"),
        CONSENT_DATABASE_READ_URL=pair.replica.dsn("consent"),
        CONSENT_LOG_LEVEL="warning",
    )
    emails = [f"reader{i}@example.se" for i in range(PEOPLE)]
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            assert http.put(f"{server.url}/v1/purposes/newsletter", json=NEWSLETTER).status_code == 201
            batch = [
                {
                    "subject": {"email": e},
                    "type": "consent_given",
                    "purpose": "newsletter",
                    "proof": {"notice_version": "2026-03"},
                }
                for e in emails
            ]
            assert http.post(f"{server.url}/v1/events/batch", json={"events": batch}).status_code in (200, 201)
            assert http.get(f"{server.url}/readyz").json()["read_replica"] == "up"

            # 1. Replica current: each person is allowed, unsubscribes on the
            # primary, and the decision right after (served by the replica) is denied.
            for email in emails[:8]:
                assert decide(http, server, email)["allowed"] is True
                unsubscribe(http, server, email)
                answer = decide(http, server, email)
                assert (answer["allowed"], answer["reason"]) == (False, "suppressed"), answer
            seen = routes(http, server)
            assert seen.get("replica", 0) >= 16, seen  # the replica answered, it was not bypassed

            # 2. Replica lagging: replay paused, so the replica still holds the consent.
            pair.psql(pair.replica, "SELECT pg_wal_replay_pause()", "consent")
            before = routes(http, server).get("primary_replica_behind", 0)
            lagging = emails[8]
            unsubscribe(http, server, lagging)
            assert events_on(pair, pair.replica) < events_on(pair, pair.primary)
            answer = decide(http, server, lagging)
            assert (answer["allowed"], answer["reason"]) == (False, "suppressed"), answer
            assert routes(http, server).get("primary_replica_behind", 0) == before + 1
            assert decide(http, server, emails[9])["allowed"] is True  # the others still answered, from the primary
            pair.psql(pair.replica, "SELECT pg_wal_replay_resume()", "consent")

            # 3. Replica stopped: decisions read the primary, still right, and the service stays ready.
            pair.replica.stop()
            stopped = emails[10]
            unsubscribe(http, server, stopped)
            answer = decide(http, server, stopped)
            assert (answer["allowed"], answer["reason"]) == (False, "suppressed"), answer
            assert decide(http, server, emails[11])["allowed"] is True
            ready = http.get(f"{server.url}/readyz")
            assert (ready.status_code, ready.json()["read_replica"]) == (200, "down")
            assert routes(http, server).get("primary_replica_down", 0) >= 2

            # 4. Replica back: after the retry window, decisions read it again.
            pair.replica.start()
            pair.wait_streaming()
            time.sleep(5.2)  # consent_svc.store.reads.DOWN_SECONDS
            before = routes(http, server).get("replica", 0)
            for email in emails[12:16]:
                unsubscribe(http, server, email)
                answer = decide(http, server, email)
                assert (answer["allowed"], answer["reason"]) == (False, "suppressed"), answer
            assert routes(http, server).get("replica", 0) >= before + 4
            assert http.get(f"{server.url}/readyz").json()["read_replica"] == "up"
    finally:
        server.stop(signal.SIGTERM)
