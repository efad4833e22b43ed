"""Double opt-in sign-ups (docs/forms.md): a sign-up waits until the person confirms it by the
link sent to their address; the confirmation records one ``consent_given`` per purpose with a
proof that holds both steps.

* ``start``: validate, judge whether a message goes (the quiet period, an address nothing could
  come of) and how (an email queued for the mailer when ``CONSENT_SMTP_URL`` is set, else a
  ``signup.pending`` webhook message), and store the sign-up: one transaction.
* ``confirmation`` reads what the page shows and changes nothing (mail scanners fetch links);
  ``confirm`` records the consents, single use, in one transaction.

The confirmation link is signed like the unsubscribe links (``domain.tokens.sign_link``) and
expires after ``CONSENT_CONFIRM_TTL_HOURS``; the address is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import structlog

from consent_svc.domain import optin, tokens
from consent_svc.domain.errors import FieldError, InvalidInput, NotFound
from consent_svc.domain.identifiers import Identifier, normalize
from consent_svc.domain.ids import uuid7
from consent_svc.domain.models import PurposeConfig, SuppressionFact
from consent_svc.domain.network import truncate_ip
from consent_svc.domain.records import BrandingRow, SignupRow
from consent_svc.service.context import Context
from consent_svc.service.decisions import purpose_from_config
from consent_svc.service.events import record_in
from consent_svc.service.inputs import EventIn, Proof, SignupIn, SubjectRef
from consent_svc.service.unsubscribe import lift_unsubscribes
from consent_svc.store import outbox
from consent_svc.store import purposes as purpose_store
from consent_svc.store import signups as store
from consent_svc.store import subjects as subject_store
from consent_svc.store import suppressions as suppression_store
from consent_svc.store import tenants as tenant_store

_log = structlog.get_logger("consent_svc.signups")
Delivery = Literal["smtp", "webhook", "none", "quiet", "suppressed"]


class ConfirmedProof(Proof, kw_only=True, omit_defaults=True):
    """A consent's proof with the blocks only the service writes (clients cannot send them:
    ``Proof`` refuses unknown fields): a double opt-in confirmation, a re-permission link's."""

    double_opt_in: dict[str, Any] | None = None
    reconsent: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Client:
    """Who sent a request: the address is cut to its /24 (IPv6 /48) before anything keeps it."""

    ip: str | None
    user_agent: str | None

    @property
    def ip_prefix(self) -> str | None:
        return truncate_ip(self.ip)

    @property
    def agent(self) -> str | None:
        return (self.user_agent or "")[:1000] or None


@dataclass(frozen=True, slots=True)
class Started:
    signup_id: UUID
    confirm_url: str
    expires_at: datetime
    delivery: Delivery


def email_identifier(raw: str) -> Identifier:
    """The normalized email (InvalidInput, field ``email``, when it is not one)."""
    return normalize("email", raw, field="email")


def _keys(ctx: Context) -> list[bytes]:
    return [key.reveal() for key in ctx.settings.token_keys]


def confirm_url(ctx: Context, tenant_id: UUID, signup_id: UUID, expires_at: datetime) -> str:
    """The sign-up's link (the same every time it is made: the mailer makes it again)."""
    claims = tokens.LinkClaims(tenant_id, signup_id, int(expires_at.timestamp()))
    return f"{ctx.settings.public_url}/c/{tokens.sign_link(_keys(ctx), 'confirm', claims)}"


def _whole_seconds(at: datetime) -> datetime:
    return datetime.fromtimestamp(int(at.timestamp()), UTC)


async def signup_purposes(conn: Any, tenant_id: UUID, keys: list[str], field: str) -> list[PurposeConfig]:
    if len(set(keys)) != len(keys):
        raise InvalidInput.field(field, "lists a purpose twice")
    rows = {r.key: r for r in await purpose_store.list_purposes(conn, tenant_id)}
    errors = []
    found = []
    for i, key in enumerate(keys):
        row = rows.get(key)
        if row is None:
            errors.append(FieldError(f"{field}[{i}]", f"unknown purpose {key!r}"))
            continue
        purpose = purpose_from_config(row.config)
        if "email" not in purpose.channels:
            errors.append(
                FieldError(f"{field}[{i}]", f"purpose {key!r} does not use email; sign-ups are confirmed by email")
            )
        found.append(purpose)
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].message}", errors)
    return found


def _notices(purposes: list[PurposeConfig], named: str | None) -> dict[str, str]:
    """The notice version each purpose showed: the one the form names (every purpose must have
    published it), else each purpose's current one."""
    if named is None:
        return {p.key: p.notice_version for p in purposes}
    missing = [p.key for p in purposes if named not in (*p.notice_versions, p.notice_version)]
    if missing:
        raise InvalidInput.field(
            "proof.notice_version", f"never published by {', '.join(missing)} (leave it out to use each current one)"
        )
    return {p.key: named for p in purposes}


def _suppression_facts(rows: list[Any]) -> list[SuppressionFact]:
    return [
        SuppressionFact(id=r.id, scope=r.scope, channel=r.channel, reason=r.reason, created_at=r.created_at)
        for r in rows
    ]


async def start(
    ctx: Context, tenant_id: UUID, body: SignupIn, *, client: Client | None = None, form_key: str | None = None
) -> Started:
    """Store a sign-up and queue (or announce) its confirmation message; one transaction.
    ``client``: who sent it, when the service saw the request itself (a form); else the proof's."""
    if body.email is None:
        raise InvalidInput.field(
            "email", "a sign-up is confirmed by a link sent by email: give the email (a phone may come along)"
        )
    region = ctx.settings.default_phone_region
    email = email_identifier(body.email)
    phone = normalize("phone", body.phone, region=region, field="phone") if body.phone is not None else None
    if body.proof.ip is not None and truncate_ip(body.proof.ip) is None:
        raise InvalidInput.field("proof.ip", "is not an IP address")
    who = client or Client(body.proof.ip, body.proof.user_agent)
    ident_hash = ctx.hasher.key(email)
    async with ctx.pool.acquire() as conn, conn.transaction():
        purposes = await signup_purposes(conn, tenant_id, list(body.purposes), "purposes")
        notices = _notices(purposes, body.proof.notice_version)
        await store.lock_address(conn, tenant_id, ident_hash)
        now = ctx.clock()
        expires_at = _whole_seconds(now + timedelta(hours=ctx.settings.confirm_ttl_hours))
        signup_id = uuid7()
        url = confirm_url(ctx, tenant_id, signup_id, expires_at)
        entries = _suppression_facts(await suppression_store.active_for(conn, tenant_id, [ident_hash]))
        delivery: Delivery
        if optin.confirmation_blocked(purposes, entries):
            delivery = "suppressed"
        elif optin.quiet(await store.last_message_at(conn, tenant_id, ident_hash), now):
            delivery = "quiet"
        elif ctx.settings.smtp is not None:
            delivery = "smtp"
        elif "signup.pending" in await outbox.subscribed(conn, tenant_id):
            delivery = "webhook"
        else:
            delivery = "none"
        sent = delivery in ("smtp", "webhook")
        row = SignupRow(
            tenant_id=tenant_id, id=signup_id, ident_hash=ident_hash, email=email.value,
            phone=phone.value if phone else None, purposes=[p.key for p in purposes], language=body.language,
            proof={
                "notice_versions": notices,
                "form_url": body.proof.form_url,
                "ip_prefix": who.ip_prefix,
                "user_agent": who.agent,
            },
            form_key=form_key, status="pending", created_at=now, expires_at=expires_at, confirmed_at=None,
            subject_id=None, delivery=delivery, message_at=now if sent else None, message_id=None,
            mail_status="queued" if delivery == "smtp" else None, mail_attempts=0, mail_sent_at=None,
        )  # fmt: skip
        await store.insert_signup(conn, row, now if delivery == "smtp" else None)
        if delivery == "webhook":
            payload: dict[str, Any] = {
                "signup_id": str(signup_id),
                "email": email.value,
                "purposes": row.purposes,
                "language": body.language,
                "confirm_url": url,
                "expires_at": expires_at.isoformat(),
            }
            if phone is not None:
                payload["phone"] = phone.value
            await outbox.enqueue(
                conn, tenant_id, [outbox.Message(type="signup.pending", payload=payload, ident_hash=ident_hash)]
            )
    _log.info("signup started", signup_id=str(signup_id), delivery=delivery, form_key=form_key)
    return Started(signup_id, url, expires_at, delivery)


ConfirmState = Literal["pending", "confirmed", "expired"]


@dataclass(frozen=True, slots=True)
class ConfirmView:
    state: ConfirmState
    branding: BrandingRow
    purposes: list[PurposeConfig]
    language: str


def _claims(ctx: Context, token: str) -> tokens.LinkClaims:
    claims = tokens.verify_link(_keys(ctx), "confirm", token)
    if claims is None:
        raise NotFound("no such link")
    return claims


async def _view(conn: Any, ctx: Context, claims: tokens.LinkClaims, row: SignupRow | None) -> ConfirmView:
    branding = await tenant_store.get_branding(conn, claims.tenant_id)
    expired = ctx.clock().timestamp() >= claims.expires
    if branding is None or (row is None and not expired):
        raise NotFound("no such link")  # erased, or never ours
    if row is None:
        return ConfirmView("expired", branding, [], "sv")  # purged after it expired
    purposes = [purpose_from_config(r.config) for r in await purpose_store.list_purposes(conn, claims.tenant_id)]
    shown = [p for p in purposes if p.key in row.purposes]
    state: ConfirmState = "confirmed" if row.status == "confirmed" else "expired" if expired else "pending"
    return ConfirmView(state, branding, shown, row.language)


async def confirmation(ctx: Context, token: str) -> ConfirmView:
    """What ``GET /c/{token}`` shows; writes nothing."""
    claims = _claims(ctx, token)
    async with ctx.pool.acquire() as conn:
        return await _view(conn, ctx, claims, await store.signup(conn, claims.tenant_id, claims.id))


async def confirm(ctx: Context, token: str, client: Client) -> tuple[ConfirmView, bool]:
    """Confirm the sign-up: one ``consent_given`` per purpose (email, the notice the page showed),
    the ``unsubscribe`` entries of those purposes lifted, the sign-up marked used. Returns the
    view and whether this request confirmed it (False: it was used or expired already)."""
    claims = _claims(ctx, token)
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await store.signup(conn, claims.tenant_id, claims.id, lock=True)
        view = await _view(conn, ctx, claims, row)
        if view.state != "pending":
            return view, False
        assert row is not None
        assert row.email is not None
        now = ctx.clock()
        confirmation_proof = {
            "signup_id": str(row.id),
            "signup_at": row.created_at.isoformat(),
            "signup_ip_prefix": row.proof.get("ip_prefix"),
            "signup_user_agent": row.proof.get("user_agent"),
            "confirmed_at": now.isoformat(),
            "confirm_ip_prefix": client.ip_prefix,
            "confirm_user_agent": client.agent,
            "form_url": row.proof.get("form_url"),
        }
        notices = row.proof.get("notice_versions") or {}
        subject = SubjectRef(email=row.email)
        events = [
            EventIn(
                subject=subject, type="consent_given", purpose=p.key, channels=["email"], source="web_form",
                occurred_at=now,
                proof=ConfirmedProof(
                    notice_version=p.notice_version, ip=client.ip_prefix, user_agent=client.agent,
                    form_url=row.proof.get("form_url"),
                    double_opt_in={**confirmation_proof, "notice_version": notices.get(p.key, p.notice_version)},
                ),
            )
            for p in view.purposes
        ]  # fmt: skip
        results = await record_in(conn, ctx, claims.tenant_id, events)
        subject_id = results[0].subject_id
        if row.phone is not None:
            # The phone came along unconfirmed: attached when it is free, never at the cost of the confirmation.
            phone = normalize("phone", row.phone, region=ctx.settings.default_phone_region)
            new = subject_store.NewIdentifier(ctx.hasher.key(phone), "phone", phone.value)
            await subject_store.add_identifiers(conn, claims.tenant_id, subject_id, [new])
        stored = await subject_store.subject_by_id(conn, claims.tenant_id, subject_id)
        assert stored is not None
        marketing = {
            purpose_from_config(r.config).key
            for r in await purpose_store.list_purposes(conn, claims.tenant_id)
            if r.config.get("direct_marketing")
        }
        confirmed = {p.key for p in view.purposes}
        for p in view.purposes:
            await lift_unsubscribes(
                conn, ctx, claims.tenant_id, stored, p.key, marketing - confirmed,
                f"confirmed sign-up {row.id} to {p.key} (double opt-in)", "double_opt_in",
            )  # fmt: skip
        await store.mark_confirmed(conn, claims.tenant_id, row.id, now, subject_id)
    _log.info("signup confirmed", signup_id=str(row.id), subject_id=str(subject_id))
    return ConfirmView("confirmed", view.branding, view.purposes, view.language), True
