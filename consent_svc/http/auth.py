"""Bearer authentication and scopes, as a litestar guard.

Every route names the scope it needs in ``opt={"scope": ...}``; routes
without one are public. The principal is kept in the request state.

The decision fast path (http/fastpath.py) authenticates through
:func:`authenticate_once` too, so both paths spend the same per-address
budget, and a request the fast path hands over to the route is not
authenticated (looked up, charged) a second time.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from consent_svc.service.context import Context
from consent_svc.service.ratelimit import RateLimited
from consent_svc.service.tenants import Authenticator, Principal

_OUTCOME = "consent.authentication"  # in the ASGI scope's state: (token, principal or None or RateLimited)


def client_address(scope: dict[str, Any]) -> str:
    """The address a failure budget is kept for (the peer, or the client a trusted proxy named)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def authenticate_once(scope: dict[str, Any], authenticator: Authenticator, token: str) -> Principal | None:
    """The request's principal (None: the key does not verify); RateLimited when the
    client address has spent its budget of failures. Decided once per request."""
    state = scope.setdefault("state", {})
    earlier = state.get(_OUTCOME)
    if earlier is not None and earlier[0] == token:
        outcome = earlier[1]
    else:
        try:
            outcome = await authenticator.authenticate(token, client_address(scope))
        except RateLimited as refused:
            outcome = refused
        state[_OUTCOME] = (token, outcome)
    if isinstance(outcome, RateLimited):
        raise outcome
    return outcome  # type: ignore[no-any-return]


def _unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail=detail, headers={"WWW-Authenticate": 'Bearer realm="consent-svc"'})


async def require_scope(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    needed = handler.opt.get("scope")
    if needed is None:
        return
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
    authenticator: Authenticator = connection.app.state.authenticator
    principal = await authenticate_once(connection.scope, authenticator, token.strip())  # type: ignore[arg-type]
    if principal is None:
        raise _unauthorized("the API key is unknown or revoked")
    if not principal.allows(needed):
        raise PermissionDeniedException(detail=f"this key has scope {principal.scope!r}; {needed!r} is needed")
    authenticator.limit(principal)
    connection.state.principal = principal


def ctx_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Context:
    """The service context the app was built with."""
    ctx: Context = connection.app.state.ctx
    return ctx


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = connection.state.principal
    return principal
