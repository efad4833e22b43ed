"""Webhooks against a real local HTTP receiver: signed, in order, retried, never doubled by two workers."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from consent_svc.http.app import create_app, create_metrics_app
from consent_svc.jobs.delivery import DeliveryWorker
from consent_svc.service.context import Context
from consent_svc.webhook_signatures import SignatureError, sign, verify
from tests.conftest import NEWSLETTER, Tenant, ok
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e
ALL_TYPES = ["consent.given", "consent.withdrawn", "objection.recorded", "suppression.added", "suppression.lifted"]


@pytest.fixture
def wctx(ctx: Context) -> Context:
    """The test context with webhooks to loopback allowed and quick retries."""
    settings = dataclasses.replace(
        ctx.settings, webhook_allow_private=True, webhook_retry_base_seconds=0.01, webhook_poll_seconds=0.01
    )
    return dataclasses.replace(ctx, settings=settings)


@pytest.fixture
async def api(wctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(wctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


async def subscribe(api: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, **extra: object) -> dict[str, Any]:
    assert (await api.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())).status_code in (200, 201)
    response = await api.post(
        "/v1/webhooks", json={"url": receiver.url, "events": ALL_TYPES, **extra}, headers=tenant.auth()
    )
    assert response.status_code == 201, response.text
    hook = dict(response.json())
    receiver.secret = hook["secret"]
    return hook


def event(email: str, type_: str) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": {"email": email}, "type": type_}
    if type_ == "consent_given":
        body |= {"purpose": "newsletter", "proof": {"notice_version": "2026-03"}}
    return body


async def drain(worker: DeliveryWorker, until: float = 10.0) -> None:
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        if await worker.deliver_due() == 0:
            async with worker.ctx.pool.acquire() as conn:
                if not await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'"):
                    return
            await asyncio.sleep(0.02)


async def test_deliveries_arrive_signed_and_in_order(
    api: httpx.AsyncClient, wctx: Context, tenant: Tenant, receiver: Receiver
) -> None:
    hook = await subscribe(api, tenant, receiver)
    for type_ in ("consent_given", "consent_withdrawn", "objection"):
        assert (
            ok(await api.post("/v1/events", json=event("order@example.se", type_), headers=tenant.auth()))
        ).status_code == 201
    ok(
        await api.post(
            "/v1/suppressions", json={"email": "order@example.se", "reason": "unsubscribe"}, headers=tenant.auth()
        )
    )
    worker = DeliveryWorker(wctx)
    await drain(worker)
    await worker.close()
    got = receiver.wait_for(4)
    assert [r.type for r in got] == ["consent.given", "consent.withdrawn", "objection.recorded", "suppression.added"]
    assert all(r.signature_ok for r in got)
    assert got[0].body["data"]["email"] == "order@example.se"
    assert got[3].body["data"]["reason"] == "unsubscribe"
    deliveries = (await api.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=tenant.auth())).json()["items"]
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert sorted(d["id"] for d in deliveries) == sorted(r.id for r in got)


async def test_a_failing_receiver_gets_every_message_once_after_dedup(
    api: httpx.AsyncClient, wctx: Context, tenant: Tenant, receiver: Receiver
) -> None:
    await subscribe(api, tenant, receiver)
    receiver.fail_first = 7
    emails = [f"flaky{i}@example.se" for i in range(3)]
    for email in emails:
        for type_ in ("consent_given", "consent_withdrawn"):
            ok(await api.post("/v1/events", json=event(email, type_), headers=tenant.auth()))
    worker = DeliveryWorker(wctx)
    await drain(worker)
    await worker.close()
    got = receiver.wait_for(6)
    unique = {r.id for r in got}
    assert len(unique) == 6  # every message, each once after dedup by id
    for email in emails:  # and in order per subject
        types = [r.type for r in got if r.body["data"].get("email") == email]
        assert types == ["consent.given", "consent.withdrawn"]
    async with wctx.pool.acquire() as conn:
        attempts = await conn.fetchval("SELECT count(*) FROM webhook_attempts WHERE tenant_id = $1", tenant.id)
    assert attempts >= 6 + 7


async def test_two_workers_deliver_each_message_once(
    api: httpx.AsyncClient, wctx: Context, tenant: Tenant, receiver: Receiver
) -> None:
    await subscribe(api, tenant, receiver)
    events = [event(f"two{i}@example.se", t) for i in range(60) for t in ("consent_given", "consent_withdrawn")]
    assert (await api.post("/v1/events/batch", json={"events": events}, headers=tenant.auth())).status_code == 201
    first, second = DeliveryWorker(wctx, name="a"), DeliveryWorker(wctx, name="b")
    await asyncio.gather(drain(first), drain(second))
    await first.close()
    await second.close()
    ids = receiver.ids()
    assert len(ids) == 120
    assert len(set(ids)) == 120  # nothing sent twice
    for i in range(60):
        types = [r.type for r in receiver.received if r.body["data"].get("email") == f"two{i}@example.se"]
        assert types == ["consent.given", "consent.withdrawn"]


async def test_dead_letter_and_redeliver(
    api: httpx.AsyncClient, wctx: Context, tenant: Tenant, receiver: Receiver
) -> None:
    async def dead_gauge() -> float:
        # The gauge counts every tenant's dead messages; the shared test database has others', and this
        # test's worker (with a 1 s retry window) also gives up on what other tests left pending.
        app = create_metrics_app(wctx)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as m:
            text = (await m.get("/metrics")).text
        return float(
            next(line for line in text.splitlines() if line.startswith("consent_webhook_outbox_dead ")).split()[1]
        )

    hook = await subscribe(api, tenant, receiver)
    receiver.always_fail = True
    before = await dead_gauge()
    ok(await api.post("/v1/events", json=event("dead@example.se", "consent_given"), headers=tenant.auth()))
    short = dataclasses.replace(wctx, settings=dataclasses.replace(wctx.settings, webhook_retry_window_seconds=1.0))
    worker = DeliveryWorker(short)
    await drain(worker, until=5.0)
    dead = (
        await api.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "dead"}, headers=tenant.auth())
    ).json()["items"]
    assert len(dead) == 1
    assert dead[0]["attempts"] >= 2
    assert dead[0]["last_error"] == "HTTP 500"
    async with wctx.pool.acquire() as conn:
        dead_everywhere = await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'dead'")
    assert await dead_gauge() == dead_everywhere >= before + 1
    receiver.always_fail = False
    url = f"/v1/webhooks/{hook['id']}/deliveries/{dead[0]['id']}/redeliver"
    assert (await api.post(url, headers=tenant.auth())).status_code == 202
    await drain(worker)
    await worker.close()
    assert receiver.ids() == [dead[0]["id"]]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "https://10.0.0.1/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://192.168.1.10/x",
        "ftp://example.org/x",
        "https://user:pw@127.0.0.1/x",
        # IPv6 forms that carry a private IPv4 address: NAT64, 6to4, IPv4-mapped, IPv4-compatible
        "https://[64:ff9b::a9fe:a9fe]/latest",
        "https://[2002:7f00:1::1]/x",
        "https://[::ffff:10.0.0.1]/x",
        "https://[::127.0.0.1]/x",
        # a public address, but a port that is not a receiver's
        "https://93.184.216.34:22/x",
        "https://93.184.216.34:6379/x",
    ],
)
async def test_ssrf_targets_are_refused(client: httpx.AsyncClient, tenant: Tenant, url: str) -> None:
    """The default settings (no private targets): every internal address is refused at creation."""
    response = await client.post("/v1/webhooks", json={"url": url, "events": ["consent.given"]}, headers=tenant.auth())
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "url"


async def test_webhook_validation_and_isolation(
    api: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, ctx: Context
) -> None:
    from tests.conftest import make_tenant

    bad = await api.post("/v1/webhooks", json={"url": receiver.url, "events": ["cake.baked"]}, headers=tenant.auth())
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "events"
    hook = await subscribe(api, tenant, receiver)
    listed = await api.get("/v1/webhooks", headers=tenant.auth())
    assert listed.status_code == 200, listed.text
    assert [h["id"] for h in listed.json()["items"]] == [hook["id"]]
    assert "secret" not in listed.json()["items"][0]
    other = await make_tenant(ctx)
    assert (await api.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=other.auth())).status_code == 404
    assert (await api.delete(f"/v1/webhooks/{hook['id']}", headers=other.auth())).status_code == 404
    assert (await api.delete(f"/v1/webhooks/{hook['id']}", headers=tenant.auth())).status_code == 204
    assert (await api.get("/v1/webhooks", headers=tenant.auth())).json() == {"items": [], "next_cursor": None}


def test_receiver_helper_rejects_forgeries_and_replays() -> None:
    body = b'{"id":"1"}'
    header = sign("s3cret-s3cret-s3cret", body, timestamp=1_000_000)
    assert verify("s3cret-s3cret-s3cret", header, body, now=1_000_010) == 1_000_000
    for bad_header, bad_body, now in [
        (header, b'{"id":"2"}', 1_000_010),  # body changed
        (header.replace("v1=", "v1=0"), body, 1_000_010),  # signature changed
        (header, body, 1_000_000 + 301),  # replayed after 5 minutes
        ("", body, 1_000_010),
    ]:
        with pytest.raises(SignatureError):
            verify("s3cret-s3cret-s3cret", bad_header, bad_body, now=now)
