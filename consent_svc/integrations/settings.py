"""Integration settings from the API's JSON: decode, check, and say which fields are secret.

``validate_settings`` is what ``POST /v1/integrations`` (planned) calls on its
``settings`` object: unknown fields, a SendGrid key that is not a P-256 public
key, a pinned SNS certificate that is not PEM, a topic ARN that is not one,
or, with ``sync_suppressions``, missing API credentials, are each a 400 with
the field named. ``SECRET_FIELDS`` are write-only (never returned), and
``public_settings`` is what a GET may show.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
from cryptography import x509

from consent_svc.domain.errors import FieldError, InvalidInput
from consent_svc.integrations.model import (
    SETTINGS_TYPES,
    MailgunSettings,
    PostmarkSettings,
    Provider,
    SendGridSettings,
    SesSettings,
    Settings,
)
from consent_svc.integrations.sendgrid import load_verification_key
from consent_svc.integrations.ses import topic_region

SECRET_FIELDS: dict[Provider, frozenset[str]] = {
    "ses": frozenset({"secret_access_key", "session_token"}),
    "sendgrid": frozenset({"api_key"}),
    "mailgun": frozenset({"signing_key", "api_key"}),
    "twilio": frozenset({"auth_token"}),
    "postmark": frozenset({"password_sha256", "server_token"}),
}

# What suppressions out needs, per provider (Twilio has no suppression API).
OUTBOUND_FIELDS: dict[Provider, tuple[str, ...]] = {
    "ses": ("region", "access_key_id", "secret_access_key"),
    "sendgrid": ("api_key",),
    "mailgun": ("api_key", "domain"),
    "postmark": ("server_token",),
    "twilio": (),
}


def validate_settings(
    provider: Provider, raw: Mapping[str, Any], *, sync_suppressions: bool = False, field: str = "settings"
) -> Settings:
    """The provider's settings Struct, or ``InvalidInput`` naming every field at fault."""
    kind = SETTINGS_TYPES[provider]
    try:
        settings = msgspec.convert(dict(raw), kind)
    except msgspec.ValidationError as exc:
        # msgspec names the path as "$.field"; the message never echoes a value.
        text = str(exc)
        path = text.rsplit(" - at `$.", 1)[-1].rstrip("`") if " - at `$." in text else ""
        name = f"{field}.{path}" if path else field
        raise InvalidInput.field(name, text.split(" - at ", 1)[0]) from None
    errors: list[FieldError] = []

    def fault(name: str, message: str) -> None:
        errors.append(FieldError(f"{field}.{name}", message))

    if isinstance(settings, SesSettings):
        if not settings.topic_arns:
            fault("topic_arns", "name at least one SNS topic ARN")
        for index, arn in enumerate(settings.topic_arns):
            if topic_region(arn) is None:
                fault(f"topic_arns[{index}]", "is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
        if settings.signing_certificate_pem is not None:
            try:
                x509.load_pem_x509_certificate(settings.signing_certificate_pem.encode())
            except ValueError:
                fault("signing_certificate_pem", "is not a PEM X.509 certificate")
    elif isinstance(settings, SendGridSettings):
        try:
            load_verification_key(settings.verification_key)
        except ValueError as exc:
            fault("verification_key", f"is {exc}")
    elif isinstance(settings, PostmarkSettings):
        digest = settings.password_sha256
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest.lower()):
            fault("password_sha256", "is not a hex SHA-256")
    elif isinstance(settings, MailgunSettings) and not settings.signing_key.strip():
        fault("signing_key", "is empty")
    base = getattr(settings, "api_base_url", None)
    if base is not None and not _base_url_ok(base):
        fault("api_base_url", "must be an https URL (http only on a loopback address), without user info or query")
    if sync_suppressions:
        for name in OUTBOUND_FIELDS[provider]:
            if not getattr(settings, name):
                fault(name, "is required to sync suppressions")
        if provider == "twilio":
            errors.append(
                FieldError(
                    "sync_suppressions",
                    "Twilio has no API to add opt-outs: its list follows the STOP and START replies it receives",
                )
            )
    if errors:
        raise InvalidInput(f"{field}: " + "; ".join(f"{e.field} {e.message}" for e in errors), errors)
    return settings


def public_settings(provider: Provider, settings: Settings) -> dict[str, Any]:
    """The settings without their secrets (a secret field that is set shows as ``"***"``)."""
    shown: dict[str, Any] = msgspec.to_builtins(settings)
    for name in SECRET_FIELDS[provider]:
        if shown.get(name) is not None:
            shown[name] = "***"
    return shown


def _base_url_ok(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return False
    if parts.hostname is None:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False
