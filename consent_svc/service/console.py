"""The console's users, sign-in, sessions and audit log (docs/console.md).

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed when they change); a user
may add a TOTP second factor (pyotp), its secret sealed in the database. A session is a row the
server can revoke; its cookie is signed (domain/console.py) with the console session key
(``CONSENT_CONSOLE_SESSION_KEY``, or one derived from the first token key). Sign-in throttling is
at the edge (http/console.py), like every other rate limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from consent_svc.domain.console import ROLES, AuditRow, ConsoleSessionRow, ConsoleUser, sign_session, verify_session
from consent_svc.domain.errors import Conflict, InvalidInput, NotFound, Refused
from consent_svc.domain.identifiers import normalize_email
from consent_svc.domain.ids import uuid7
from consent_svc.service.context import Context
from consent_svc.service.sealing import Sealer
from consent_svc.store import console as store
from consent_svc.store import tenants as tenant_store

SETUP_TTL = timedelta(hours=72)
SESSION_MAX = timedelta(hours=12)  # a session ends after this however busy it is
MIN_PASSWORD = 12
MAX_PASSWORD = 200

_hasher = PasswordHasher()
# Verified against when the account does not exist, so an unknown address takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginFailed(Refused):
    """Wrong tenant, address, password or code: one message for all, so it tells nothing."""

    def __init__(self) -> None:
        super().__init__("the sign-in details are not right")


def session_key(ctx: Context) -> bytes:
    configured = ctx.settings.console_session_key
    if configured is not None:
        return configured.reveal()
    if not ctx.settings.token_keys:
        raise RuntimeError("no token key to derive the console session key from")
    return hmac.new(ctx.settings.token_keys[0].reveal(), b"consent-svc console sessions v1", hashlib.sha256).digest()


def console_url(ctx: Context) -> str:
    return ctx.settings.console_url or f"{ctx.settings.public_url}/console"


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _email(raw: str) -> str:
    return normalize_email(raw, field="email")


def _role(raw: str) -> str:
    if raw not in ROLES:
        raise InvalidInput.field("role", "must be admin, officer, marketer or viewer")
    return raw


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput.field("password", f"must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput.field("password", f"must be at most {MAX_PASSWORD} characters")


async def hash_password(password: str) -> str:
    check_password(password)
    return await asyncio.to_thread(_hasher.hash, password)


def _sealer(ctx: Context) -> Sealer:
    return Sealer.from_settings(ctx.settings)


def _totp_ad(tenant_id: UUID, user_id: UUID) -> bytes:
    return b"console totp\x00" + tenant_id.bytes + user_id.bytes


@dataclass(frozen=True, slots=True)
class CreatedUser:
    user: ConsoleUser
    setup_url: str | None  # None when a password was given


async def create_user(ctx: Context, tenant_id: UUID, email: str, role: str, password: str | None = None) -> CreatedUser:
    """A console user; without a password, a one-time set-up link (valid 72 hours) to choose one."""
    address, role = _email(email), _role(role)
    password_hash = await hash_password(password) if password is not None else None
    token = None if password is not None else secrets.token_urlsafe(32)
    user = ConsoleUser(
        tenant_id=tenant_id, id=uuid7(), email=address, role=role, password_hash=password_hash,
        created_at=ctx.clock(),
    )  # fmt: skip
    async with ctx.pool.acquire() as conn, conn.transaction():
        created = await store.insert_user(
            conn, user, _token_hash(token) if token else None, ctx.clock() + SETUP_TTL if token else None
        )
    if not created:
        raise Conflict("this tenant has a console user with that email already")
    url = f"{console_url(ctx)}/setup/{tenant_id.hex}.{token}" if token else None
    return CreatedUser(user, url)


async def create_user_in(ctx: Context, tenant_name: str, email: str, role: str, password: str | None) -> CreatedUser:
    async with ctx.pool.acquire() as conn:
        tenant = await tenant_store.tenant_by_name(conn, tenant_name)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_name!r}")
    return await create_user(ctx, tenant.id, email, role, password)


def _split_setup(link_token: str) -> tuple[UUID, str]:
    tenant_hex, _, token = link_token.partition(".")
    try:
        tenant_id = UUID(hex=tenant_hex)
    except ValueError:
        raise NotFound("this set-up link does not work") from None
    if not token or len(token) > 100:
        raise NotFound("this set-up link does not work")
    return tenant_id, token


async def setup_user(ctx: Context, link_token: str) -> ConsoleUser:
    """Whose set-up link this is (404 when it is spent, expired or made up)."""
    tenant_id, token = _split_setup(link_token)
    async with ctx.pool.acquire() as conn, conn.transaction():
        user = await store.user_by_setup_token(conn, tenant_id, _token_hash(token), ctx.clock())
    if user is None:
        raise NotFound("this set-up link does not work")
    return user


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, user: ConsoleUser) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="consent-svc")


async def complete_setup(
    ctx: Context, link_token: str, password: str, totp_secret: str | None, totp_code: str | None
) -> ConsoleUser:
    """Set the first password (and, with ``totp_secret``, the second factor, proven by a code)."""
    tenant_id, token = _split_setup(link_token)
    # The link first: without it nobody makes the server hash a password (64 MiB of argon2 each).
    async with ctx.pool.acquire() as conn:
        if await store.user_by_setup_token(conn, tenant_id, _token_hash(token), ctx.clock()) is None:
            raise NotFound("this set-up link does not work")
    password_hash = await hash_password(password)
    sealed = None
    if totp_secret and (len(totp_secret) != 32 or not pyotp.TOTP(totp_secret).verify(totp_code or "", valid_window=1)):
        raise InvalidInput.field("code", "the code from the authenticator app is not right")
    async with ctx.pool.acquire() as conn, conn.transaction():
        user = await store.user_by_setup_token(conn, tenant_id, _token_hash(token), ctx.clock())
        if user is None:
            raise NotFound("this set-up link does not work")
        if totp_secret:
            sealed = _sealer(ctx).seal(totp_secret.encode(), _totp_ad(tenant_id, user.id))
        await store.set_password(conn, tenant_id, user.id, password_hash, sealed)
        await _audit(conn, ctx, tenant_id, user, "user.setup", None, {"totp": bool(totp_secret)})
    return user


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step whose code ``code`` is (one step of clock drift either way), or None."""
    totp = pyotp.TOTP(secret)
    if not code.isdigit():
        return None
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return int(step)
    return None


@dataclass(frozen=True, slots=True)
class SignedIn:
    cookie: str
    user: ConsoleUser
    session: ConsoleSessionRow


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def login(ctx: Context, tenant_name: str, email: str, password: str, code: str | None) -> SignedIn:
    """A new session for the right tenant, address, password (and TOTP code when the user has one)."""
    if len(password) > MAX_PASSWORD or len(tenant_name) > 63 or len(email) > 320:
        raise LoginFailed()
    try:
        address = _email(email)
    except InvalidInput:
        address = ""
    async with ctx.pool.acquire() as conn:
        tenant = await tenant_store.tenant_by_name(conn, tenant_name) if tenant_name else None
        user = await store.user_by_email(conn, tenant.id, address) if tenant and address else None
    ok = await asyncio.to_thread(_verify, user.password_hash if user else None, password)
    if user is None or not ok or user.disabled_at is not None:
        if tenant is not None:
            async with ctx.pool.acquire() as conn:
                await _audit(conn, ctx, tenant.id, user, "login.failed", None, {})
        raise LoginFailed()
    if user.totp_sealed is not None:
        secret = _sealer(ctx).open(user.totp_sealed, _totp_ad(user.tenant_id, user.id)).decode()
        step = _totp_step(secret, (code or "").strip(), ctx.clock())
        async with ctx.pool.acquire() as conn:
            # A code works once: the step it belongs to must be later than the last one accepted
            # (one statement, so two sign-ins racing with one code cannot both pass).
            if step is None or not await store.accept_totp_step(conn, user.tenant_id, user.id, step):
                await _audit(conn, ctx, user.tenant_id, user, "login.failed", None, {"second_factor": True})
                raise LoginFailed()
    now = ctx.clock()
    session = ConsoleSessionRow(
        tenant_id=user.tenant_id, id=uuid7(), user_id=user.id, csrf=secrets.token_urlsafe(32),
        created_at=now, last_seen_at=now,
    )  # fmt: skip
    async with ctx.pool.acquire() as conn, conn.transaction():
        if _hasher.check_needs_rehash(user.password_hash or ""):
            await store.rehash_password(conn, user.tenant_id, user.id, await hash_password(password))
        await store.insert_session(conn, session)
        await _audit(conn, ctx, user.tenant_id, user, "login", None, {})
    return SignedIn(sign_session(session_key(ctx), user.tenant_id, session.id), user, session)


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: who is signed in and the token their forms must carry."""

    id: UUID
    tenant_id: UUID
    tenant_name: str
    user: ConsoleUser
    csrf: str


async def session(ctx: Context, cookie: str | None) -> Session | None:
    """The live session a cookie names, its idle clock restarted; None when it is not genuine, was
    revoked, sat idle longer than ``CONSENT_CONSOLE_IDLE_MINUTES``, is older than 12 hours, or its
    user was disabled."""
    ids = verify_session(session_key(ctx), cookie)
    if ids is None:
        return None
    tenant_id, session_id = ids
    now = ctx.clock()
    idle = timedelta(minutes=ctx.settings.console_idle_minutes)
    async with ctx.pool.acquire() as conn:
        row = await store.session(conn, tenant_id, session_id)
        if row is None or row.revoked_at is not None:
            return None
        if now - row.last_seen_at > idle or now - row.created_at > SESSION_MAX:
            await store.revoke_session(conn, tenant_id, session_id, now)
            return None
        user = await store.user_by_id(conn, tenant_id, row.user_id)
        if user is None or user.disabled_at is not None:
            return None
        tenant = await tenant_store.tenant_by_id(conn, tenant_id)
        await store.touch_session(conn, tenant_id, session_id, now)
    return Session(session_id, tenant_id, tenant.name if tenant else "", user, row.csrf)


async def logout(ctx: Context, current: Session) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        await store.revoke_session(conn, current.tenant_id, current.id, ctx.clock())
        await _audit(conn, ctx, current.tenant_id, current.user, "logout", None, {})


async def _audit(
    conn: Any, ctx: Context, tenant_id: UUID, user: ConsoleUser | None, action: str, target: str | None,
    detail: dict[str, Any],
) -> None:  # fmt: skip
    await store.insert_audit(conn, tenant_id, AuditRow(
        id=uuid7(), user_id=user.id if user else None, user_email=user.email if user else None, at=ctx.clock(),
        action=action, target=target, detail=detail,
    ))  # fmt: skip


async def audit(
    ctx: Context, current: Session, action: str, target: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Record one console action by the signed-in user (who, what, when)."""
    async with ctx.pool.acquire() as conn:
        await _audit(conn, ctx, current.tenant_id, current.user, action, target, detail or {})


async def audit_log(ctx: Context, tenant_id: UUID, before: UUID | None, limit: int) -> list[AuditRow]:
    async with ctx.pool.acquire() as conn:
        return await store.audit(conn, tenant_id, before, limit)


async def users(ctx: Context, tenant_id: UUID) -> list[ConsoleUser]:
    async with ctx.pool.acquire() as conn:
        return await store.users(conn, tenant_id)


async def set_role(ctx: Context, current: Session, user_id: UUID, role: str) -> None:
    role = _role(role)
    async with ctx.pool.acquire() as conn, conn.transaction():
        target = await store.user_by_id(conn, current.tenant_id, user_id)
        if target is None:
            raise NotFound(f"no console user {user_id}")
        if target.role == "admin" and role != "admin" and await store.count_admins(conn, current.tenant_id) <= 1:
            raise Conflict("the last admin cannot give up the role; make another admin first")
        await store.set_role(conn, current.tenant_id, user_id, role)
        await store.revoke_sessions_of(conn, current.tenant_id, user_id, ctx.clock())  # new role, new sign-in
        await _audit(conn, ctx, current.tenant_id, current.user, "user.role", str(user_id), {"role": role})


async def disable_user(ctx: Context, current: Session, user_id: UUID) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        target = await store.user_by_id(conn, current.tenant_id, user_id)
        if target is None:
            raise NotFound(f"no console user {user_id}")
        if target.role == "admin" and await store.count_admins(conn, current.tenant_id) <= 1:
            raise Conflict("the last admin cannot be disabled")
        await store.disable_user(conn, current.tenant_id, user_id, ctx.clock())
        await store.revoke_sessions_of(conn, current.tenant_id, user_id, ctx.clock())
        await _audit(conn, ctx, current.tenant_id, current.user, "user.disable", str(user_id), {})


async def reset_user(ctx: Context, current: Session, user_id: UUID) -> str:
    """A lost password or authenticator: the password and second factor are cleared, the user's
    sessions end, and a new one-time set-up link (72 hours) is the way back in."""
    token = secrets.token_urlsafe(32)
    async with ctx.pool.acquire() as conn, conn.transaction():
        target = await store.user_by_id(conn, current.tenant_id, user_id)
        if target is None or target.disabled_at is not None:
            raise NotFound(f"no active console user {user_id}")
        await store.reset_user(conn, current.tenant_id, user_id, _token_hash(token), ctx.clock() + SETUP_TTL)
        await store.revoke_sessions_of(conn, current.tenant_id, user_id, ctx.clock())
        await _audit(conn, ctx, current.tenant_id, current.user, "user.reset", str(user_id), {})
    return f"{console_url(ctx)}/setup/{current.tenant_id.hex}.{token}"


async def _check_own_password(ctx: Context, current: Session, password: str) -> ConsoleUser:
    async with ctx.pool.acquire() as conn:
        user = await store.user_by_id(conn, current.tenant_id, current.user.id)
    if user is None or not await asyncio.to_thread(_verify, user.password_hash, password[:MAX_PASSWORD]):
        raise InvalidInput.field("current_password", "is not your password")
    return user


async def change_password(ctx: Context, current: Session, old: str, new: str) -> None:
    """The signed-in user's own password; their other sessions end."""
    await _check_own_password(ctx, current, old)
    new_hash = await hash_password(new)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await store.rehash_password(conn, current.tenant_id, current.user.id, new_hash)
        ended = await store.revoke_other_sessions(conn, current.tenant_id, current.user.id, current.id, ctx.clock())
        await _audit(conn, ctx, current.tenant_id, current.user, "account.password", None, {"sessions_ended": ended})


async def set_second_factor(
    ctx: Context, current: Session, password: str, secret: str | None, code: str | None
) -> None:
    """Turn the signed-in user's TOTP on (``secret`` and a code from the app) or off (``secret``
    None: a code from the app still in use); the password either way."""
    user = await _check_own_password(ctx, current, password)
    if secret is not None:
        if len(secret) != 32 or not pyotp.TOTP(secret).verify((code or "").strip(), valid_window=1):
            raise InvalidInput.field("code", "the code from the authenticator app is not right")
        sealed: bytes | None = _sealer(ctx).seal(secret.encode(), _totp_ad(current.tenant_id, user.id))
    else:
        if user.totp_sealed is None:
            return
        old = _sealer(ctx).open(user.totp_sealed, _totp_ad(current.tenant_id, user.id)).decode()
        if not pyotp.TOTP(old).verify((code or "").strip(), valid_window=1):
            raise InvalidInput.field("code", "the code from the authenticator app is not right")
        sealed = None
    async with ctx.pool.acquire() as conn, conn.transaction():
        await store.set_totp(conn, current.tenant_id, user.id, sealed)
        await _audit(conn, ctx, current.tenant_id, current.user, "account.totp", None, {"on": sealed is not None})
