"""One entry point for ``POST /in/{integration_id}``: verify, then parse, whatever the provider."""

from __future__ import annotations

from datetime import datetime

from consent_svc.integrations import mailgun, postmark, sendgrid, ses, twilio
from consent_svc.integrations.model import (
    Inbound,
    InboundRequest,
    MailgunSettings,
    PostmarkSettings,
    SendGridSettings,
    SesSettings,
    Settings,
    TwilioSettings,
)


async def receive(
    settings: Settings,
    request: InboundRequest,
    *,
    now: datetime,
    certificates: ses.SnsCertificates | None = None,
) -> Inbound:
    """Verify ``request`` as the integration's provider documents it, and read its events.

    ``settings`` picks the provider. ``now`` is the receiving time (timestamps
    older than 5 minutes are refused; a Twilio SMS takes it as its time).
    ``certificates`` fetches and caches SNS signing certificates (one per
    process, around the app's httpx client); not needed for other providers,
    nor for SES with a pinned certificate.

    Raises ``VerificationFailed`` (-> 401: nothing may change),
    ``CertificateUnavailable`` (-> 503: SNS will try again) or ``InvalidInput``
    (-> 400: verified, but not a payload the provider sends).
    """
    if isinstance(settings, SesSettings):
        return await ses.receive(request, settings, now, certificates)
    if isinstance(settings, SendGridSettings):
        return sendgrid.receive(request, settings, now)
    if isinstance(settings, MailgunSettings):
        return mailgun.receive(request, settings, now)
    if isinstance(settings, TwilioSettings):
        return twilio.receive(request, settings, now)
    if isinstance(settings, PostmarkSettings):
        return postmark.receive(request, settings)
    raise TypeError(f"not integration settings: {type(settings).__name__}")
