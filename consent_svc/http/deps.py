"""Dependency providers: what handlers receive by name (``ctx``, ``tenant_id``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException

from consent_svc.service.context import Context
from consent_svc.service.tenants import Principal


def provide_ctx(request: Request[Any, Any, Any]) -> Context:
    """The service context the app was built with."""
    ctx: Context = request.app.state.ctx
    return ctx


def provide_tenant_id(request: Request[Any, Any, Any], ctx: Context) -> UUID:
    """The tenant of the API key that authenticated the request (routes with a scope only).

    ``ctx`` is not used: asking for it orders the two providers. litestar resolves the providers
    of one level concurrently, in a task group (two tasks and a cancel scope per request); one
    provider a level is awaited directly. Measured in-process, the framework's CPU around
    POST /v1/events (the service call left out): ~144 -> ~74 us a request (docs/performance.md)."""
    del ctx
    principal: Principal = request.state.principal
    if principal.tenant_id is None:  # a platform key (the scope guard refuses it first on every tenant route)
        raise PermissionDeniedException(detail="a platform key manages tenants and keys only")
    return principal.tenant_id


# What handlers declare: ``ctx: Ctx, tenant_id: TenantId`` (named, as litestar 3 requires).
Ctx = NamedDependency[Context]
TenantId = NamedDependency[UUID]

DEPENDENCIES = {
    "ctx": Provide(provide_ctx, sync_to_thread=False),
    "tenant_id": Provide(provide_tenant_id, sync_to_thread=False),
}
