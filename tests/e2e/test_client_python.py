"""The Python client (clients/python) against the real ``consent-svc serve``: a send list through
``decide_many`` in flat memory, ``record_many`` across a SIGKILL and restart of the server, the
suppression export paged to the end and resumed from a saved cursor, a real webhook delivery
verified, and the typed errors."""

from __future__ import annotations

import asyncio
import queue
import signal
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
import pytest
from consent_svc_client import (
    AsyncConsentClient,
    ConsentClient,
    EventIn,
    EventOut,
    InvalidInput,
    Proof,
    RetryPolicy,
    SubjectRef,
    Unauthorized,
    WebhookSignatureError,
)

from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.server import Server, clean_env

pytestmark = pytest.mark.e2e
# The suite's send list; bench/client_decide_many.py runs 1,000,000 (docs/performance.md).
SEND_LIST = 200_000


def _consent(email: str) -> EventIn:
    return EventIn(
        subject=SubjectRef(email=email),
        type="consent_given",
        purpose="newsletter",
        proof=Proof(notice_version="2026-03"),
    )


def _setup(server: Server, tenant: Tenant) -> None:
    httpx.put(f"{server.url}/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()).raise_for_status()


def _send_list(n: int) -> Iterator[dict[str, str]]:
    for i in range(n):
        if i % 50_000 == 7:
            yield {"email": "not-an-address"}
        else:
            yield {"email": f"r{i}@example.se"}


def test_decide_many_answers_a_long_list_in_order_in_flat_memory(external_server: Server, tenant: Tenant) -> None:
    _setup(external_server, tenant)
    consented = set(range(0, SEND_LIST, 997))
    with ConsentClient(external_server.url, tenant.keys["admin"]) as consent:
        results = list(consent.record_many(_consent(f"r{i}@example.se") for i in sorted(consented)))
        assert len(results) == len(consented)
        one = consent.decide("newsletter", "email", email="r0@example.se")
        assert one.allowed
        assert one.reason == "consent_active"
        assert one.evidence

        answers = consent.decide_many(_send_list(SEND_LIST), purpose="newsletter", channel="email")
        # Warm up (the first window allocates decoders and connections), then measure the rest.
        first = [next(answers) for _ in range(6_000)]
        tracemalloc.start()
        started = time.monotonic()
        try:
            allowed = {i for i, a in enumerate(first) if a.allowed}
            invalid = {i for i, a in enumerate(first) if a.reason == "invalid_identifier"}
            count = len(first)
            for i, answer in enumerate(answers, start=count):
                count += 1
                if answer.allowed:
                    allowed.add(i)
                elif answer.reason == "invalid_identifier":
                    assert answer.error is not None
                    invalid.add(i)
                else:
                    assert answer.reason == "no_consent", answer
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        seconds = time.monotonic() - started
    assert count == SEND_LIST
    assert allowed == consented  # in order: the allows sit exactly at the consented positions
    assert invalid == {i for i in range(SEND_LIST) if i % 50_000 == 7}
    # Holding the answers would take hundreds of MB; a window in flight takes a few.
    assert peak < 24 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB over {SEND_LIST:,} recipients"
    print(f"decide_many: {SEND_LIST:,} in {seconds:.1f} s, client peak {peak / 1e6:.1f} MB")


async def test_async_client_decides_records_and_exports(external_server: Server, tenant: Tenant) -> None:
    _setup(external_server, tenant)
    async with AsyncConsentClient(external_server.url, tenant.keys["admin"]) as consent:
        recorded = [e async for e in consent.record_many(_consent(f"a{i}@example.se") for i in range(30))]
        assert len({e.event_id for e in recorded}) == 30

        async def recipients() -> AsyncIterator[dict[str, str]]:
            for i in range(12_000):
                yield {"email": f"a{i}@example.se"}

        answers = [a async for a in consent.decide_many(recipients(), purpose="newsletter", channel="email")]
        assert [i for i, a in enumerate(answers) if a.allowed] == list(range(30))
        assert len(answers) == 12_000
        single = await consent.decide("newsletter", "email", email="a31@example.se")
        assert not single.allowed
        pages = [p async for p in consent.suppressions.export()]
        assert pages[-1].has_more is False


def test_record_many_across_a_killed_and_restarted_server(database: str, tenant: Tenant, workdir: Path) -> None:
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
    )
    server = Server(env, workdir)
    _setup(server, tenant)
    total, batch = 12_000, 500
    acknowledged: queue.Queue[EventOut] = queue.Queue()
    failure: list[BaseException] = []

    def send() -> None:
        retry = RetryPolicy(attempts=30, base_delay=0.2, max_delay=2.0)
        try:
            with ConsentClient(server.url, tenant.keys["record"], retry=retry, timeout=60) as consent:
                events = (_consent(f"k{i}@example.se") for i in range(total))
                for result in consent.record_many(events, batch_size=batch):
                    acknowledged.put(result)
        except BaseException as exc:
            failure.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    # Kill as soon as the first batch is answered: the next one is in flight.
    for _ in range(batch):
        acknowledged.get(timeout=120)
    server.stop(signal.SIGKILL)
    restarted = Server(env, workdir, port=server.port)
    try:
        sender.join(timeout=300)
        assert not sender.is_alive()
        assert not failure, failure
        assert acknowledged.qsize() == total - batch
    finally:
        restarted.stop()

    async def count() -> tuple[int, int, int]:
        conn = await asyncpg.connect(database)
        try:
            row = await conn.fetchrow(
                """SELECT count(*) AS events, count(DISTINCT idempotency_key) AS keys,
                          count(DISTINCT subject_id) AS subjects
                     FROM events WHERE tenant_id = $1""",
                tenant.id,
            )
            assert row is not None
            return int(row["events"]), int(row["keys"]), int(row["subjects"])
        finally:
            await conn.close()

    events, keys, subjects = asyncio.run(count())
    # Nothing lost, nothing twice: one event per person, each under its own key.
    assert (events, keys, subjects) == (total, total, total)


def test_suppression_export_pages_to_the_end_and_resumes(external_server: Server, tenant: Tenant) -> None:
    with httpx.Client(base_url=external_server.url, headers=tenant.auth()) as api:
        for i in range(25):
            api.post("/v1/suppressions", json={"email": f"s{i}@example.se", "reason": "complaint"}).raise_for_status()
    with ConsentClient(external_server.url, tenant.keys["check"]) as consent:
        pages = list(consent.suppressions.export(limit=10, format="plain"))
        assert [len(p.items) for p in pages] == [10, 10, 5]
        assert [p.has_more for p in pages] == [True, True, False]
        assert [item.email for p in pages for item in p.items] == [f"s{i}@example.se" for i in range(25)]
        # A sync that stopped after the first page resumes from its saved cursor, missing nothing.
        saved = pages[0].next_cursor
        resumed = [item.email for p in consent.suppressions.export(saved, limit=10, format="plain") for item in p.items]
        assert resumed == [f"s{i}@example.se" for i in range(10, 25)]
        # The last page's cursor is where the next sync starts: only what changed since.
        last = pages[-1].next_cursor
        assert last is not None
        with httpx.Client(base_url=external_server.url, headers=tenant.auth()) as api:
            api.post("/v1/suppressions", json={"email": "late@example.se", "reason": "unsubscribe"}).raise_for_status()
        later = list(consent.suppressions.export(last, format="plain"))
        assert [item.email for p in later for item in p.items] == ["late@example.se"]
        assert later[-1].items[0].active[0].reasons == ["unsubscribe"]


class _Capture(BaseHTTPRequestHandler):
    deliveries: queue.Queue[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.deliveries.put((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_webhook_verify_accepts_a_real_delivery(database: str, tenant: Tenant, workdir: Path) -> None:
    deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
    handler = type("Capture", (_Capture,), {"deliveries": deliveries})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
        CONSENT_WEBHOOK_ALLOW_PRIVATE="1",
        CONSENT_WEBHOOK_POLL_SECONDS="0.1",
    )
    server = Server(env, workdir)
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        with httpx.Client(base_url=server.url, headers=tenant.auth()) as api:
            hook = api.post("/v1/webhooks", json={"url": url, "events": ["suppression.added"]})
            assert hook.status_code == 201, hook.text
            secret = hook.json()["secret"]
            api.post("/v1/suppressions", json={"email": "hook@example.se", "reason": "complaint"}).raise_for_status()
        headers, body = deliveries.get(timeout=60)
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()
    with ConsentClient(server.url, tenant.keys["check"]) as consent:
        message = consent.webhooks.verify(headers, body, secret)
        assert message.type == "suppression.added"
        assert message.data["email"] == "hook@example.se"
        assert message.id == headers["Consent-Event-Id"]
        with pytest.raises(WebhookSignatureError, match="does not match"):
            consent.webhooks.verify(headers, body.replace(b"hook@", b"evil@"), secret)
        with pytest.raises(WebhookSignatureError, match="does not match"):
            consent.webhooks.verify(headers, body, "another-secret-0123456789")
        with pytest.raises(WebhookSignatureError, match="too old"):
            consent.webhooks.verify(headers, body, secret, tolerance=-1)


def test_errors_are_typed_with_the_problem_fields(external_server: Server, tenant: Tenant) -> None:
    _setup(external_server, tenant)
    with ConsentClient(external_server.url, tenant.keys["record"]) as consent:
        with pytest.raises(InvalidInput) as invalid:
            consent.record({"subject": {"email": "x@example.se"}, "type": "consent_given", "purpose": "newsletter"})
        assert invalid.value.status == 400
        assert [e.field for e in invalid.value.errors] == ["proof.notice_version"]
        assert invalid.value.type.endswith("/problems/400")
    with ConsentClient(external_server.url, "csk_not-a-key") as stranger, pytest.raises(Unauthorized) as denied:
        stranger.decide("newsletter", "email", email="x@example.se")
    assert denied.value.status == 401
