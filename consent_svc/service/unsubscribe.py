"""Unsubscribe links (RFC 8058 one-click), the preference center, and mailto unsubscribes.

Every change here is one transaction: the ledger events (``consent_withdrawn``
and ``objection``, or ``consent_given`` on a re-subscribe), the suppression
entries, and the lifts, together or not at all.

Taking a person out never needs more than the link: the one-click needs no
nonce and is never refused by a limiter. Bringing a person back in needs the
preference page's form with a current nonce (``form_nonce``), sent from the
page's own origin (checked in ``consent_svc.http.unsubscribe``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import UUID

import msgspec
import structlog

from consent_svc.domain import tokens
from consent_svc.domain.errors import InvalidInput, NotFound
from consent_svc.domain.identifiers import CONTACT_TYPES, Identifier
from consent_svc.domain.models import PurposeConfig
from consent_svc.domain.records import BrandingRow, SubjectRow
from consent_svc.service import subjects
from consent_svc.service.context import Context
from consent_svc.service.decisions import purpose_from_config, subject_answer
from consent_svc.service.events import record_in, subject_identifiers
from consent_svc.service.inputs import EventIn, Proof, SubjectRef
from consent_svc.service.suppressions import new_entry
from consent_svc.store import purposes as purpose_store
from consent_svc.store import subjects as subject_store
from consent_svc.store import suppressions as suppression_store
from consent_svc.store import tenants as tenant_store

ONE_CLICK = "List-Unsubscribe=One-Click"
NOT_HTTPS = (
    "CONSENT_PUBLIC_URL is not https: RFC 8058 one-click unsubscribe needs an https link, "
    "and mailbox providers ignore List-Unsubscribe-Post for any other"
)


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    token: str
    headers: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def _keys(ctx: Context) -> list[bytes]:
    return [key.reveal() for key in ctx.settings.token_keys]


def public_url_warnings(public_url: str) -> list[str]:
    """What is wrong with ``CONSENT_PUBLIC_URL`` for the links (empty when nothing)."""
    return [] if urlsplit(public_url).scheme.lower() == "https" else [NOT_HTTPS]


def warn_if_public_url_not_https(public_url: str) -> None:
    """For ``serve`` at start-up: a structlog warning when the links will not be https."""
    for message in public_url_warnings(public_url):
        structlog.get_logger("consent_svc.unsubscribe").warning(
            "public_url_not_https", public_url=public_url, detail=message
        )


# RFC 6068: what may stay as it is in the addr-spec of a mailto: URI (the rest is
# percent-encoded: "%", "/", "?", "#", "&", ";", "=", "," and anything not in a URI).
_MAILTO_ADDR_SAFE = "!$'()*+:@"


def mailto_uri(address: str, subject: str) -> str:
    """``mailto:address?subject=...`` per RFC 6068: one recipient and one header field, whatever the text."""
    return f"mailto:{quote(address, safe=_MAILTO_ADDR_SAFE)}?subject={quote(subject, safe='')}"


async def create_link(
    ctx: Context, tenant_id: UUID, *, email: str | None, subject_id: UUID | None, purpose: str | None
) -> Link:
    if (email is None) == (subject_id is None):
        raise InvalidInput.field("email", "give exactly one of email or subject_id")
    async with ctx.pool.acquire() as conn, conn.transaction():
        if purpose is not None:
            row = await purpose_store.get_purpose(conn, tenant_id, purpose)
            if row is None or not row.config.get("direct_marketing"):
                raise InvalidInput.field("purpose", f"no direct-marketing purpose {purpose!r}")
        if email is not None:
            [ident] = subject_identifiers(SubjectRef(email=email), ctx.settings.default_phone_region, "")
            subject_id = await subjects.find_or_create(conn, ctx, tenant_id, [ident])
        else:
            assert subject_id is not None
            if await subject_store.subject_by_id(conn, tenant_id, subject_id) is None:
                raise NotFound(f"no subject {subject_id}")
        branding = await tenant_store.get_branding(conn, tenant_id)
    token = tokens.sign(_keys(ctx), tokens.TokenClaims(tenant_id, subject_id, purpose))
    url = f"{ctx.settings.public_url}/u/{token}"
    targets = [f"<{url}>"]
    if branding is not None and branding.unsubscribe_mailto:
        targets.append(f"<{mailto_uri(branding.unsubscribe_mailto, 'unsubscribe ' + token)}>")
    headers = {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK}
    return Link(url, token, headers, public_url_warnings(url))


def form_nonce(ctx: Context, token: str) -> str:
    """The nonce for the preference form of ``token``'s page (good for an hour)."""
    return tokens.sign_nonce(_keys(ctx), token, int(ctx.clock().timestamp()))


def nonce_state(ctx: Context, token: str, nonce: str | None) -> tokens.NonceState:
    return tokens.check_nonce(_keys(ctx), token, nonce, int(ctx.clock().timestamp()))


def claims_of(ctx: Context, token: str) -> tokens.TokenClaims:
    claims = tokens.verify(_keys(ctx), token)
    if claims is None:
        raise NotFound("no such link")
    return claims


async def _subject(conn: Any, claims: tokens.TokenClaims) -> SubjectRow:
    subject = await subject_store.subject_by_id(conn, claims.tenant_id, claims.subject_id)
    if subject is None or not subject.identifiers:
        raise NotFound("no such link")
    return subject


def _ref(subject: SubjectRow) -> SubjectRef:
    """A reference that resolves to this subject (its first identifier held in plain text)."""
    held = [(t, v) for t, _, v in subject.identifiers if v is not None]
    if not held:  # known only by a personal number: no link can name the person
        raise NotFound("no such link")
    type_, value = held[0]
    if type_ == "email":
        return SubjectRef(email=value)
    if type_ == "phone":
        return SubjectRef(phone=value)
    return SubjectRef(external_id=value)


def _contact_hashes(subject: SubjectRow) -> list[tuple[Identifier, bytes]]:
    return [
        (Identifier(t, v), h)  # type: ignore[arg-type]
        for t, h, v in subject.identifiers
        if t in CONTACT_TYPES and v is not None
    ]


async def _opt_out(
    conn: Any, ctx: Context, tenant_id: UUID, subject: SubjectRow, purpose: str | None,
    source: str, proof: Proof,
) -> None:  # fmt: skip
    """Withdraw and object (for one purpose, or all direct marketing), and suppress."""
    ref = _ref(subject)
    await record_in(conn, ctx, tenant_id, [
        EventIn(subject=ref, type="consent_withdrawn", purpose=purpose, source=source, proof=proof),  # type: ignore[arg-type]
        EventIn(subject=ref, type="objection", purpose=purpose, source=source, proof=proof),  # type: ignore[arg-type]
    ])  # fmt: skip
    entries = [
        new_entry(ctx, ident, purpose or "all", None, "unsubscribe", source, None)
        for ident, _ in _contact_hashes(subject)
    ]
    await suppression_store.add(conn, tenant_id, entries)


async def _already_out(conn: Any, tenant_id: UUID, subject: SubjectRow, scope: str) -> bool:
    hashes = [h for _, h in _contact_hashes(subject)]
    if not hashes:
        return False
    active = await suppression_store.active_by_reason(conn, tenant_id, hashes, "unsubscribe")
    covered = {s.scope for s in active}
    return "all" in covered or scope in covered


async def one_click(ctx: Context, token: str, *, note: str = "RFC 8058 one-click") -> bool:
    """Unsubscribe as the link says. Returns False when it was already done (nothing written)."""
    claims = claims_of(ctx, token)
    async with ctx.pool.acquire() as conn, conn.transaction():
        subject = await _subject(conn, claims)
        if await _already_out(conn, claims.tenant_id, subject, claims.purpose or "all"):
            return False
        await _opt_out(conn, ctx, claims.tenant_id, subject, claims.purpose, "unsubscribe", Proof(note=note))
    return True


async def unsubscribe_address(ctx: Context, tenant_id: UUID, email: str, purpose: str | None, note: str) -> bool:
    """An unsubscribe received for an address (the mailto: half of List-Unsubscribe)."""
    [ident] = subject_identifiers(SubjectRef(email=email), ctx.settings.default_phone_region, "")
    async with ctx.pool.acquire() as conn, conn.transaction():
        subject_id = await subjects.find_or_create(conn, ctx, tenant_id, [ident])
        subject = await subject_store.subject_by_id(conn, tenant_id, subject_id)
        assert subject is not None
        if await _already_out(conn, tenant_id, subject, purpose or "all"):
            return False
        await _opt_out(conn, ctx, tenant_id, subject, purpose, "unsubscribe", Proof(note=note))
    return True


@dataclass(frozen=True, slots=True)
class PurposeChoice:
    purpose: PurposeConfig
    subscribed: bool
    blocked: bool  # suppressed for a reason the person cannot lift here (complaint, bounce ...)


@dataclass(frozen=True, slots=True)
class PreferenceView:
    branding: BrandingRow
    choices: list[PurposeChoice]
    link_purpose: PurposeConfig | None = None  # the purpose the link was made for (one-step unsubscribe)


async def _marketing_purposes(conn: Any, tenant_id: UUID) -> list[PurposeConfig]:
    rows = await purpose_store.list_purposes(conn, tenant_id)
    return [p for p in (purpose_from_config(r.config) for r in rows) if p.direct_marketing]


async def _view(conn: Any, ctx: Context, claims: tokens.TokenClaims) -> PreferenceView:
    subject = await _subject(conn, claims)
    branding = await tenant_store.get_branding(conn, claims.tenant_id)
    assert branding is not None
    first_hash = subject.identifiers[0][1]
    choices = []
    for purpose in await _marketing_purposes(conn, claims.tenant_id):
        channel = "email" if "email" in purpose.channels else purpose.channels[0]
        answer = await subject_answer(conn, ctx, claims.tenant_id, purpose, channel, first_hash)
        blocked = answer.reason == "suppressed" and not await _only_unsubscribe_entries(
            conn, claims.tenant_id, subject, purpose.key
        )
        choices.append(PurposeChoice(purpose, answer.allowed, blocked))
    link_purpose = next((c.purpose for c in choices if c.purpose.key == claims.purpose), None)
    return PreferenceView(branding, choices, link_purpose)


async def _only_unsubscribe_entries(conn: Any, tenant_id: UUID, subject: SubjectRow, key: str) -> bool:
    hashes = [h for _, h in _contact_hashes(subject)]
    active = await suppression_store.active_for(conn, tenant_id, hashes)
    relevant = [s for s in active if s.scope in ("all", key)]
    return all(s.reason == "unsubscribe" for s in relevant)


async def preferences(ctx: Context, token: str) -> PreferenceView:
    claims = claims_of(ctx, token)
    async with ctx.pool.acquire() as conn:
        return await _view(conn, ctx, claims)


async def confirmation(ctx: Context, token: str) -> PreferenceView:
    """What the one-click answer page needs: the branding, and the link's purpose when it has one
    (one or two queries, so that repeats stay cheap)."""
    claims = claims_of(ctx, token)
    async with ctx.pool.acquire() as conn:
        branding = await tenant_store.get_branding(conn, claims.tenant_id)
        row = await purpose_store.get_purpose(conn, claims.tenant_id, claims.purpose) if claims.purpose else None
    if branding is None:
        raise NotFound("no such link")
    return PreferenceView(branding, [], purpose_from_config(row.config) if row is not None else None)


async def unsubscribe_link_purpose(ctx: Context, token: str, proof: Proof) -> PreferenceView:
    """The preference page's one-step button: out of the purpose the link was made for, at once
    (taking a person out needs no nonce). Returns the page's state after it."""
    claims = claims_of(ctx, token)
    if claims.purpose is None:
        raise InvalidInput.field("action", "this link is not for one purpose: use save or unsubscribe_all")
    async with ctx.pool.acquire() as conn, conn.transaction():
        subject = await _subject(conn, claims)
        if not await _already_out(conn, claims.tenant_id, subject, claims.purpose):
            await _opt_out(conn, ctx, claims.tenant_id, subject, claims.purpose, "preference_center", proof)
        return await _view(conn, ctx, claims)


@dataclass(frozen=True, slots=True)
class Saved:
    view: PreferenceView  # the state after the save
    withheld: set[str]  # purposes the person ticked back on that were not re-subscribed


async def save_preferences(
    ctx: Context, token: str, *, subscribed: set[str], everything: bool, proof: Proof, resubscribe: bool = True
) -> Saved:
    """Apply the page's choices. Every opt-out is applied; a re-subscribe only with
    ``resubscribe`` (a current form nonce), else it is returned as withheld."""
    claims = claims_of(ctx, token)
    async with ctx.pool.acquire() as conn, conn.transaction():
        view = await _view(conn, ctx, claims)
        subject = await _subject(conn, claims)
        known = {c.purpose.key for c in view.choices}
        unknown = subscribed - known
        if unknown:
            raise InvalidInput.field("purpose", f"not a purpose on this page: {', '.join(sorted(unknown))}")
        if everything:
            if not await _already_out(conn, claims.tenant_id, subject, "all"):
                await _opt_out(conn, ctx, claims.tenant_id, subject, None, "preference_center", proof)
            return Saved(await _view(conn, ctx, claims), set())
        withheld: set[str] = set()
        for choice in view.choices:
            key = choice.purpose.key
            if choice.subscribed and key not in subscribed:
                await _opt_out(conn, ctx, claims.tenant_id, subject, key, "preference_center", proof)
            elif not choice.subscribed and key in subscribed and not choice.blocked:
                if not resubscribe:
                    withheld.add(key)
                    continue
                await _resubscribe(
                    conn, ctx, claims.tenant_id, subject, choice.purpose, known - {key} - subscribed, proof
                )
        return Saved(await _view(conn, ctx, claims), withheld)


async def _resubscribe(
    conn: Any, ctx: Context, tenant_id: UUID, subject: SubjectRow, purpose: PurposeConfig,
    stay_out: set[str], proof: Proof,
) -> None:  # fmt: skip
    """A real consent, with the notice version the page showed; lifts only this purpose's
    ``unsubscribe`` entries. An unsubscribe from everything is narrowed to the purposes
    that stay unsubscribed, never lifted for them; other reasons are never touched."""
    consent_proof = msgspec.structs.replace(proof, notice_version=purpose.notice_version)
    await record_in(conn, ctx, tenant_id, [
        EventIn(subject=_ref(subject), type="consent_given", purpose=purpose.key,
                channels=list(purpose.channels), source="preference_center", proof=consent_proof),
    ])  # fmt: skip
    await lift_unsubscribes(
        conn,
        ctx,
        tenant_id,
        subject,
        purpose.key,
        stay_out,
        f"re-subscribed to {purpose.key} in the preference center",
        "preference_center",
    )


async def lift_unsubscribes(
    conn: Any, ctx: Context, tenant_id: UUID, subject: SubjectRow, key: str, stay_out: set[str], why: str,
    source: str,
) -> None:  # fmt: skip
    """The person came back to purpose ``key`` (a re-subscribe, a confirmed sign-up): lift its
    ``unsubscribe`` entries; one for everything is narrowed to the purposes in ``stay_out``."""
    purpose_key = key
    hashes = [h for _, h in _contact_hashes(subject)]
    entries = await suppression_store.active_by_reason(conn, tenant_id, hashes, "unsubscribe")
    by_hash = {h: ident for ident, h in _contact_hashes(subject)}
    narrowed: list[suppression_store.NewSuppression] = []
    for entry in entries:
        if entry.scope not in (purpose_key, "all"):
            continue
        await suppression_store.lift(conn, tenant_id, entry.id, why)
        if entry.scope == "all":
            ident = next((i for i in by_hash.values() if i.value == entry.value), None)
            if ident is None:
                continue
            narrowed += [new_entry(ctx, ident, other, None, "unsubscribe", source, None) for other in sorted(stay_out)]
    await suppression_store.add(conn, tenant_id, narrowed)
