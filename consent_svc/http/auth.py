"""Bearer authentication and scopes, as a litestar guard.

Every route names the scope it needs in ``opt={"scope": ...}``; routes
without one are public. The principal is kept in the request state.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from consent_svc.service.context import Context
from consent_svc.service.tenants import Authenticator, Principal


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
    address = connection.client.host if connection.client else None
    principal = await authenticator.authenticate(token.strip(), address)
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
