"""Suppressions out: which entries each provider takes, and the exact requests, sent to a fake of each
provider's API on loopback that checks the request shape and the credentials (SES: SigV4 recomputed
with botocore on the fake's side), with retries through a failure."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from consent_svc.integrations import (
    MailgunSettings,
    OutboundSuppression,
    PostmarkSettings,
    SendGridSettings,
    SesSettings,
    SuppressionPusher,
    TwilioSettings,
    plan_pushes,
)

from .conftest import FakeProvider, Recorded

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ACCESS_KEY, SECRET_KEY = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def entry(
    id_: str = "s1",
    value: str | None = "anna.svensson@example.com",
    *,
    scope: str = "all",
    reason: str = "unsubscribe",
    channel: str | None = None,
    ident_type: str = "email",
) -> OutboundSuppression:
    return OutboundSuppression(
        id=id_,
        ident_type=ident_type,  # type: ignore[arg-type]
        value=value,
        scope=scope,
        channel=channel,
        reason=reason,
        created_at=AT,
    )


def no_wait() -> tuple[list[float], Callable[[float], Any]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return waits, sleep


# --- which entries can be pushed ----------------------------------------------------------------


def test_entries_a_provider_cannot_take_are_skipped_with_the_reason() -> None:
    sendgrid = SendGridSettings(verification_key="k", api_key="SG.x")
    plan = plan_pushes(
        sendgrid,
        [
            entry("hash", value=None),
            entry("phone", "+46701740605", ident_type="phone"),
            entry("pnr", None, ident_type="personal_number"),
            entry("sms", channel="sms"),
            entry("unmapped", scope="offers"),
            entry("ok"),
        ],
        "add",
        groups={"10": "newsletter"},
    )
    assert [(s.entry_id, s.reason) for s in plan.skipped] == [
        ("hash", "hash-only entry (erased, or imported as a hash): sendgrid needs the plaintext address"),
        ("phone", "sendgrid suppresses email addresses; this entry is for a phone number"),
        ("pnr", "sendgrid suppresses email addresses; this entry is for a personal number"),
        ("sms", "the entry is for the sms channel, not email"),
        ("unmapped", "purpose 'offers' is mapped to no ASM group of this integration"),
    ]
    assert [r.entry_ids for r in plan.requests] == [("ok",)]
    twilio = plan_pushes(TwilioSettings(auth_token="t"), [entry()], "add")
    assert twilio.requests == ()
    assert "Twilio has no API" in twilio.skipped[0].reason
    ses = plan_pushes(SesSettings(topic_arns=()), [entry(scope="newsletter")], "add")
    assert "account-wide" in ses.skipped[0].reason


def test_no_description_or_repr_shows_an_address() -> None:
    settings = MailgunSettings(signing_key="k", api_key="key", domain="mg.example.com")
    plan = plan_pushes(settings, [entry(), entry("b", reason="hard_bounce")], "lift")
    for request in plan.requests:
        assert "anna" not in request.description
        assert "anna" not in repr(request)
    assert "anna" not in repr(entry())


# --- SES: SigV4, checked by the fake with botocore ----------------------------------------------


def sigv4_verdict(port: int) -> Callable[[Recorded], tuple[int, bytes] | None]:
    def check(request: Recorded) -> tuple[int, bytes] | None:
        authorization = request.headers.get("authorization", "")
        match = re.fullmatch(
            r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
            r"/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})",
            authorization,
        )
        if match is None or (match["key"], match["region"], match["service"]) != (ACCESS_KEY, "us-west-2", "ses"):
            return 403, b'{"message": "bad credential scope"}'
        signed = match["signed"].split(";")
        url = f"http://127.0.0.1:{port}{request.path}" + (f"?{urlencode(request.query)}" if request.query else "")
        aws = AWSRequest(
            method=request.method,
            url=url,
            data=request.body,
            headers={name: request.headers[name] for name in signed if name in request.headers},
        )
        aws.context["timestamp"] = request.headers["x-amz-date"]
        signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ses", "us-west-2")
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        if expected != match["signature"] or "host" not in signed or "x-amz-date" not in signed:
            return 403, b'{"message": "The request signature we calculated does not match"}'
        return None

    return check


async def test_ses_puts_and_deletes_account_suppressions_with_a_valid_sigv4_signature(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider()
    fake.check = sigv4_verdict(fake.port)
    settings = SesSettings(
        topic_arns=(),
        region="us-west-2",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        api_base_url=fake.base_url,
    )
    added = plan_pushes(settings, [entry("b", reason="hard_bounce"), entry("c", reason="complaint")], "add")
    lifted = plan_pushes(settings, [entry("b", reason="hard_bounce")], "lift")
    async with httpx.AsyncClient() as client:
        results = await SuppressionPusher(client).push_all(settings, [*added.requests, *lifted.requests])
    assert [(r.ok, r.status, r.attempts) for r in results] == [(True, 200, 1)] * 3
    put_bounce, put_complaint, delete = fake.received
    assert (put_bounce.method, put_bounce.path) == ("PUT", "/v2/email/suppression/addresses")
    assert json.loads(put_bounce.body) == {"EmailAddress": "anna.svensson@example.com", "Reason": "BOUNCE"}
    assert put_bounce.headers["content-type"] == "application/json"
    assert json.loads(put_complaint.body) == {"EmailAddress": "anna.svensson@example.com", "Reason": "COMPLAINT"}
    assert (delete.method, delete.path, delete.body) == (
        "DELETE",
        "/v2/email/suppression/addresses/anna.svensson%40example.com",
        b"",
    )


async def test_a_wrong_secret_is_refused_by_the_fakes_own_sigv4_check(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider()
    fake.check = sigv4_verdict(fake.port)
    settings = SesSettings(
        topic_arns=(),
        region="us-west-2",
        access_key_id=ACCESS_KEY,
        secret_access_key="not-the-secret",
        api_base_url=fake.base_url,
    )
    async with httpx.AsyncClient() as client:
        (result,) = await SuppressionPusher(client).push_all(settings, plan_pushes(settings, [entry()], "add").requests)
    assert (result.ok, result.status, result.retryable) == (False, 403, False)
    assert "signature we calculated does not match" in (result.error or "")


async def test_a_push_is_retried_through_a_failure_and_each_try_is_signed_afresh(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider(script=[500, 503])
    fake.check = None
    settings = SesSettings(
        topic_arns=(),
        region="us-west-2",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        api_base_url=fake.base_url,
    )
    waits, sleep = no_wait()
    async with httpx.AsyncClient() as client:
        (result,) = await SuppressionPusher(client, backoff=0.25, sleep=sleep).push_all(
            settings, plan_pushes(settings, [entry()], "add").requests
        )
    assert (result.ok, result.status, result.attempts) == (True, 200, 3)
    assert waits == [0.25, 0.5]
    assert len(fake.received) == 3
    verdict = sigv4_verdict(fake.port)
    assert all(verdict(r) is None for r in fake.received)


# --- SendGrid -----------------------------------------------------------------------------------


def bearer(key: str) -> Callable[[Recorded], tuple[int, bytes] | None]:
    def check(request: Recorded) -> tuple[int, bytes] | None:
        if request.headers.get("authorization") != f"Bearer {key}":
            return 401, b'{"errors": [{"message": "authorization required"}]}'
        if request.method == "POST" and request.headers.get("content-type") != "application/json":
            return 400, b'{"errors": [{"message": "content-type"}]}'
        return None

    return check


async def test_sendgrid_global_unsubscribes_and_asm_group_suppressions(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider(default=201, check=bearer("SG.test-key"))
    settings = SendGridSettings(verification_key="k", api_key="SG.test-key", api_base_url=fake.base_url)
    groups = {"10": "newsletter", "11": "newsletter", "12": "offers"}
    entries = [entry("a"), entry("b", "bo@example.com"), entry("n", "nils@example.com", scope="newsletter")]
    added = plan_pushes(settings, entries, "add", groups=groups)
    lifted = plan_pushes(
        settings, [entry("a"), entry("n", "nils@example.com", scope="newsletter")], "lift", groups=groups
    )
    async with httpx.AsyncClient() as client:
        results = await SuppressionPusher(client).push_all(settings, [*added.requests, *lifted.requests])
    assert all(r.ok for r in results)
    shapes = [(r.method, r.path, json.loads(r.body) if r.body else None) for r in fake.received]
    assert shapes == [
        ("POST", "/v3/asm/suppressions/global", {"recipient_emails": ["anna.svensson@example.com", "bo@example.com"]}),
        ("POST", "/v3/asm/groups/10/suppressions", {"recipient_emails": ["nils@example.com"]}),
        ("POST", "/v3/asm/groups/11/suppressions", {"recipient_emails": ["nils@example.com"]}),
        ("DELETE", "/v3/asm/suppressions/global/anna.svensson%40example.com", None),
        ("DELETE", "/v3/asm/groups/10/suppressions/nils%40example.com", None),
        ("DELETE", "/v3/asm/groups/11/suppressions/nils%40example.com", None),
    ]
    assert added.requests[0].entry_ids == ("a", "b")


async def test_a_wrong_api_key_is_a_failure_not_worth_retrying(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider(check=bearer("SG.right"))
    settings = SendGridSettings(verification_key="k", api_key="SG.wrong", api_base_url=fake.base_url)
    async with httpx.AsyncClient() as client:
        (result,) = await SuppressionPusher(client).push_all(settings, plan_pushes(settings, [entry()], "add").requests)
    assert (result.ok, result.status, result.attempts, result.retryable) == (False, 401, 1, False)


async def test_a_429_waits_as_long_as_retry_after_says_and_giving_up_is_retryable(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider(
        default=429,
        answer_headers={"Retry-After": "7"},
        answer_body=b'{"errors": [{"message": "too many requests for anna.svensson@example.com"}]}',
    )
    settings = SendGridSettings(verification_key="k", api_key="SG.k", api_base_url=fake.base_url)
    waits, sleep = no_wait()
    async with httpx.AsyncClient() as client:
        (result,) = await SuppressionPusher(client, attempts=3, sleep=sleep).push_all(
            settings, plan_pushes(settings, [entry()], "add").requests
        )
    assert (result.ok, result.retryable, result.attempts, result.status) == (False, True, 3, 429)
    assert waits == [7.0, 7.0]
    assert "anna" not in (result.error or "")  # the provider's text, addresses masked
    assert "***" in (result.error or "")


async def test_a_lift_of_an_address_the_provider_does_not_hold_is_done(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider(default=404)
    settings = SendGridSettings(verification_key="k", api_key="SG.k", api_base_url=fake.base_url)
    async with httpx.AsyncClient() as client:
        (result,) = await SuppressionPusher(client).push_all(
            settings, plan_pushes(settings, [entry()], "lift").requests
        )
    assert (result.ok, result.status) == (True, 404)


async def test_an_unreachable_provider_is_retryable(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider()
    settings = SendGridSettings(verification_key="k", api_key="SG.k", api_base_url=fake.base_url)
    fake.stop()
    waits, sleep = no_wait()
    async with httpx.AsyncClient() as client:
        (result,) = await SuppressionPusher(client, attempts=2, sleep=sleep).push_all(
            settings, plan_pushes(settings, [entry()], "add").requests
        )
    assert (result.ok, result.retryable, result.status, result.attempts) == (False, True, None, 2)
    assert (result.error or "").startswith("network:")
    assert waits == [0.5]


# --- Postmark -----------------------------------------------------------------------------------


def postmark_check(token: str) -> Callable[[Recorded], tuple[int, bytes] | None]:
    def check(request: Recorded) -> tuple[int, bytes] | None:
        if request.headers.get("x-postmark-server-token") != token:
            return 401, b'{"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}'
        if request.headers.get("accept") != "application/json":
            return 415, b"{}"
        body = json.loads(request.body)
        status = "Deleted" if request.path.endswith("/delete") else "Suppressed"
        items = [{"EmailAddress": s["EmailAddress"], "Status": status, "Message": None} for s in body["Suppressions"]]
        return 200, json.dumps({"Suppressions": items}).encode()

    return check


async def test_postmark_stream_suppressions_for_every_mapped_stream(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider(check=postmark_check("server-token"))
    settings = PostmarkSettings(
        username="u", password_sha256="0" * 64, server_token="server-token", api_base_url=fake.base_url
    )
    groups = {"broadcast": "newsletter", "outbound": "service-updates"}
    added = plan_pushes(
        settings, [entry("a"), entry("n", "nils@example.com", scope="newsletter")], "add", groups=groups
    )
    lifted = plan_pushes(settings, [entry("n", "nils@example.com", scope="newsletter")], "lift", groups=groups)
    async with httpx.AsyncClient() as client:
        results = await SuppressionPusher(client).push_all(settings, [*added.requests, *lifted.requests])
    assert all(r.ok for r in results)
    assert [(r.method, r.path, json.loads(r.body)) for r in fake.received] == [
        (
            "POST",
            "/message-streams/broadcast/suppressions",
            {"Suppressions": [{"EmailAddress": "anna.svensson@example.com"}, {"EmailAddress": "nils@example.com"}]},
        ),
        (
            "POST",
            "/message-streams/outbound/suppressions",
            {"Suppressions": [{"EmailAddress": "anna.svensson@example.com"}]},
        ),
        (
            "POST",
            "/message-streams/broadcast/suppressions/delete",
            {"Suppressions": [{"EmailAddress": "nils@example.com"}]},
        ),
    ]


async def test_postmark_refusing_an_address_fails_the_push(fake_provider: Any) -> None:
    refusal = {
        "Suppressions": [
            {
                "EmailAddress": "anna.svensson@example.com",
                "Status": "Failed",
                "Message": "You do not have the required authority to change this suppression.",
            }
        ]
    }
    fake: FakeProvider = fake_provider(answer_body=json.dumps(refusal).encode())
    settings = PostmarkSettings(username="u", password_sha256="0" * 64, server_token="t", api_base_url=fake.base_url)
    plan = plan_pushes(settings, [entry(reason="complaint")], "lift", groups={"outbound": "x"})
    async with httpx.AsyncClient() as client:
        (result,) = await SuppressionPusher(client).push_all(settings, plan.requests)
    assert (result.ok, result.retryable) == (False, False)
    assert result.error == "Postmark refused 1 of 1: You do not have the required authority to change this suppression."


# --- Mailgun ------------------------------------------------------------------------------------


def mailgun_check(key: str) -> Callable[[Recorded], tuple[int, bytes] | None]:
    expected = "Basic " + base64.b64encode(f"api:{key}".encode()).decode()

    def check(request: Recorded) -> tuple[int, bytes] | None:
        if request.headers.get("authorization") != expected:
            return 401, b"Forbidden"
        return None

    return check


async def test_mailgun_unsubscribes_by_tag_and_bounces(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider(check=mailgun_check("key-abc"))
    settings = MailgunSettings(signing_key="s", api_key="key-abc", domain="mg.example.com", api_base_url=fake.base_url)
    groups = {"newsletter-tag": "newsletter"}
    entries = [
        entry("a"),
        entry("b", "bo@example.com", reason="hard_bounce"),
        entry("n", "nils@example.com", scope="newsletter"),
    ]
    added = plan_pushes(settings, entries, "add", groups=groups)
    lifted = plan_pushes(settings, entries, "lift", groups=groups)
    async with httpx.AsyncClient() as client:
        results = await SuppressionPusher(client).push_all(settings, [*added.requests, *lifted.requests])
    assert all(r.ok for r in results)
    shapes = [(r.method, r.path, r.query, json.loads(r.body) if r.body else None) for r in fake.received]
    assert shapes == [
        ("POST", "/v3/mg.example.com/unsubscribes", [], [{"address": "anna.svensson@example.com", "tags": ["*"]}]),
        (
            "POST",
            "/v3/mg.example.com/bounces",
            [],
            [{"address": "bo@example.com", "code": "550", "error": "hard bounce recorded by consent-svc"}],
        ),
        ("POST", "/v3/mg.example.com/unsubscribes", [], [{"address": "nils@example.com", "tags": ["newsletter-tag"]}]),
        ("DELETE", f"/v3/mg.example.com/unsubscribes/{quote('anna.svensson@example.com', safe='')}", [], None),
        ("DELETE", "/v3/mg.example.com/bounces/bo%40example.com", [], None),
        ("DELETE", "/v3/mg.example.com/unsubscribes/nils%40example.com", [("tag", "newsletter-tag")], None),
    ]


async def test_missing_credentials_fail_without_a_request(fake_provider: Any) -> None:
    fake: FakeProvider = fake_provider()
    settings = MailgunSettings(signing_key="s", domain="mg.example.com", api_base_url=fake.base_url)
    async with httpx.AsyncClient() as client:
        (result,) = await SuppressionPusher(client).push_all(settings, plan_pushes(settings, [entry()], "add").requests)
    assert (result.ok, result.retryable, result.error) == (
        False,
        False,
        "the integration has no api_key for pushing suppressions",
    )
    assert fake.received == []


def test_batches_follow_each_providers_limit() -> None:
    settings = PostmarkSettings(username="u", password_sha256="0" * 64, server_token="t")
    entries = [entry(f"e{i}", f"p{i}@example.com") for i in range(120)]
    plan = plan_pushes(settings, entries, "add", groups={"broadcast": "newsletter"})
    assert [len(r.entry_ids) for r in plan.requests] == [50, 50, 20]
    sendgrid = SendGridSettings(verification_key="k", api_key="SG.k")
    plan = plan_pushes(sendgrid, [entry(f"e{i}", f"p{i}@example.com") for i in range(2500)], "add")
    assert [len(r.entry_ids) for r in plan.requests] == [1000, 1000, 500]
