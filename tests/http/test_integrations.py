"""Provider integrations over HTTP (the ASGI app against the suite's PostgreSQL): the admin API,
secrets write-only and sealed at rest, what feedback may and may not change, SNS certificates
and subscription confirmation against a fake SNS on loopback, and the push worker's order."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from consent_svc.config import Secret
from consent_svc.http.app import create_app
from consent_svc.http.inbound import InboundState
from consent_svc.jobs.provider_sync import SyncWorker
from consent_svc.service import integrations
from consent_svc.service.context import Context
from consent_svc.service.sealing import Sealer
from tests.conftest import NEWSLETTER, Tenant, make_tenant, ok, put_purpose
from tests.integrations.conftest import FakeProvider, SendGridSigner, fixture, loopback_client, make_sns_signer

pytestmark = pytest.mark.asyncio

TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"


@pytest.fixture
def signer() -> SendGridSigner:
    return SendGridSigner(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    started = FakeProvider().start()
    yield started
    started.stop()


async def create(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/integrations", json=body, headers=tenant.auth())
    assert response.status_code == 201, response.text
    return dict(response.json())


def sendgrid(signer: SendGridSigner, **extra: Any) -> dict[str, Any]:
    settings = {"verification_key": signer.verification_key, **extra.pop("settings", {})}
    return {"provider": "sendgrid", "name": "SendGrid", "settings": settings, **extra}


def events(now: int, *items: tuple[str, str, str], group: int | None = None) -> bytes:
    """A SendGrid batch: (sg_event_id, event, email) each, at ``now``."""
    out = []
    for event_id, name, email in items:
        event: dict[str, Any] = {"email": email, "timestamp": now, "event": name, "sg_event_id": event_id}
        if name == "bounce":
            event["type"] = "bounce"
        if group is not None:
            event["asm_group_id"] = group
        out.append(event)
    return json.dumps(out).encode()


async def post_in(
    client: httpx.AsyncClient, integration: dict[str, Any], signer: SendGridSigner, body: bytes
) -> httpx.Response:
    now = int(time.time())
    return await client.post(f"/in/{integration['id']}", content=body, headers=signer.headers(body, now))


async def decide(
    client: httpx.AsyncClient, tenant: Tenant, email: str, purpose: str = "newsletter"
) -> tuple[bool, str]:
    response = await client.get(
        "/v1/decisions", params={"purpose": purpose, "channel": "email", "email": email}, headers=tenant.auth("check")
    )
    assert response.status_code == 200, response.text
    return response.json()["allowed"], response.json()["reason"]


async def active(client: httpx.AsyncClient, tenant: Tenant, email: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/suppressions", params={"email": email}, headers=tenant.auth())
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# --- the admin API ------------------------------------------------------------------------------


async def test_secrets_are_write_only_and_sealed_at_rest(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, signer: SendGridSigner
) -> None:
    await put_purpose(client, tenant)
    made = await create(
        client,
        tenant,
        sendgrid(
            signer,
            purposes={"10": "newsletter"},
            sync_suppressions=True,
            settings={"api_key": "SG.very-secret-api-key"},
        ),
    )
    assert made["settings"] == {"verification_key": signer.verification_key, "api_key": "***"}
    assert made["inbound_url"] == f"http://testserver/in/{made['id']}"
    for answer in (
        await client.get(f"/v1/integrations/{made['id']}", headers=tenant.auth()),
        await client.get("/v1/integrations", headers=tenant.auth()),
    ):
        assert answer.status_code == 200
        assert "very-secret" not in answer.text
        assert '"api_key":"***"' in answer.text
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM integrations WHERE id = $1", UUID(made["id"]))
        dump = await conn.fetchval("SELECT string_agg(t::text, '|') FROM integrations t WHERE id = $1", row["id"])
    assert b"very-secret" not in bytes(row["sealed_secrets"])
    assert "very-secret" not in dump
    assert row["settings"]["api_key"] == "***"  # shown as stored: reading an integration opens nothing
    # Sealed to its row: opened with the service's key and this row's ids, and nothing else.
    sealer = Sealer([], ctx.settings.pepper.reveal())
    associated = b"integration secrets|" + tenant.id.bytes + row["id"].bytes
    assert json.loads(sealer.open(bytes(row["sealed_secrets"]), associated)) == {"api_key": "SG.very-secret-api-key"}
    with pytest.raises(Exception, match="no key"):
        sealer.open(bytes(row["sealed_secrets"]), b"integration secrets|" + tenant.id.bytes + tenant.id.bytes)
    with pytest.raises(Exception, match="no key"):
        Sealer([], b"another pepper 0123456789abcdef0123456789").open(bytes(row["sealed_secrets"]), associated)


async def test_a_configured_key_seals_and_reseal_moves_old_secrets_to_it(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, signer: SendGridSigner
) -> None:
    made = await create(client, tenant, sendgrid(signer, settings={"api_key": "SG.rotate-me"}))
    rotated = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, encryption_keys=(Secret(b"k" * 40),)))
    # The old sealing (pepper-derived) still opens under the new configuration ...
    view = await integrations.get(rotated, tenant.id, UUID(made["id"]))
    assert view.row.settings["api_key"] == "***"
    sealed_again, _current = await integrations.reseal_all(rotated)
    assert sealed_again >= 1
    async with ctx.pool.acquire() as conn:
        sealed = bytes(await conn.fetchval("SELECT sealed_secrets FROM integrations WHERE id = $1", UUID(made["id"])))
    box = Sealer([b"k" * 40], ctx.settings.pepper.reveal())
    assert box.sealed_with_current(sealed)
    # ... and after the reseal, only the new key opens it: the pepper alone no longer does.
    assert Sealer([], ctx.settings.pepper.reveal()).sealed_with_current(sealed) is False
    assert (await integrations.get(rotated, tenant.id, UUID(made["id"]))).row.id == UUID(made["id"])

    # Without that key (here: the pepper alone), the integration still reads, but feedback to it is 503.
    lost = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, encryption_keys=()))
    assert (await integrations.get(lost, tenant.id, UUID(made["id"]))).row.settings["api_key"] == "***"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(lost)), base_url="http://testserver"
    ) as other:
        body = events(int(time.time()), ("s1", "bounce", "sam@example.com"))
        answer = await post_in(other, made, signer, body)
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "60")
    assert answer.json()["detail"] == "the integration's secrets cannot be read now; the operator is told"
    assert await active(client, tenant, "sam@example.com") == []


async def test_settings_purposes_and_scopes_are_checked(
    client: httpx.AsyncClient, tenant: Tenant, signer: SendGridSigner
) -> None:
    await put_purpose(client, tenant)
    cases = [
        ({"provider": "sendgrid", "name": "x", "settings": {"verification_key": "nope"}}, "settings.verification_key"),
        (sendgrid(signer, sync_suppressions=True), "settings.api_key"),
        (sendgrid(signer, purposes={"10": "unknown"}), "purposes.10"),
        (sendgrid(signer, purposes={"news": "newsletter"}), "purposes.news"),
        (sendgrid(signer, settings={"api_base_url": "http://192.0.2.1/"}), "settings.api_base_url"),
        (sendgrid(signer, settings={"extra": 1}), "settings"),  # the message names the field
        (
            {"provider": "twilio", "name": "t", "settings": {"auth_token": "x"}, "sync_suppressions": True},
            "sync_suppressions",
        ),
        ({"provider": "postmark", "name": "p", "settings": {"username": "me"}}, "settings.username"),
        ({"provider": "ses", "name": "s", "settings": {"topic_arns": ["not-an-arn"]}}, "settings.topic_arns[0]"),
        ({"provider": "mailjet", "name": "m"}, "provider"),
    ]
    for body, field in cases:
        response = await client.post("/v1/integrations", json=body, headers=tenant.auth())
        assert response.status_code == 400, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (body, response.json())
    assert (await client.get("/v1/integrations", headers=tenant.auth())).json() == {"items": [], "next_cursor": None}
    for scope in ("check", "record"):
        response = await client.post("/v1/integrations", json=sendgrid(signer), headers=tenant.auth(scope))
        assert response.status_code == 403


async def test_list_get_patch_delete(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, signer: SendGridSigner
) -> None:
    await put_purpose(client, tenant)
    first = await create(client, tenant, sendgrid(signer, settings={"api_key": "SG.one"}))
    second = await create(client, tenant, {"provider": "twilio", "name": "SMS", "settings": {"auth_token": "tok"}})
    page = (await client.get("/v1/integrations", params={"limit": 1}, headers=tenant.auth())).json()
    assert [i["id"] for i in page["items"]] == [first["id"]]
    assert page["next_cursor"]
    rest = await client.get("/v1/integrations", params={"cursor": page["next_cursor"]}, headers=tenant.auth())
    assert [i["id"] for i in rest.json()["items"]] == [second["id"]]
    assert rest.json()["next_cursor"] is None

    url = f"/v1/integrations/{first['id']}"
    # A secret not named is kept; one read back as "***" is kept; null removes a field.
    patched = ok(
        await client.patch(
            url,
            json={"name": "Renamed", "purposes": {"7": "newsletter"}, "settings": {"api_key": "***"}},
            headers=tenant.auth(),
        )
    ).json()
    assert (patched["name"], patched["purposes"], patched["settings"]["api_key"]) == (
        "Renamed",
        {"7": "newsletter"},
        "***",
    )
    assert (await _opened(ctx, tenant, first["id"])).api_key == "SG.one"
    ok(
        await client.patch(
            url,
            json={"settings": {"api_key": "SG.two", "api_base_url": "https://api.eu.sendgrid.com"}},
            headers=tenant.auth(),
        )
    )
    assert (await _opened(ctx, tenant, first["id"])).api_key == "SG.two"
    cleared = ok(await client.patch(url, json={"settings": {"api_base_url": None}}, headers=tenant.auth())).json()
    assert "api_base_url" not in cleared["settings"]
    bad = await client.patch(
        url, json={"sync_suppressions": True, "settings": {"api_key": None}}, headers=tenant.auth()
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "settings.api_key"
    assert (await client.patch(url, json={"regenerate_credentials": True}, headers=tenant.auth())).status_code == 400

    other = await make_tenant(ctx)
    assert (await client.get(url, headers=other.auth())).status_code == 404
    assert (await client.delete(url, headers=other.auth())).status_code == 404
    assert (await client.delete(url, headers=tenant.auth())).status_code == 204
    assert (await client.get(url, headers=tenant.auth())).status_code == 404
    assert (await client.delete(url, headers=tenant.auth())).status_code == 404
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT sealed_secrets FROM integrations WHERE id = $1", UUID(first["id"])) is None


async def _opened(ctx: Context, tenant: Tenant, integration_id: str) -> Any:
    """The integration's settings as the service opens them (secrets included)."""
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM integrations WHERE id = $1", UUID(integration_id))
    return integrations.settings_of(
        ctx, row["provider"], tenant.id, row["id"], row["settings"], bytes(row["sealed_secrets"])
    )


async def test_postmark_credentials_are_shown_once_and_can_be_regenerated(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    made = await create(client, tenant, {"provider": "postmark", "name": "Postmark"})
    first = made["credentials"]
    assert first["webhook_url"] == made["inbound_url"].replace(
        "http://", f"http://{first['username']}:{first['password']}@"
    )
    url = f"/in/{made['id']}"
    bounce = fixture("postmark_bounce.json")
    assert (await client.post(url, content=bounce, auth=(first["username"], first["password"]))).status_code == 200
    again = ok(
        await client.patch(
            f"/v1/integrations/{made['id']}", json={"regenerate_credentials": True}, headers=tenant.auth()
        )
    ).json()["credentials"]
    assert again["password"] != first["password"]
    refused = await client.post(url, content=bounce, auth=(first["username"], first["password"]))
    assert refused.status_code == 401
    assert (await client.post(url, content=bounce, auth=(again["username"], again["password"]))).status_code == 200


async def test_clients_cannot_write_provider_proof_or_the_integration_source(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await put_purpose(client, tenant)
    proof = {
        "provider": "sendgrid",
        "integration_id": "0190b8a0-0000-7000-8000-000000000000",
        "event_id": "e",
        "provider_event": "unsubscribe",
        "occurred_at": "2026-01-01T00:00:00Z",
        "payload_sha256": "0" * 64,
    }
    event = {"subject": {"email": "a@example.com"}, "type": "objection", "proof": {"provider_feedback": proof}}
    response = await client.post("/v1/events", json=event, headers=tenant.auth())
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "proof.provider_feedback"
    event = {"subject": {"email": "a@example.com"}, "type": "objection", "source": "integration"}
    response = await client.post("/v1/events/batch", json={"events": [event]}, headers=tenant.auth())
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events[0].source"


# --- feedback can only make decisions stricter ------------------------------------------------


async def test_a_resubscribe_lifts_only_what_this_integration_made(
    client: httpx.AsyncClient, tenant: Tenant, signer: SendGridSigner
) -> None:
    await put_purpose(client, tenant)
    made = await create(client, tenant, sendgrid(signer, purposes={"10": "newsletter"}))
    now = int(time.time())
    # The person unsubscribed through consent-svc's own link path (an API entry) and at SendGrid.
    ok(
        await client.post(
            "/v1/suppressions",
            json={"email": "eva@example.com", "scope": "newsletter", "reason": "unsubscribe"},
            headers=tenant.auth(),
        )
    )
    body = events(now, ("u1", "group_unsubscribe", "eva@example.com"), group=10)
    assert (await post_in(client, made, signer, body)).json()["applied"] == 1
    assert len(await active(client, tenant, "eva@example.com")) == 1  # the same entry: idempotent per reason
    body = events(now + 1, ("r1", "group_resubscribe", "eva@example.com"), group=10)
    assert (await post_in(client, made, signer, body)).json()["applied"] == 1
    (kept,) = await active(client, tenant, "eva@example.com")
    assert kept["source"] is None  # the API's entry stays
    assert await decide(client, tenant, "eva@example.com") == (False, "suppressed")
    log = (await client.get(f"/v1/integrations/{made['id']}/feedback", headers=tenant.auth())).json()["items"]
    assert [i["kind"] for i in log] == ["resubscribe", "unsubscribe"]  # newest first
    assert log[0]["lifted_ids"] == []
    assert "nothing of this integration's to lift" in log[0]["outcome"]
    assert "already there" in log[1]["outcome"]


async def test_an_unmapped_group_unsubscribes_from_all_direct_marketing(
    client: httpx.AsyncClient, tenant: Tenant, signer: SendGridSigner
) -> None:
    await put_purpose(client, tenant)
    await put_purpose(client, tenant, "offers", {**NEWSLETTER, "title": {"sv": "Erbjudanden", "en": "Offers"}})
    made = await create(client, tenant, sendgrid(signer, purposes={"10": "newsletter"}))
    now = int(time.time())
    body = events(now, ("g1", "group_unsubscribe", "ulf@example.com"), group=99)
    assert (await post_in(client, made, signer, body)).json()["applied"] == 1
    (entry,) = await active(client, tenant, "ulf@example.com")
    assert (entry["scope"], entry["reason"]) == ("all", "unsubscribe")
    body = events(now, ("g2", "group_unsubscribe", "vera@example.com"), group=10)
    assert (await post_in(client, made, signer, body)).json()["applied"] == 1
    (entry,) = await active(client, tenant, "vera@example.com")
    assert entry["scope"] == "newsletter"


async def test_a_batch_applies_its_events_and_a_malformed_body_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, signer: SendGridSigner
) -> None:
    made = await create(client, tenant, sendgrid(signer))
    now = int(time.time())
    items = [(f"b{i}", "bounce", f"p{i}@example.com") for i in range(300)]
    answer = await post_in(client, made, signer, events(now, *items))
    assert answer.json()["applied"] == 300
    assert (await active(client, tenant, "p299@example.com"))[0]["reason"] == "hard_bounce"
    bad = await post_in(client, made, signer, b'{"not": "a batch"}')
    assert bad.status_code == 400


async def test_forgeries_meet_a_limit_per_address(ctx: Context, tenant: Tenant, signer: SendGridSigner) -> None:
    def still() -> float:
        return 0.0

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(ctx, clock=still)), base_url="http://testserver"
    ) as client:
        made = await create(client, tenant, sendgrid(signer))
        body = events(int(time.time()), ("f", "bounce", "x@example.com"))
        statuses = [(await client.post(f"/in/{made['id']}", content=body)).status_code for _ in range(61)]
        assert statuses == [401] * 60 + [429]
        # A verified delivery is refused too once the address spent its budget: it is the address that is limited.
        assert (await post_in(client, made, signer, body)).status_code == 429


# --- SES: the certificate from a fake SNS, subscription confirmation ---------------------------


@pytest.fixture
async def sns_client(ctx: Context) -> AsyncIterator[tuple[httpx.AsyncClient, FakeProvider, Any]]:
    """An app whose provider-side HTTP client reaches a fake SNS on loopback whatever the URL."""
    signer = make_sns_signer()
    fake = FakeProvider(answer_body=signer.certificate_pem).start()
    outward = loopback_client(fake)
    app = create_app(ctx, inbound_state=InboundState(client=outward))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            yield client, fake, signer
    finally:
        await outward.aclose()
        fake.stop()


def sns(message: dict[str, Any]) -> dict[str, str]:
    return {"x-amz-sns-message-type": message["Type"]}


async def test_sns_confirms_the_subscription_and_fetches_the_certificate_once(
    sns_client: tuple[httpx.AsyncClient, FakeProvider, Any], tenant: Tenant
) -> None:
    client, fake, signer = sns_client
    made = await create(client, tenant, {"provider": "ses", "name": "SES", "settings": {"topic_arns": [TOPIC]}})
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    confirmation = json.loads(fixture("sns_subscription_confirmation.json"))
    confirmation.update(Timestamp=stamp, TopicArn=TOPIC)
    confirmation["SigningCertURL"] = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem"
    confirmation["SubscribeURL"] = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
    signed = signer.sign(confirmation)
    answer = await client.post(f"/in/{made['id']}", content=json.dumps(signed), headers=sns(signed))
    assert answer.status_code == 200, answer.text
    assert answer.json()["subscription_confirmed"] is True
    fetched = [(r.method, r.headers["x-intended-url"]) for r in fake.received]
    assert fetched == [
        ("GET", "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem"),
        ("GET", "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=abc"),
    ]
    message = json.loads(fixture("sns_notification.json"))
    message.update(
        Timestamp=stamp,
        TopicArn=TOPIC,
        Message=fixture("ses_complaint.json").decode(),
        SigningCertURL="https://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
    )
    signed = signer.sign(message)
    answer = await client.post(f"/in/{made['id']}", content=json.dumps(signed), headers=sns(signed))
    assert answer.json()["applied"] == 1
    assert len(fake.received) == 2  # the certificate came from the cache
    # A certificate on a host that is not SNS is refused before anything is fetched.
    signed = signer.sign(
        {**message, "MessageId": "m-9", "SigningCertURL": "https://sns.us-west-2.amazonaws.com.attacker.example/x.pem"}
    )
    answer = await client.post(f"/in/{made['id']}", content=json.dumps(signed), headers=sns(signed))
    assert answer.status_code == 401
    assert len(fake.received) == 2


async def test_an_unreachable_sns_certificate_is_503_and_changes_nothing(
    sns_client: tuple[httpx.AsyncClient, FakeProvider, Any], tenant: Tenant
) -> None:
    client, fake, signer = sns_client
    fake.default = 500
    made = await create(client, tenant, {"provider": "ses", "name": "SES", "settings": {"topic_arns": [TOPIC]}})
    message = json.loads(fixture("sns_notification.json"))
    message.update(
        Timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        TopicArn=TOPIC,
        Message=fixture("ses_complaint.json").decode(),
    )
    signed = signer.sign(message)
    answer = await client.post(f"/in/{made['id']}", content=json.dumps(signed), headers=sns(signed))
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "60"
    assert await active(client, tenant, "richard@example.com") == []


# --- the push worker ----------------------------------------------------------------------------


async def test_the_worker_pushes_in_order_and_a_refusal_is_dead_at_once(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, signer: SendGridSigner, fake: FakeProvider
) -> None:
    allow = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, webhook_allow_private=True))
    made = await create(
        client,
        tenant,
        sendgrid(signer, sync_suppressions=True, settings={"api_key": "SG.k", "api_base_url": fake.base_url}),
    )
    entry = ok(
        await client.post(
            "/v1/suppressions", json={"email": "ada@example.com", "reason": "manual"}, headers=tenant.auth()
        )
    ).json()
    ok(await client.request("DELETE", f"/v1/suppressions/{entry['id']}", json={"reason": "r"}, headers=tenant.auth()))
    ok(
        await client.post(
            "/v1/suppressions", json={"email": "bea@example.com", "reason": "complaint"}, headers=tenant.auth()
        )
    )
    worker = SyncWorker(allow)
    try:
        assert await worker.sync_one(tenant.id, UUID(made["id"]))
        assert [(r.method, r.path) for r in fake.received] == [
            ("POST", "/v3/asm/suppressions/global"),
            ("DELETE", "/v3/asm/suppressions/global/ada%40example.com"),
            ("POST", "/v3/asm/suppressions/global"),
        ]
        fake.default = 400  # SendGrid refuses (a shape it does not take): dead at once, never retried
        ok(
            await client.post(
                "/v1/suppressions", json={"email": "cid@example.com", "reason": "manual"}, headers=tenant.auth()
            )
        )
        assert await worker.sync_one(tenant.id, UUID(made["id"]))
        assert not await worker.sync_one(tenant.id, UUID(made["id"]))  # nothing pending
    finally:
        await worker.close()
    log = (
        await client.get(f"/v1/integrations/{made['id']}/deliveries", params={"status": "dead"}, headers=tenant.auth())
    ).json()["items"]
    assert [(d["status"], d["attempts"], d["status_code"]) for d in log] == [("dead", 1, 400)]
    assert len(fake.received) == 4


async def test_a_private_api_base_url_is_refused_when_the_service_does_not_allow_it(
    client: httpx.AsyncClient, tenant: Tenant, ctx: Context, signer: SendGridSigner, fake: FakeProvider
) -> None:
    made = await create(
        client,
        tenant,
        sendgrid(signer, sync_suppressions=True, settings={"api_key": "SG.k", "api_base_url": fake.base_url}),
    )
    ok(
        await client.post(
            "/v1/suppressions", json={"email": "cy@example.com", "reason": "manual"}, headers=tenant.auth()
        )
    )
    worker = SyncWorker(ctx, sleep=_no_sleep)  # CONSENT_WEBHOOK_ALLOW_PRIVATE off: loopback is not a provider
    try:
        assert await worker.sync_one(tenant.id, UUID(made["id"]))
    finally:
        await worker.close()
    assert fake.received == []
    (pending,) = (await client.get(f"/v1/integrations/{made['id']}/deliveries", headers=tenant.auth())).json()["items"]
    assert pending["status"] == "pending"
    assert pending["attempts"] == 1
    assert pending["error"] == "refused: must be an https:// url"


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_one_batch_keeps_each_addresses_order(
    client: httpx.AsyncClient, tenant: Tenant, signer: SendGridSigner
) -> None:
    await put_purpose(client, tenant)
    made = await create(client, tenant, sendgrid(signer, purposes={"10": "newsletter"}))
    now = int(time.time())
    ours = {"email": "ann@example.com", "asm_group_id": 10}
    other = {"email": "olle@example.com", "asm_group_id": 10}
    batch = [  # out of order in the payload: applied in the order of their timestamps
        {**ours, "event": "group_unsubscribe", "sg_event_id": "3", "timestamp": now + 2},
        {**ours, "event": "group_unsubscribe", "sg_event_id": "1", "timestamp": now},
        {**ours, "event": "group_resubscribe", "sg_event_id": "2", "timestamp": now + 1},
        {**other, "event": "group_unsubscribe", "sg_event_id": "4", "timestamp": now + 3},
        {**other, "event": "group_resubscribe", "sg_event_id": "5", "timestamp": now + 4},
    ]
    answer = await post_in(client, made, signer, json.dumps(batch).encode())
    assert answer.json()["applied"] == 5
    (entry,) = await active(client, tenant, "ann@example.com")  # unsubscribed, back, unsubscribed again
    assert (entry["scope"], entry["reason"], json.loads(entry["note"])["event_id"]) == (
        "newsletter",
        "unsubscribe",
        "3",
    )
    assert await active(client, tenant, "olle@example.com") == []
    log = (await client.get(f"/v1/integrations/{made['id']}/feedback", headers=tenant.auth())).json()["items"]
    lifted = {i["event_id"]: len(i["lifted_ids"]) for i in log if i["kind"] == "resubscribe"}
    assert lifted == {"2": 1, "5": 1}
