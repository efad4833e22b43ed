"""Email and SMS providers against the real ``consent-svc serve``: feedback in through
``POST /in/{id}`` (the providers' published sample payloads, signed here with real keys), its
effect on decisions, idempotency and refusals; suppressions out to local fakes of each
provider's API (request shapes and credentials checked by the fake), retried through failures;
and ``consent-svc integrations sync``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.server import Server, clean_env, cli
from tests.integrations.conftest import FakeProvider, Recorded, SendGridSigner, fixture, make_sns_signer
from tests.integrations.test_outbound import ACCESS_KEY, SECRET_KEY, sigv4_verdict

pytestmark = pytest.mark.e2e

OFFERS = {**NEWSLETTER, "title": {"sv": "Erbjudanden", "en": "Offers"}}


def env_for(database: str) -> dict[str, str]:
    return clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
        CONSENT_WEBHOOK_ALLOW_PRIVATE="1",  # the fake provider APIs listen on loopback
        CONSENT_WEBHOOK_POLL_SECONDS="0.1",
        CONSENT_WEBHOOK_RETRY_BASE_SECONDS="0.2",
    )


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    served = Server(env_for(database), tmp_path_factory.mktemp("integrations-serve"))
    yield served
    served.stop()


@pytest.fixture
def fakes() -> Iterator[Callable[..., FakeProvider]]:
    started: list[FakeProvider] = []

    def start(**kwargs: Any) -> FakeProvider:
        fake = FakeProvider(**kwargs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def api(server: Server, tenant: Tenant) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=tenant.auth(), timeout=10) as client:
        for key, body in (("newsletter", NEWSLETTER), ("offers", OFFERS)):
            assert client.put(f"/v1/purposes/{key}", json=body).status_code in (200, 201)
        yield client


def created(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/integrations", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def consent(
    api: httpx.Client, *, email: str | None = None, phone: str | None = None, purpose: str = "newsletter"
) -> None:
    """A consent given a minute ago (before any feedback the test sends)."""
    subject = {"email": email} if email else {"phone": phone}
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = api.post(
        "/v1/events",
        json={
            "subject": subject,
            "type": "consent_given",
            "purpose": purpose,
            "channels": ["email", "sms"],
            "occurred_at": at,
            "proof": {"notice_version": "2026-03"},
        },
    )
    assert response.status_code == 201, response.text


def decision(api: httpx.Client, purpose: str = "newsletter", channel: str = "email", **who: str) -> tuple[bool, str]:
    response = api.get("/v1/decisions", params={"purpose": purpose, "channel": channel, **who})
    assert response.status_code == 200, response.text
    return response.json()["allowed"], response.json()["reason"]


def entries(api: httpx.Client, **who: str) -> list[dict[str, Any]]:
    response = api.get("/v1/suppressions", params=who)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def log(api: httpx.Client, integration_id: str, what: str = "feedback", **params: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/integrations/{integration_id}/{what}", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def ledger_events(api: httpx.Client, **who: str) -> list[dict[str, Any]]:
    """The person's events, as their Art. 15 export shows them."""
    found = api.get("/v1/subjects", params=who)
    assert found.status_code == 200, found.text
    export = api.get(f"/v1/subjects/{found.json()['items'][0]['id']}/export")
    assert export.status_code == 200, export.text
    return list(export.json()["events"])


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def refused(response: httpx.Response) -> None:
    """401, and the answer does not say which check failed."""
    assert response.status_code == 401, response.text
    detail = response.json()["detail"]
    assert detail == "the request is not verified as coming from the integration's provider"


# --- SendGrid ----------------------------------------------------------------------------------


def sendgrid_batch(now: int) -> bytes:
    """The published sample, each event with an id and an address of its own, at ``now`` (the
    sample's 2017 times would fall before the consents the test records)."""
    events = json.loads(fixture("sendgrid_events.json"))
    names = {
        "bounce": "bounce",
        "spamreport": "spam",
        "unsubscribe": "unsub",
        "group_unsubscribe": "group",
        "group_resubscribe": "group",
    }
    for index, event in enumerate(events):
        event["sg_event_id"] = f"evt-{index}"
        event["email"] = f"{names.get(event['event'], 'other')}@example.com"
        event["timestamp"] = now + (1 if event["event"] == "group_resubscribe" else 0)
    blocked = json.loads(fixture("sendgrid_blocked.json"))[0]
    blocked.update(sg_event_id="evt-blocked", email="soft@example.com", timestamp=now)
    return json.dumps([*events, blocked]).encode()


def test_sendgrid_feedback_acts_once_and_the_decisions_follow(server: Server, api: httpx.Client) -> None:
    signer = SendGridSigner(ec.generate_private_key(ec.SECP256R1()))
    integration = created(
        api,
        {
            "provider": "sendgrid",
            "name": "SendGrid",
            "purposes": {"10": "newsletter"},
            "settings": {"verification_key": signer.verification_key},
        },
    )
    assert integration["inbound_url"] == f"{server.url}/in/{integration['id']}"
    people = ["bounce", "spam", "unsub", "group", "soft"]
    for name in people:
        consent(api, email=f"{name}@example.com")
        assert decision(api, email=f"{name}@example.com") == (True, "consent_active")
    now = int(time.time())
    body = sendgrid_batch(now)
    headers = {**signer.headers(body, now), "Content-Type": "application/json"}

    answer = httpx.post(integration["inbound_url"], content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "provider": "sendgrid",
        "applied": 6,
        "duplicates": 0,
        "ignored": 6,
        "subscription_confirmed": False,
    }
    assert decision(api, email="bounce@example.com") == (False, "suppressed")
    assert decision(api, email="spam@example.com") == (False, "suppressed")
    assert decision(api, email="unsub@example.com") == (False, "suppressed")
    # Unsubscribed from group 10 (newsletter) and resubscribed a second later: this integration's
    # entry is lifted, the recorded objection stays (a resubscribe at SendGrid is not a consent).
    assert decision(api, email="group@example.com") == (False, "objected")
    assert decision(api, email="soft@example.com") == (True, "consent_active")  # a blocked bounce is soft
    (bounce,) = entries(api, email="bounce@example.com")
    assert (bounce["reason"], bounce["scope"], bounce["channel"]) == ("hard_bounce", "all", "email")
    assert bounce["source"] == f"integration:{integration['id']}"
    proof = json.loads(bounce["note"])
    assert proof == {
        "provider": "sendgrid",
        "integration_id": integration["id"],
        "event_id": "evt-5",
        "provider_event": "bounce:bounce",
        "occurred_at": proof["occurred_at"],
        "payload_sha256": hashlib.sha256(body).hexdigest(),
    }
    assert datetime.fromisoformat(proof["occurred_at"]) == datetime.fromtimestamp(now, UTC)
    assert [e["reason"] for e in entries(api, email="spam@example.com")] == ["complaint"]
    assert entries(api, email="group@example.com") == []
    received = log(api, integration["id"])
    assert sorted(r["kind"] for r in received) == [
        "complaint",
        "hard_bounce",
        "resubscribe",
        "soft_bounce",
        "unsubscribe",
        "unsubscribe",
    ]
    resubscribed = next(r for r in received if r["kind"] == "resubscribe")
    assert len(resubscribed["lifted_ids"]) == 1
    assert "objections stay" in resubscribed["outcome"]

    unsubscribed = [e for e in ledger_events(api, email="unsub@example.com") if e["source"] == "integration"]
    assert [e["type"] for e in unsubscribed] == ["consent_withdrawn", "objection"]
    assert unsubscribed[0]["proof"]["provider_feedback"]["event_id"] == "evt-8"
    assert [e["type"] for e in ledger_events(api, email="spam@example.com")] == ["consent_given", "objection"]

    def state() -> tuple[Any, ...]:
        return (
            len(log(api, integration["id"])),
            [entries(api, email=f"{n}@example.com") for n in people],
            [len(ledger_events(api, email=f"{n}@example.com")) for n in people],
        )

    before = state()
    again = httpx.post(integration["inbound_url"], content=body, headers=headers)
    assert again.status_code == 200
    assert (again.json()["applied"], again.json()["duplicates"]) == (0, 6)
    assert state() == before

    # A tampered body, another key, a stale timestamp: 401, and nothing changes.
    consent(api, email="new@example.com")
    tampered = body.replace(b"bounce@example.com", b"new@example.com").replace(b'"evt-5"', b'"evt-55"')
    refused(httpx.post(integration["inbound_url"], content=tampered, headers=headers))
    other = SendGridSigner(ec.generate_private_key(ec.SECP256R1()))
    refused(httpx.post(integration["inbound_url"], content=tampered, headers=other.headers(tampered, now)))
    stale = now - 301
    refused(httpx.post(integration["inbound_url"], content=tampered, headers=signer.headers(tampered, stale)))
    assert decision(api, email="new@example.com") == (True, "consent_active")
    assert entries(api, email="new@example.com") == []
    assert len(log(api, integration["id"])) == len(received)

    missing = httpx.post(f"{server.url}/in/{integration['id'][:-4]}ffff", content=body, headers=headers)
    assert missing.status_code == 404


def sendgrid_fake(fakes: Callable[..., FakeProvider], api_key: str, **kwargs: Any) -> FakeProvider:
    def check(request: Recorded) -> tuple[int, bytes] | None:
        if request.headers.get("authorization") != f"Bearer {api_key}":
            return 401, b'{"errors": [{"message": "authorization required"}]}'
        return None

    return fakes(check=check, **kwargs)


def test_sendgrid_receives_every_suppression_change_in_order_through_a_failure(
    api: httpx.Client, fakes: Callable[..., FakeProvider]
) -> None:
    fake = sendgrid_fake(fakes, "SG.key", script=[503, 503, 503])  # the pusher's three tries fail: a retry later
    signer = SendGridSigner(ec.generate_private_key(ec.SECP256R1()))
    integration = created(
        api,
        {
            "provider": "sendgrid",
            "name": "SendGrid out",
            "purposes": {"10": "newsletter"},
            "sync_suppressions": True,
            "settings": {
                "verification_key": signer.verification_key,
                "api_key": "SG.key",
                "api_base_url": fake.base_url,
            },
        },
    )
    assert integration["settings"]["api_key"] == "***"
    everything = api.post("/v1/suppressions", json={"email": "Anna@Example.com", "reason": "manual"}).json()
    one = api.post("/v1/suppressions", json={"email": "bo@example.com", "scope": "newsletter", "reason": "objection"})
    assert one.status_code == 201
    phone = api.post("/v1/suppressions", json={"phone": "+46701740605", "reason": "manual"})
    assert phone.status_code == 201
    assert api.request("DELETE", f"/v1/suppressions/{one.json()['id']}", json={"reason": "asked"}).status_code == 200

    def settled() -> list[dict[str, Any]] | None:
        items = log(api, integration["id"], "deliveries")
        return items if len(items) == 4 and all(i["status"] != "pending" for i in items) else None

    deliveries = wait_for(settled, "the four pushes")
    calls = [(r.method, r.path, json.loads(r.body) if r.body else None) for r in fake.received]
    assert calls[:3] == [("POST", "/v3/asm/suppressions/global", {"recipient_emails": ["anna@example.com"]})] * 3
    assert calls[3:] == [
        ("POST", "/v3/asm/suppressions/global", {"recipient_emails": ["anna@example.com"]}),
        ("POST", "/v3/asm/groups/10/suppressions", {"recipient_emails": ["bo@example.com"]}),
        ("DELETE", "/v3/asm/groups/10/suppressions/bo%40example.com", None),
    ]
    assert all(r.headers["authorization"] == "Bearer SG.key" for r in fake.received)
    by_entry = {(d["suppression_id"], d["action"]): d for d in deliveries}
    first = by_entry[(everything["id"], "add")]
    assert (first["status"], first["attempts"], first["status_code"]) == ("delivered", 2, 200)
    assert first["request"] == "add 1 address to global unsubscribes"
    skipped = by_entry[(phone.json()["id"], "add")]
    assert skipped["status"] == "skipped"
    assert skipped["error"] == "sendgrid suppresses email addresses; this entry is for a phone number"
    assert by_entry[(one.json()["id"], "lift")]["status"] == "delivered"
    # The failed tries are in the log of the first push while it waited; no address is in the log.
    assert "anna" not in json.dumps(deliveries)
    assert "bo@" not in json.dumps(deliveries)


def test_a_lift_is_not_pushed_while_another_entry_still_suppresses_the_address(
    api: httpx.Client, fakes: Callable[..., FakeProvider]
) -> None:
    fake = sendgrid_fake(fakes, "SG.key")
    signer = SendGridSigner(ec.generate_private_key(ec.SECP256R1()))
    integration = created(
        api,
        {
            "provider": "sendgrid",
            "name": "SendGrid",
            "sync_suppressions": True,
            "settings": {
                "verification_key": signer.verification_key,
                "api_key": "SG.key",
                "api_base_url": fake.base_url,
            },
        },
    )
    manual = api.post("/v1/suppressions", json={"email": "cid@example.com", "reason": "manual"}).json()
    assert api.post("/v1/suppressions", json={"email": "cid@example.com", "reason": "complaint"}).status_code == 201
    assert api.request("DELETE", f"/v1/suppressions/{manual['id']}", json={"reason": "typo"}).status_code == 200

    def settled() -> list[dict[str, Any]] | None:
        items = log(api, integration["id"], "deliveries")
        return items if len(items) == 3 and all(i["status"] != "pending" for i in items) else None

    lift = next(d for d in wait_for(settled, "three pushes") if d["action"] == "lift")
    assert lift["status"] == "skipped"
    assert lift["error"].startswith("still suppressed by entry ")
    assert [r.method for r in fake.received] == ["POST"]  # the two adds in one batch; no DELETE


# --- Mailgun -----------------------------------------------------------------------------------


def mailgun_signed(name: str, key: str, *, timestamp: int, token: str | None = None, **event: Any) -> bytes:
    payload = json.loads(fixture(name))
    token = token or payload["signature"]["token"]
    payload["signature"].update(
        timestamp=str(timestamp),
        token=token,
        signature=hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest(),
    )
    payload["event-data"].update(timestamp=float(timestamp), **event)
    return json.dumps(payload).encode()


def test_mailgun_feedback_and_pushes(api: httpx.Client, fakes: Callable[..., FakeProvider]) -> None:
    def check(request: Recorded) -> tuple[int, bytes] | None:
        expected = "Basic " + base64.b64encode(b"api:key-123").decode()
        return None if request.headers.get("authorization") == expected else (401, b"Forbidden")

    fake = fakes(check=check)
    integration = created(
        api,
        {
            "provider": "mailgun",
            "name": "Mailgun",
            "sync_suppressions": True,
            "purposes": {"offers-tag": "offers"},
            "settings": {
                "signing_key": "whk-secret",
                "api_key": "key-123",
                "domain": "mg.example.com",
                "api_base_url": fake.base_url,
            },
        },
    )
    url, now = integration["inbound_url"], int(time.time())
    for email in ("recipient@example.com", "foo@example.com", "slava@mailgun.com"):
        consent(api, email=email)
    unsubscribed = mailgun_signed("mailgun_unsubscribed.json", "whk-secret", timestamp=now)
    assert httpx.post(url, content=unsubscribed).json()["applied"] == 1
    complained = mailgun_signed("mailgun_complained.json", "whk-secret", timestamp=now, token="t" * 50)
    assert httpx.post(url, content=complained).json()["applied"] == 1
    bounced = mailgun_signed("mailgun_failed_permanent.json", "whk-secret", timestamp=now, token="u" * 50)
    assert httpx.post(url, content=bounced).json()["applied"] == 1
    consent(api, email="test@test.com")
    temporary = mailgun_signed("mailgun_failed_temporary.json", "whk-secret", timestamp=now, token="s" * 50)
    assert httpx.post(url, content=temporary).json()["applied"] == 1
    assert decision(api, email="test@test.com") == (True, "consent_active")  # a soft bounce is counted only
    assert decision(api, email="recipient@example.com") == (False, "suppressed")
    assert decision(api, email="foo@example.com") == (False, "suppressed")
    assert decision(api, email="slava@mailgun.com") == (False, "suppressed")

    # Mailgun's retry of the same payload is a duplicate; its signature on another event is a forgery.
    assert httpx.post(url, content=unsubscribed).json()["duplicates"] == 1
    consent(api, email="victim@example.com")
    forged = json.loads(unsubscribed)
    forged["event-data"].update(recipient="victim@example.com", id="another-event")
    refused(httpx.post(url, content=json.dumps(forged).encode()))
    refused(
        httpx.post(
            url,
            content=mailgun_signed(
                "mailgun_unsubscribed.json",
                "other",
                timestamp=now,
                token="v" * 50,
                recipient="victim@example.com",
                id="x",
            ),
        )
    )
    refused(
        httpx.post(
            url,
            content=mailgun_signed(
                "mailgun_unsubscribed.json",
                "whk-secret",
                timestamp=now - 400,
                token="w" * 50,
                recipient="victim@example.com",
                id="y",
            ),
        )
    )
    assert decision(api, email="victim@example.com") == (True, "consent_active")

    def pushed_all() -> list[tuple[str, str, dict[str, Any]]] | None:
        # Entries queued close together may go in one batch or in two: compare address by address.
        items = [(r.method, r.path, item) for r in fake.received for item in json.loads(r.body)]
        return items if len(items) >= 3 else None

    assert sorted(wait_for(pushed_all, "the Mailgun pushes"), key=lambda c: (c[1], c[2]["address"])) == [
        (
            "POST",
            "/v3/mg.example.com/bounces",
            {"address": "slava@mailgun.com", "code": "550", "error": "hard bounce recorded by consent-svc"},
        ),
        ("POST", "/v3/mg.example.com/unsubscribes", {"address": "foo@example.com", "tags": ["*"]}),
        ("POST", "/v3/mg.example.com/unsubscribes", {"address": "recipient@example.com", "tags": ["*"]}),
    ]


# --- Postmark ----------------------------------------------------------------------------------


def test_postmark_credentials_feedback_and_pushes(api: httpx.Client, fakes: Callable[..., FakeProvider]) -> None:
    def check(request: Recorded) -> tuple[int, bytes] | None:
        if request.headers.get("x-postmark-server-token") != "pm-server-token":
            return 401, b'{"ErrorCode": 10, "Message": "Bad or missing Server API token."}'
        return None

    fake = fakes(check=check, answer_body=b'{"Suppressions": [{"EmailAddress": "x", "Status": "Suppressed"}]}')
    integration = created(
        api,
        {
            "provider": "postmark",
            "name": "Postmark",
            "sync_suppressions": True,
            "purposes": {"broadcast": "newsletter"},
            "settings": {"server_token": "pm-server-token", "api_base_url": fake.base_url},
        },
    )
    credentials = integration["credentials"]
    assert credentials["webhook_url"].startswith(f"http://{credentials['username']}:{credentials['password']}@")
    shown = api.get(f"/v1/integrations/{integration['id']}").json()
    assert "credentials" not in shown
    assert shown["settings"]["password_sha256"] == "***"
    assert credentials["password"] not in json.dumps(shown)
    url = integration["inbound_url"]
    auth = httpx.BasicAuth(credentials["username"], credentials["password"])
    consent(api, email="john@example.com")
    consent(api, email="bounced-address@example.com")

    bounce = fixture("postmark_bounce.json")
    assert httpx.post(url, content=bounce, auth=auth).json()["applied"] == 1
    assert decision(api, email="john@example.com") == (False, "suppressed")
    assert httpx.post(url, content=bounce, auth=auth).json()["duplicates"] == 1
    assert len(entries(api, email="john@example.com")) == 1
    complaint = json.loads(fixture("postmark_spam_complaint.json"))
    complaint.update(Email="zoe@example.com", BouncedAt=datetime.now(UTC).isoformat())
    consent(api, email=complaint["Email"])
    assert httpx.post(url, json=complaint, auth=auth).json()["applied"] == 1
    assert decision(api, email=complaint["Email"]) == (False, "suppressed")
    assert [e["reason"] for e in entries(api, email=complaint["Email"])] == ["complaint"]
    refused(httpx.post(url, content=bounce, auth=httpx.BasicAuth(credentials["username"], "guess")))
    refused(httpx.post(url, content=bounce))

    change = json.loads(fixture("postmark_subscription_change.json"))
    # Now, not the sample's 2020: an unsubscribe before the consent would not outweigh it.
    change.update(
        SuppressionReason="ManualSuppression",
        MessageStream="broadcast",
        ChangedAt=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    )
    assert httpx.post(url, json=change, auth=auth).json()["applied"] == 1
    assert decision(api, email="bounced-address@example.com") == (False, "suppressed")
    assert [(e["scope"], e["reason"]) for e in entries(api, email="bounced-address@example.com")] == [
        ("newsletter", "unsubscribe")
    ]
    change.update(SuppressSending=False, ChangedAt=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    assert httpx.post(url, json=change, auth=auth).json()["applied"] == 1
    assert entries(api, email="bounced-address@example.com") == []
    assert decision(api, email="bounced-address@example.com") == (False, "objected")

    def pushed() -> list[tuple[str, str]] | None:
        # Entries queued close together may go in one batch or in two: compare address by address.
        items = [(r.path, s["EmailAddress"]) for r in fake.received for s in json.loads(r.body)["Suppressions"]]
        return items if len(items) >= 4 else None

    calls = wait_for(pushed, "the Postmark pushes")
    assert sorted(calls) == [
        ("/message-streams/broadcast/suppressions", "bounced-address@example.com"),
        ("/message-streams/broadcast/suppressions", "john@example.com"),
        ("/message-streams/broadcast/suppressions", "zoe@example.com"),
        ("/message-streams/broadcast/suppressions/delete", "bounced-address@example.com"),
    ]
    assert [path for path, email in calls if email.startswith("bounced")] == [  # added, then lifted: in order
        "/message-streams/broadcast/suppressions",
        "/message-streams/broadcast/suppressions/delete",
    ]
    assert all(r.headers["accept"] == "application/json" for r in fake.received)


# --- Twilio ------------------------------------------------------------------------------------


def twilio_signature(token: str, url: str, body: bytes) -> str:
    params = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    data = url + "".join(k + v for k, v in params)
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_twilio_stop_and_start(api: httpx.Client) -> None:
    integration = created(api, {"provider": "twilio", "name": "Twilio", "settings": {"auth_token": "tw-token"}})
    url = integration["inbound_url"]
    consent(api, phone="+46701740605")
    assert decision(api, channel="sms", phone="+46701740605") == (True, "consent_active")
    stop = fixture("twilio_inbound_sms.txt").strip()
    headers = {
        "X-Twilio-Signature": twilio_signature("tw-token", url, stop),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer = httpx.post(url, content=stop, headers=headers)
    assert (answer.status_code, answer.headers["content-type"]) == (200, "text/xml; charset=utf-8")
    assert answer.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert decision(api, channel="sms", phone="+46701740605") == (False, "suppressed")
    (entry,) = entries(api, phone="+46701740605")
    assert (entry["scope"], entry["channel"], entry["reason"]) == ("all", "sms", "unsubscribe")
    assert httpx.post(url, content=stop, headers=headers).status_code == 200  # Twilio's retry
    assert len(log(api, integration["id"])) == 1
    refused(httpx.post(url, content=stop, headers={**headers, "X-Twilio-Signature": twilio_signature("x", url, stop)}))
    refused(httpx.post(url + "?x=1", content=stop, headers=headers))

    start = stop.replace(b"Body=STOPP", b"Body=START").replace(b"SM1f0e8ae6ade43cb3c0ce4525424e404f", b"SM" + b"2" * 32)
    headers["X-Twilio-Signature"] = twilio_signature("tw-token", url, start)
    assert httpx.post(url, content=start, headers=headers).status_code == 200
    assert entries(api, phone="+46701740605") == []
    # START lifts only the entry STOP made; the objection recorded stays until a new consent.
    assert decision(api, channel="sms", phone="+46701740605") == (False, "objected")
    assert decision(api, channel="email", phone="+46701740605") == (True, "consent_active")


# --- Amazon SES --------------------------------------------------------------------------------

TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"


def sns_message(ses_fixture: str, at: datetime, message_id: str) -> dict[str, Any]:
    message = json.loads(fixture("sns_notification.json"))
    message.update(
        Message=fixture(ses_fixture).decode().strip(),
        MessageId=message_id,
        Timestamp=at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )
    return dict(message)


def test_ses_through_sns_with_a_pinned_certificate(api: httpx.Client, fakes: Callable[..., FakeProvider]) -> None:
    signer = make_sns_signer()
    fake = fakes()
    fake.check = sigv4_verdict(fake.port)
    integration = created(
        api,
        {
            "provider": "ses",
            "name": "SES",
            "sync_suppressions": True,
            "settings": {
                "topic_arns": [TOPIC],
                "signing_certificate_pem": signer.certificate_pem.decode(),
                "region": "us-west-2",
                "access_key_id": ACCESS_KEY,
                "secret_access_key": SECRET_KEY,
                "api_base_url": fake.base_url,
            },
        },
    )
    url, now = integration["inbound_url"], datetime.now(UTC)
    consent(api, email="jane@example.com")
    consent(api, email="richard@example.com")
    bounce = json.dumps(signer.sign(sns_message("ses_bounce_with_dsn.json", now, "m-1"))).encode()
    headers = {"x-amz-sns-message-type": "Notification", "Content-Type": "text/plain; charset=UTF-8"}
    assert httpx.post(url, content=bounce, headers=headers).json()["applied"] == 1
    complaint = json.dumps(signer.sign(sns_message("ses_complaint.json", now, "m-2"), "1")).encode()
    assert httpx.post(url, content=complaint, headers=headers).json()["applied"] == 1
    assert decision(api, email="jane@example.com") == (False, "suppressed")
    assert decision(api, email="richard@example.com") == (False, "suppressed")
    assert httpx.post(url, content=bounce, headers=headers).json()["duplicates"] == 1

    consent(api, email="mary@example.com")
    forged = sns_message("ses_bounce_with_dsn.json", now, "m-3")
    forged["Message"] = forged["Message"].replace("jane@example.com", "mary@example.com")
    refused(
        httpx.post(
            url,
            content=json.dumps(
                {**signer.sign(sns_message("ses_bounce_with_dsn.json", now, "m-3")), "Message": forged["Message"]}
            ),
            headers=headers,
        )
    )
    refused(httpx.post(url, content=json.dumps(make_sns_signer().sign(forged)), headers=headers))
    stale = sns_message("ses_bounce_with_dsn.json", now - timedelta(minutes=6), "m-4")
    stale["Message"] = forged["Message"]
    refused(httpx.post(url, content=json.dumps(signer.sign(stale)), headers=headers))
    foreign = {**forged, "SigningCertURL": "https://sns.us-west-2.amazonaws.com.evil.example/cert.pem"}
    refused(httpx.post(url, content=json.dumps(signer.sign(foreign)), headers=headers))
    assert decision(api, email="mary@example.com") == (True, "consent_active")

    def pushed() -> list[Recorded] | None:
        return fake.received if len(fake.received) >= 2 else None

    calls = sorted(
        ((r.method, r.path, json.loads(r.body)) for r in wait_for(pushed, "the SES pushes")),
        key=lambda c: c[2]["EmailAddress"],
    )
    assert calls == [
        ("PUT", "/v2/email/suppression/addresses", {"EmailAddress": "jane@example.com", "Reason": "BOUNCE"}),
        ("PUT", "/v2/email/suppression/addresses", {"EmailAddress": "richard@example.com", "Reason": "COMPLAINT"}),
    ]
    deliveries = log(api, integration["id"], "deliveries")
    assert {d["status"] for d in deliveries} == {"delivered"}  # the fake checked each SigV4 signature


# --- consent-svc integrations sync -------------------------------------------------------------


def test_the_cli_reconciles_the_current_list(
    server: Server, api: httpx.Client, fakes: Callable[..., FakeProvider], database: str, tmp_path: Path
) -> None:
    fake = sendgrid_fake(fakes, "SG.key")
    for body in (
        {"email": "one@example.com", "reason": "manual"},
        {"email": "two@example.com", "reason": "complaint"},
        {"phone": "+46701740606", "reason": "manual"},
        {"email": "old@example.com", "reason": "manual"},
    ):
        assert api.post("/v1/suppressions", json=body).status_code == 201
    old = entries(api, email="old@example.com")[0]
    assert api.request("DELETE", f"/v1/suppressions/{old['id']}", json={"reason": "typo"}).status_code == 200
    signer = SendGridSigner(ec.generate_private_key(ec.SECP256R1()))
    integration = created(
        api,
        {
            "provider": "sendgrid",
            "name": "SendGrid",
            "sync_suppressions": False,
            "settings": {
                "verification_key": signer.verification_key,
                "api_key": "SG.key",
                "api_base_url": fake.base_url,
            },
        },
    )
    patched = api.patch(f"/v1/integrations/{integration['id']}", json={"sync_suppressions": True})
    assert patched.status_code == 200, patched.text
    env = {**env_for(database), "CONSENT_WEBHOOK_WORKER": "0"}
    summary = json.loads(cli(env, tmp_path, "integrations", "sync", "--id", integration["id"]))
    assert summary == {
        "integration_id": integration["id"],
        "queued": 3,
        "delivered": 2,
        "skipped": 1,
        "dead": 0,
        "pending": 0,
        "reasons": {"skipped: sendgrid suppresses email addresses; this entry is for a phone number": 1},
    }
    (call,) = fake.received
    assert (call.method, call.path) == ("POST", "/v3/asm/suppressions/global")
    assert sorted(json.loads(call.body)["recipient_emails"]) == ["one@example.com", "two@example.com"]
    assert {d["origin"] for d in log(api, integration["id"], "deliveries")} == {"sync"}
