"""Email and SMS providers: feedback in, suppressions out (issue 16, the protocol half).

Pure code, or code around an injected ``httpx.AsyncClient``: no database, no
web framework. The service and HTTP layers wire it to ``POST /in/{id}`` and to
the outbox (docs/integrations.md says what is built and what is planned).

Feedback in::

    inbound = await receive(settings, InboundRequest(url, headers, body), now=now, certificates=certs)
    # VerificationFailed -> 401, CertificateUnavailable -> 503, InvalidInput -> 400
    inbound.feedback       # Feedback items: kind, email/phone, group, event_id, occurred_at, payload_sha256
    inbound.ignored        # events with no consent effect, each with a reason
    inbound.subscribe_url  # SNS SubscriptionConfirmation: await confirm_subscription(client, url)

Suppressions out::

    plan = plan_pushes(settings, entries, "add", groups=purposes)   # requests + skipped entries with reasons
    results = await SuppressionPusher(client).push_all(settings, plan.requests)

Set-up: ``validate_settings`` (400s naming the field), ``public_settings``
(secrets masked), ``generate_credentials`` (Postmark basic auth).
"""

from consent_svc.integrations.errors import CertificateUnavailable, VerificationFailed
from consent_svc.integrations.inbound import receive
from consent_svc.integrations.model import (
    FEEDBACK_KINDS,
    PROVIDERS,
    SETTINGS_TYPES,
    Feedback,
    FeedbackKind,
    Ignored,
    Inbound,
    InboundRequest,
    MailgunSettings,
    PostmarkSettings,
    Provider,
    SendGridSettings,
    SesSettings,
    Settings,
    TwilioSettings,
)
from consent_svc.integrations.outbound import (
    OutboundSuppression,
    PushPlan,
    PushRequest,
    PushResult,
    SkippedEntry,
    SuppressionPusher,
    build_http_request,
    plan_pushes,
)
from consent_svc.integrations.postmark import Credentials, generate_credentials
from consent_svc.integrations.ses import SnsCertificates, confirm_subscription
from consent_svc.integrations.settings import SECRET_FIELDS, public_settings, validate_settings

__all__ = [
    "FEEDBACK_KINDS",
    "PROVIDERS",
    "SECRET_FIELDS",
    "SETTINGS_TYPES",
    "CertificateUnavailable",
    "Credentials",
    "Feedback",
    "FeedbackKind",
    "Ignored",
    "Inbound",
    "InboundRequest",
    "MailgunSettings",
    "OutboundSuppression",
    "PostmarkSettings",
    "Provider",
    "PushPlan",
    "PushRequest",
    "PushResult",
    "SendGridSettings",
    "SesSettings",
    "Settings",
    "SkippedEntry",
    "SnsCertificates",
    "SuppressionPusher",
    "TwilioSettings",
    "VerificationFailed",
    "build_http_request",
    "confirm_subscription",
    "generate_credentials",
    "plan_pushes",
    "public_settings",
    "receive",
    "validate_settings",
]
