"""The console's access rules (docs/console.md): roles, what each may do, and the session cookie.

Pure: the roles form a ladder (viewer < marketer < officer < admin), and every console page
names the least role that may use it. The session cookie is ``<tenant id>.<session id>.<mac>``,
the MAC an HMAC-SHA256 over the first two under the console's session key; the server-side
session row still decides (revoked, idle), the MAC only keeps forged ids away from the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

import msgspec

Role = Literal["viewer", "marketer", "officer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

# What each page or action needs, the least role (docs/console.md has the table in prose).
Permission = Literal[
    "dashboard",
    "wash",
    "import",
    "purposes.read",
    "sites.read",
    "subjects",
    "subjects.change",
    "suppressions",
    "purposes.write",
    "sites.write",
    "webhooks",
    "integrations",
    "users",
    "audit",
]
LEAST_ROLE: dict[Permission, Role] = {
    "dashboard": "viewer",
    "wash": "marketer",
    "import": "marketer",
    "purposes.read": "marketer",
    "sites.read": "marketer",
    "subjects": "officer",
    "subjects.change": "officer",
    "suppressions": "officer",
    "purposes.write": "admin",
    "sites.write": "admin",
    "webhooks": "admin",
    "integrations": "admin",
    "users": "admin",
    "audit": "admin",
}


def may(role: str, permission: Permission) -> bool:
    """Whether ``role`` may use what ``permission`` guards; an unknown role may do nothing."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(LEAST_ROLE[permission])


def _mac(key: bytes, tenant_id: UUID, session_id: UUID) -> str:
    digest = hmac.new(key, b"console session\x00" + tenant_id.bytes + session_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_session(key: bytes, tenant_id: UUID, session_id: UUID) -> str:
    return f"{tenant_id.hex}.{session_id.hex}.{_mac(key, tenant_id, session_id)}"


def verify_session(key: bytes, cookie: str | None) -> tuple[UUID, UUID] | None:
    """The (tenant id, session id) a genuine cookie names; None for anything else."""
    if not cookie or len(cookie) > 200:
        return None
    parts = cookie.split(".")
    if len(parts) != 3:
        return None
    try:
        tenant_id, session_id = UUID(hex=parts[0]), UUID(hex=parts[1])
    except ValueError:
        return None
    if parts[0] != tenant_id.hex or parts[1] != session_id.hex:
        return None
    if not hmac.compare_digest(parts[2], _mac(key, tenant_id, session_id)):
        return None
    return tenant_id, session_id


def same_token(given: str | None, expected: str) -> bool:
    """A CSRF token check in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class ConsoleUser(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: UUID
    id: UUID
    email: str
    role: str
    password_hash: str | None = None
    totp_sealed: bytes | None = None
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def has_totp(self) -> bool:
        return self.totp_sealed is not None


class ConsoleSessionRow(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: UUID
    id: UUID
    user_id: UUID
    csrf: str
    created_at: datetime
    last_seen_at: datetime
    revoked_at: datetime | None = None


class AuditRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    user_id: UUID | None
    user_email: str | None
    at: datetime
    action: str
    target: str | None
    detail: dict[str, Any]


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for every field that differs between two purpose versions, nested
    texts by their language (``title.sv``); the version number itself is left out."""
    out: list[tuple[str, Any, Any]] = []
    for name in sorted(set(old) | set(new)):
        if name == "version":
            continue
        before, after = old.get(name), new.get(name)
        if isinstance(before, dict) and isinstance(after, dict):
            out += [(f"{name}.{k}", v0, v1) for k, v0, v1 in diff(before, after)]
        elif before != after:
            out.append((name, before, after))
    return out
