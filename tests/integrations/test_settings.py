"""Integration settings: what ``POST /v1/integrations`` (planned) will accept, refuse and show."""

from __future__ import annotations

import pytest

from consent_svc.domain.errors import InvalidInput
from consent_svc.integrations import (
    PostmarkSettings,
    SendGridSettings,
    SesSettings,
    generate_credentials,
    public_settings,
    validate_settings,
)

from .conftest import SendGridSigner, SnsSigner

TOPIC = "arn:aws:sns:eu-north-1:123456789012:ses-feedback"


def fields_of(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e.field for e in exc.value.errors]


def test_valid_settings_of_each_provider(sendgrid_signer: SendGridSigner, sns_signer: SnsSigner) -> None:
    ses = validate_settings(
        "ses", {"topic_arns": [TOPIC], "signing_certificate_pem": sns_signer.certificate_pem.decode()}
    )
    assert isinstance(ses, SesSettings)
    assert ses.topic_arns == (TOPIC,)
    assert isinstance(
        validate_settings("sendgrid", {"verification_key": sendgrid_signer.verification_key}), SendGridSettings
    )
    credentials = generate_credentials()
    postmark = validate_settings(
        "postmark", {"username": credentials.username, "password_sha256": credentials.password_sha256}
    )
    assert isinstance(postmark, PostmarkSettings)
    validate_settings("mailgun", {"signing_key": "key-1"})
    validate_settings("twilio", {"auth_token": "t"})


def test_bad_settings_name_every_field_at_fault(sendgrid_signer: SendGridSigner) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_settings(
            "ses",
            {"topic_arns": ["arn:aws:sqs:eu-north-1:123456789012:q"], "signing_certificate_pem": "nope"},
        )
    assert fields_of(exc) == ["settings.topic_arns[0]", "settings.signing_certificate_pem"]
    with pytest.raises(InvalidInput) as exc:
        validate_settings("ses", {"topic_arns": []})
    assert fields_of(exc) == ["settings.topic_arns"]
    with pytest.raises(InvalidInput) as exc:  # an RSA key, or text, is not the P-256 key SendGrid shows
        validate_settings("sendgrid", {"verification_key": "bm90IGEga2V5"})
    assert fields_of(exc) == ["settings.verification_key"]
    with pytest.raises(InvalidInput) as exc:
        validate_settings("sendgrid", {"verification_key": sendgrid_signer.verification_key, "extra": 1})
    assert fields_of(exc) == ["settings"]
    assert "unknown field" in str(exc.value)
    with pytest.raises(InvalidInput) as exc:
        validate_settings("mailgun", {})
    assert fields_of(exc) == ["settings"]
    assert "signing_key" in str(exc.value)


def test_syncing_suppressions_needs_api_credentials_and_twilio_cannot(sendgrid_signer: SendGridSigner) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_settings("ses", {"topic_arns": [TOPIC]}, sync_suppressions=True)
    assert fields_of(exc) == ["settings.region", "settings.access_key_id", "settings.secret_access_key"]
    with pytest.raises(InvalidInput) as exc:
        validate_settings("mailgun", {"signing_key": "s", "api_key": "k"}, sync_suppressions=True)
    assert fields_of(exc) == ["settings.domain"]
    with pytest.raises(InvalidInput) as exc:
        validate_settings("twilio", {"auth_token": "t"}, sync_suppressions=True)
    assert fields_of(exc) == ["sync_suppressions"]
    ok = validate_settings(
        "sendgrid", {"verification_key": sendgrid_signer.verification_key, "api_key": "SG.k"}, sync_suppressions=True
    )
    assert isinstance(ok, SendGridSettings)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.eu.sendgrid.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://api.sendgrid.com", False),
        ("https://user:pw@api.sendgrid.com", False),
        ("ftp://api.sendgrid.com", False),
        ("https://api.sendgrid.com?x=1", False),
    ],
)
def test_an_api_base_url_override_is_https_or_loopback(url: str, ok: bool, sendgrid_signer: SendGridSigner) -> None:
    raw = {"verification_key": sendgrid_signer.verification_key, "api_base_url": url}
    if ok:
        validate_settings("sendgrid", raw)
    else:
        with pytest.raises(InvalidInput) as exc:
            validate_settings("sendgrid", raw)
        assert fields_of(exc) == ["settings.api_base_url"]


def test_secrets_are_never_shown() -> None:
    shown = public_settings(
        "mailgun", validate_settings("mailgun", {"signing_key": "sk-secret", "api_key": "ak-secret", "domain": "d"})
    )
    assert shown == {"signing_key": "***", "api_key": "***", "domain": "d", "api_base_url": None}
    settings = validate_settings("twilio", {"auth_token": "tok-secret"})
    assert "tok-secret" not in repr(settings)
    assert public_settings("twilio", settings) == {"auth_token": "***"}
