"""An unsubscribe through a link reaches a subscribed receiver within seconds, and survives a crash."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.receiver import Receiver
from tests.e2e.server import Server, clean_env

pytestmark = pytest.mark.e2e


def env_for(database: str, *, worker: bool) -> dict[str, str]:
    return clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
        CONSENT_WEBHOOK_ALLOW_PRIVATE="1",
        CONSENT_WEBHOOK_POLL_SECONDS="0.1",
        CONSENT_WEBHOOK_RETRY_BASE_SECONDS="0.2",
        CONSENT_WEBHOOK_WORKER="1" if worker else "0",
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def setup(server: Server, tenant: Tenant, receiver: Receiver, email: str) -> str:
    with httpx.Client(base_url=server.url, headers=tenant.auth()) as api:
        api.put("/v1/purposes/newsletter", json=NEWSLETTER)
        if not api.get("/v1/webhooks").json()["items"]:
            hook = api.post(
                "/v1/webhooks",
                json={"url": receiver.url, "events": ["consent.withdrawn", "objection.recorded", "suppression.added"]},
            )
            assert hook.status_code == 201, hook.text
            receiver.secret = hook.json()["secret"]
        api.post(
            "/v1/events",
            json={
                "subject": {"email": email},
                "type": "consent_given",
                "purpose": "newsletter",
                "proof": {"notice_version": "2026-03"},
            },
        ).raise_for_status()
        return str(api.post("/v1/unsubscribe-links", json={"email": email}).json()["url"])


def test_unsubscribe_survives_a_crash_and_arrives_within_seconds(
    database: str,
    tenant: Tenant,
    receiver: Receiver,
    workdir: Path,
) -> None:
    # 1. A server without a delivery worker commits the unsubscribe, then dies hard.
    quiet = Server(env_for(database, worker=False), workdir)
    try:
        url = setup(quiet, tenant, receiver, "crash@example.se")
        assert httpx.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    finally:
        quiet.stop(signal.SIGKILL)
    assert receiver.ids() == []

    # 2. After a restart the committed messages are delivered.
    server = Server(env_for(database, worker=True), workdir)
    try:
        got = receiver.wait_for(3, timeout=15)
        assert sorted(r.type for r in got) == ["consent.withdrawn", "objection.recorded", "suppression.added"]
        assert all(r.signature_ok for r in got)

        # 3. A live unsubscribe reaches the receiver within seconds.
        url = setup(server, tenant, receiver, "live@example.se")
        began = time.monotonic()
        assert httpx.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        got = receiver.wait_for(6, timeout=10)
        live = [r for r in got if r.body["data"].get("email") == "live@example.se"]
        assert len(live) == 3
        latency = max(r.at for r in live) - began
        assert latency < 5.0, latency
        print(f"unsubscribe to receiver: {latency * 1000:.0f} ms")
    finally:
        server.stop()
