"""The confirmation mailer: sends the double opt-in emails queued by sign-ups, over SMTP
(``CONSENT_SMTP_URL``, aiosmtplib).

Each round leases due messages (``store.signups.claim_mail``: a statement of its own,
``FOR UPDATE SKIP LOCKED``, so replicas never send one twice at once), sends each with one
deadline, and records the outcome. A failure is retried with exponential backoff (30 s,
1 min, 2 min ... at most an hour) up to ``MAX_ATTEMPTS`` times, then given up (the sign-up
still expires and is purged). A mailer that dies holding a message leaves it due again when
the lease runs out. Log lines name the sign-up id, never the address.
"""

from __future__ import annotations

import aiosmtplib
import structlog

from consent_svc.config import SmtpSettings
from consent_svc.domain.records import BrandingRow, SignupRow
from consent_svc.service import signups
from consent_svc.service.context import Context
from consent_svc.service.decisions import purpose_from_config
from consent_svc.store import purposes as purpose_store
from consent_svc.store import signups as store
from consent_svc.store import tenants as tenant_store
from consent_svc.web.mail import confirmation_email

_log = structlog.get_logger("consent_svc.mailer")
BATCH = 20
SEND_TIMEOUT_SECONDS = 30.0
LEASE_SECONDS = 2 * SEND_TIMEOUT_SECONDS + 10
MAX_ATTEMPTS = 8
POLL_SECONDS = 0.5


def backoff(attempts: int) -> float:
    return float(min(3600, 30 * 2 ** max(0, attempts - 1)))


async def send(smtp: SmtpSettings, message: object) -> None:
    await aiosmtplib.send(
        message,  # type: ignore[arg-type]
        hostname=smtp.host,
        port=smtp.port,
        username=smtp.username,
        password=smtp.password.reveal().decode() if smtp.password is not None else None,
        use_tls=smtp.implicit_tls,
        start_tls=True if smtp.require_starttls else None,  # None: upgrade when offered (loopback only)
        timeout=SEND_TIMEOUT_SECONDS,
    )


async def send_due(ctx: Context) -> int:
    """One round: send what is due; returns how many were sent."""
    smtp = ctx.settings.smtp
    if smtp is None:
        return 0
    async with ctx.pool.acquire() as conn:
        due = await store.claim_mail(conn, BATCH, LEASE_SECONDS)
    sent = 0
    for row in due:
        if await _send_one(ctx, smtp, row):
            sent += 1
    return sent


async def _send_one(ctx: Context, smtp: SmtpSettings, row: SignupRow) -> bool:
    async with ctx.pool.acquire() as conn:
        branding = await tenant_store.get_branding(conn, row.tenant_id)
        purposes = [purpose_from_config(r.config) for r in await purpose_store.list_purposes(conn, row.tenant_id)]
    if row.email is None:
        return False
    message = confirmation_email(
        branding=branding or BrandingRow(name="", display_name=None, logo_url=None, primary_color=None,
                                         privacy_policy_url=None, unsubscribe_mailto=None),
        purposes=[p for p in purposes if p.key in row.purposes],
        lang="en" if row.language == "en" else "sv",
        url=signups.confirm_url(ctx, row.tenant_id, row.id, row.expires_at),
        sender=smtp.sender,
        to=row.email,
        hours=ctx.settings.confirm_ttl_hours,
    )  # fmt: skip
    try:
        await send(smtp, message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        retry = None if row.mail_attempts >= MAX_ATTEMPTS else backoff(row.mail_attempts)
        async with ctx.pool.acquire() as conn:
            await store.mail_failed(conn, row.tenant_id, row.id, type(exc).__name__, retry)
        _log.warning(
            "confirmation email failed", signup_id=str(row.id), error=type(exc).__name__, attempt=row.mail_attempts
        )
        return False
    async with ctx.pool.acquire() as conn:
        await store.mail_sent(conn, row.tenant_id, row.id, str(message["Message-ID"]))
    _log.info("confirmation email sent", signup_id=str(row.id))
    return True
