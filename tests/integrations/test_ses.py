"""Amazon SES through SNS: SNS signatures (v1, v2) against a certificate fetched from a fake SNS
on loopback or pinned, subscription confirmation, and the SES notifications of AWS's documentation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_svc.integrations import (
    CertificateUnavailable,
    InboundRequest,
    SesSettings,
    SnsCertificates,
    VerificationFailed,
    confirm_subscription,
    receive,
)
from consent_svc.integrations.ses import string_to_sign
from tests.integrations.conftest import FakeProvider, SnsSigner, fixture, loopback_client

TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
NOW = datetime.now(UTC).replace(microsecond=0)  # the certificates are made now
SETTINGS = SesSettings(topic_arns=(TOPIC,))


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def notification(ses_fixture: str, *, at: datetime = NOW, **changes: Any) -> dict[str, Any]:
    """AWS's sample SNS envelope carrying AWS's sample SES notification, sent at ``at``."""
    message = json.loads(fixture("sns_notification.json"))
    message["Message"] = fixture(ses_fixture).decode().strip()
    message["Timestamp"] = stamp(at)
    message.update(changes)
    return dict(message)


def request(message: dict[str, Any], **headers: str) -> InboundRequest:
    return InboundRequest(
        url="https://consent.example/in/1",
        headers={"x-amz-sns-message-type": message["Type"], **headers},
        body=json.dumps(message).encode(),
    )


@pytest.fixture
def sns(fake_provider: Any, sns_signer: SnsSigner) -> FakeProvider:
    """A fake SNS serving the signer's certificate at any path."""
    fake: FakeProvider = fake_provider(answer_body=sns_signer.certificate_pem)
    return fake


def test_the_string_to_sign_is_the_one_the_sns_documentation_shows() -> None:
    # The example of "Verifying the signatures of Amazon SNS messages", step 5.
    message = {
        "Message": "My Test Message",
        "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "Subject": "My subject",
        "Timestamp": "2019-01-31T04:37:04.321Z",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        "Type": "Notification",
        "SignatureVersion": "1",
    }
    assert string_to_sign(message, "Notification") == (
        b"Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\nSubject\nMy subject\n"
        b"Timestamp\n2019-01-31T04:37:04.321Z\nTopicArn\n"
        b"arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\nType\nNotification\n"
    )
    del message["Subject"]  # no Subject: the pair is left out, not written empty
    assert b"Subject" not in string_to_sign(message, "Notification")


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_permanent_bounce_is_a_hard_bounce_and_the_certificate_is_fetched_once(
    version: str, sns: FakeProvider, sns_signer: SnsSigner
) -> None:
    async with loopback_client(sns) as client:
        certificates = SnsCertificates(client)
        first = await receive(
            SETTINGS,
            request(sns_signer.sign(notification("ses_bounce_with_dsn.json"), version)),
            now=NOW,
            certificates=certificates,
        )
        second = await receive(
            SETTINGS,
            request(sns_signer.sign(notification("ses_complaint.json", MessageId="m-2"), version)),
            now=NOW,
            certificates=certificates,
        )
    (bounce,) = first.feedback
    assert (bounce.kind, bounce.email, bounce.event_id) == (
        "hard_bounce",
        "jane@example.com",
        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    )
    assert bounce.occurred_at == datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=UTC)
    assert bounce.provider_event == "Bounce:Permanent:General"
    assert (second.feedback[0].kind, second.feedback[0].email) == ("complaint", "richard@example.com")
    assert first.payload_sha256 != second.payload_sha256
    assert bounce.payload_sha256 == first.payload_sha256
    # Fetched once, over the URL SNS named, then kept.
    assert [r.headers["x-intended-url"] for r in sns.received] == [CERT_URL]
    assert certificates.fetches == 1


async def test_a_bounce_naming_two_recipients_gives_one_item_each_with_its_own_id(sns_signer: SnsSigner) -> None:
    pinned = SesSettings(topic_arns=(TOPIC,), signing_certificate_pem=sns_signer.certificate_pem.decode())
    inbound = await receive(pinned, request(sns_signer.sign(notification("ses_bounce_without_dsn.json"))), now=NOW)
    assert [(f.email, f.event_id, f.kind) for f in inbound.feedback] == [
        ("jane@example.com", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:0", "hard_bounce"),
        ("richard@example.com", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:1", "hard_bounce"),
    ]


async def test_a_transient_bounce_is_soft_and_a_delivery_or_not_spam_is_ignored(sns_signer: SnsSigner) -> None:
    pinned = SesSettings(topic_arns=(TOPIC,), signing_certificate_pem=sns_signer.certificate_pem.decode())
    transient = json.loads(fixture("ses_bounce_with_dsn.json"))
    transient["bounce"]["bounceType"], transient["bounce"]["bounceSubType"] = "Transient", "MailboxFull"
    message = notification("ses_bounce_with_dsn.json", Message=json.dumps(transient))
    inbound = await receive(pinned, request(sns_signer.sign(message)), now=NOW)
    assert [(f.kind, f.provider_event) for f in inbound.feedback] == [("soft_bounce", "Bounce:Transient:MailboxFull")]

    delivery = await receive(pinned, request(sns_signer.sign(notification("ses_delivery.json"))), now=NOW)
    assert delivery.feedback == ()
    assert "Delivery" in delivery.ignored[0].reason

    not_spam = json.loads(fixture("ses_complaint.json"))
    not_spam["complaint"]["complaintFeedbackType"] = "not-spam"
    message = notification("ses_complaint.json", Message=json.dumps(not_spam))
    ignored = await receive(pinned, request(sns_signer.sign(message)), now=NOW)
    assert ignored.feedback == ()
    assert ignored.ignored[0].reason == "the recipient reported the message as not spam"


async def test_event_publishing_names_the_configuration_set_as_the_group(sns_signer: SnsSigner) -> None:
    pinned = SesSettings(topic_arns=(TOPIC,), signing_certificate_pem=sns_signer.certificate_pem.decode())
    event = json.loads(fixture("ses_bounce_with_dsn.json"))
    event["eventType"] = event.pop("notificationType")
    event["mail"]["tags"] = {"ses:configuration-set": ["newsletter"]}
    inbound = await receive(
        pinned, request(sns_signer.sign(notification("ses_bounce_with_dsn.json", Message=json.dumps(event)))), now=NOW
    )
    assert [(f.kind, f.group) for f in inbound.feedback] == [("hard_bounce", "newsletter")]


async def test_a_pinned_certificate_needs_no_fetch(sns_signer: SnsSigner) -> None:
    pinned = SesSettings(topic_arns=(TOPIC,), signing_certificate_pem=sns_signer.certificate_pem.decode())
    inbound = await receive(pinned, request(sns_signer.sign(notification("ses_complaint.json"))), now=NOW)
    assert [f.kind for f in inbound.feedback] == ["complaint"]


async def test_a_tampered_body_is_refused(sns: FakeProvider, sns_signer: SnsSigner) -> None:
    message = sns_signer.sign(notification("ses_bounce_with_dsn.json"))
    message["Message"] = message["Message"].replace("jane@example.com", "someone.else@example.com")
    async with loopback_client(sns) as client:
        with pytest.raises(VerificationFailed, match="does not match"):
            await receive(SETTINGS, request(message), now=NOW, certificates=SnsCertificates(client))


async def test_a_signature_by_another_key_is_refused(
    sns: FakeProvider, sns_signer: SnsSigner, other_sns_signer: SnsSigner
) -> None:
    message = other_sns_signer.sign(notification("ses_bounce_with_dsn.json"))  # SNS serves sns_signer's certificate
    async with loopback_client(sns) as client:
        with pytest.raises(VerificationFailed, match="does not match"):
            await receive(SETTINGS, request(message), now=NOW, certificates=SnsCertificates(client))


async def test_a_stale_or_future_timestamp_is_refused(sns_signer: SnsSigner) -> None:
    pinned = SesSettings(topic_arns=(TOPIC,), signing_certificate_pem=sns_signer.certificate_pem.decode())
    for at in (NOW - timedelta(minutes=5, seconds=1), NOW + timedelta(minutes=5, seconds=1)):
        message = sns_signer.sign(notification("ses_bounce_with_dsn.json", at=at))
        with pytest.raises(VerificationFailed, match="SNS Timestamp"):
            await receive(pinned, request(message), now=NOW)
    # AWS's sample as published (2012) is far too old.
    sample = sns_signer.sign(json.loads(fixture("sns_notification.json")))
    with pytest.raises(VerificationFailed, match="older than 300 seconds"):
        await receive(pinned, request(sample), now=NOW)
    at_edge = sns_signer.sign(notification("ses_bounce_with_dsn.json", at=NOW - timedelta(minutes=4, seconds=59)))
    assert (await receive(pinned, request(at_edge), now=NOW)).feedback


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-west-2.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
        "https://evil.example/SimpleNotificationService-1.pem",
        "http://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-west-2.amazonaws.com@evil.example/SimpleNotificationService-1.pem",
        "https://sns.us-west-2.amazonaws.com:8443/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",  # not the topic's region
        "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem?x=1",
        "https://sns.us-west-2.amazonaws.com/not-a-certificate",
        "https://sqs.us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
    ],
)
async def test_a_certificate_url_off_the_topic_regions_sns_host_is_refused_without_a_fetch(
    url: str, sns: FakeProvider, sns_signer: SnsSigner
) -> None:
    message = sns_signer.sign(notification("ses_bounce_with_dsn.json", SigningCertURL=url))
    async with loopback_client(sns) as client:
        with pytest.raises(VerificationFailed, match="SigningCertURL"):
            await receive(SETTINGS, request(message), now=NOW, certificates=SnsCertificates(client))
    assert sns.received == []


async def test_a_topic_not_in_the_integration_is_refused_without_a_fetch(
    sns: FakeProvider, sns_signer: SnsSigner
) -> None:
    message = sns_signer.sign(notification("ses_bounce_with_dsn.json", TopicArn=TOPIC + "Other"))
    async with loopback_client(sns) as client:
        with pytest.raises(VerificationFailed, match="TopicArn"):
            await receive(SETTINGS, request(message), now=NOW, certificates=SnsCertificates(client))
    assert sns.received == []


async def test_a_message_type_header_that_contradicts_the_body_is_refused(sns_signer: SnsSigner) -> None:
    pinned = SesSettings(topic_arns=(TOPIC,), signing_certificate_pem=sns_signer.certificate_pem.decode())
    message = sns_signer.sign(notification("ses_bounce_with_dsn.json"))
    with pytest.raises(VerificationFailed, match="x-amz-sns-message-type"):
        await receive(pinned, request(message, **{"x-amz-sns-message-type": "SubscriptionConfirmation"}), now=NOW)


async def test_an_unreachable_certificate_is_a_retryable_failure(fake_provider: Any, sns_signer: SnsSigner) -> None:
    down: FakeProvider = fake_provider(default=500)
    message = sns_signer.sign(notification("ses_bounce_with_dsn.json"))
    async with loopback_client(down) as client:
        certificates = SnsCertificates(client)
        with pytest.raises(CertificateUnavailable):
            await receive(SETTINGS, request(message), now=NOW, certificates=certificates)
        down.default = 200
        down.answer_body = sns_signer.certificate_pem
        inbound = await receive(SETTINGS, request(message), now=NOW, certificates=certificates)
    assert [f.kind for f in inbound.feedback] == ["hard_bounce"]
    assert len(down.received) == 2


async def test_a_subscription_confirmation_yields_its_url_and_confirming_gets_it(
    sns: FakeProvider, sns_signer: SnsSigner
) -> None:
    message = json.loads(fixture("sns_subscription_confirmation.json"))
    message["Timestamp"] = stamp(NOW)
    signed = sns_signer.sign(message, "1")
    async with loopback_client(sns) as client:
        inbound = await receive(SETTINGS, request(signed), now=NOW, certificates=SnsCertificates(client))
        assert inbound.subscribe_url == message["SubscribeURL"]
        assert inbound.feedback == ()
        assert inbound.subscribe_url is not None
        await confirm_subscription(client, inbound.subscribe_url)
    assert [r.headers["x-intended-url"] for r in sns.received] == [CERT_URL, message["SubscribeURL"]]


async def test_a_subscribe_url_off_sns_is_refused(sns: FakeProvider, sns_signer: SnsSigner) -> None:
    message = json.loads(fixture("sns_subscription_confirmation.json"))
    message["Timestamp"] = stamp(NOW)
    message["SubscribeURL"] = "https://evil.example/?Action=ConfirmSubscription"
    async with loopback_client(sns) as client:
        with pytest.raises(VerificationFailed, match="SubscribeURL"):
            await receive(SETTINGS, request(sns_signer.sign(message)), now=NOW, certificates=SnsCertificates(client))
        with pytest.raises(VerificationFailed, match="SubscribeURL"):
            await confirm_subscription(client, "https://evil.example/?Action=ConfirmSubscription")
    assert [r.headers["x-intended-url"] for r in sns.received] == [CERT_URL]  # the signature was checked, no more


async def test_an_unsubscribe_confirmation_is_verified_and_ignored(sns_signer: SnsSigner) -> None:
    pinned = SesSettings(topic_arns=(TOPIC,), signing_certificate_pem=sns_signer.certificate_pem.decode())
    message = json.loads(fixture("sns_subscription_confirmation.json"))
    message.update(Type="UnsubscribeConfirmation", Timestamp=stamp(NOW))
    inbound = await receive(pinned, request(sns_signer.sign(message)), now=NOW)
    assert inbound.feedback == ()
    assert inbound.subscribe_url is None
    assert inbound.ignored[0].provider_event == "UnsubscribeConfirmation"
    forged = sns_signer.sign(message)
    forged["Token"] = "other"
    with pytest.raises(VerificationFailed):
        await receive(pinned, request(forged), now=NOW)


async def test_concurrent_messages_share_one_certificate_fetch(sns: FakeProvider, sns_signer: SnsSigner) -> None:
    import asyncio

    messages = [sns_signer.sign(notification("ses_complaint.json", MessageId=f"m-{i}")) for i in range(8)]
    async with loopback_client(sns) as client:
        certificates = SnsCertificates(client)
        results = await asyncio.gather(
            *(receive(SETTINGS, request(m), now=NOW, certificates=certificates) for m in messages)
        )
    assert all(r.feedback[0].kind == "complaint" for r in results)
    assert len(sns.received) == 1


def test_feedback_never_shows_its_address() -> None:
    from consent_svc.integrations import Feedback

    item = Feedback(
        provider="ses",
        event_id="e",
        occurred_at=NOW,
        kind="complaint",
        provider_event="Complaint",
        payload_sha256="0" * 64,
        email="jane@example.com",
    )
    assert "jane" not in repr(item)
    assert "jane" not in str(item)
    assert "jane" not in f"{[item]}"
