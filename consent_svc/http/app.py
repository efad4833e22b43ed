"""The litestar application factory."""

from __future__ import annotations

import time
from typing import Any

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.template import TemplateConfig

from consent_svc import __version__
from consent_svc.http import (
    banner,
    branding,
    console,
    decisions,
    erasures,
    events,
    forms,
    inbound,
    integrations,
    ledger,
    ops,
    purposes,
    reconsent,
    registers,
    retention,
    signups,
    sites,
    subjects,
    suppressions,
    tenants,
    unsubscribe,
    webhooks,
)
from consent_svc.http.api_browser import LocalSwaggerRenderPlugin, api_browser_router
from consent_svc.http.auth import Authenticator, require_scope
from consent_svc.http.deps import DEPENDENCIES
from consent_svc.http.fastpath import FastPath
from consent_svc.http.jsonbody import BoundedJsonRequest
from consent_svc.http.middleware import RequestLogMiddleware
from consent_svc.http.problems import EXCEPTION_HANDLERS
from consent_svc.http.ratelimit import Clock
from consent_svc.service.context import Context


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="consent-svc",
        version=__version__,
        description=(
            "Consent and marketing-preference service: may we contact X for purpose Y over channel Z? "
            "Errors are application/problem+json (RFC 9457)."
        ),
        path="/schema",
        # The API browser from the service's own copy of Swagger UI, under a strict CSP (http/api_browser.py).
        render_plugins=[LocalSwaggerRenderPlugin(path="/"), JsonRenderPlugin()],
        openapi_router=api_browser_router("/schema"),
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="API key")}
        ),
        security=[{"bearer": []}],
        use_handler_docstrings=True,
    )


def create_litestar(
    ctx: Context | None,
    *,
    authenticator: Authenticator | None = None,
    clock: Clock = time.monotonic,
    inbound_state: inbound.InboundState | None = None,
) -> Litestar:
    """The litestar app; ``ctx`` may be None only to render the OpenAPI document.
    ``authenticator``: one built here from ``ctx`` unless given. ``clock``: what the edge's rate
    limits count time with (tests give one they step). ``inbound_state``: the provider feedback
    endpoint's HTTP client and certificate cache (``serve`` closes it when it stops)."""
    app = Litestar(
        route_handlers=[
            purposes.PurposeController,
            events.EventController,
            decisions.DecisionController,
            suppressions.SuppressionController,
            unsubscribe.UnsubscribeApiController,
            unsubscribe.PublicPagesController,
            branding.BrandingController,
            webhooks.WebhookController,
            integrations.IntegrationController,
            inbound.InboundController,
            sites.SiteController,
            subjects.SubjectController,
            tenants.TenantController,
            erasures.ErasureController,
            retention.RetentionController,
            registers.RegisterController,
            ledger.LedgerController,
            banner.BannerController,
            signups.SignupController,
            signups.ConfirmPagesController,
            forms.FormController,
            forms.PublicFormController,
            reconsent.ReconsentController,
            reconsent.ReconsentPagesController,
            banner.banner_js,
            banner.gpc_json,
            ops.healthz,
            ops.readyz,
            console.ConsolePublicController,
            console.ConsoleController,
        ],
        template_config=TemplateConfig(instance=console.template_engine()),
        guards=[require_scope],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=BoundedJsonRequest,
        openapi_config=openapi_config(),
        request_max_body_size=ctx.settings.max_body_bytes if ctx else 1_048_576,
        logging_config=None,
    )
    app.state.ctx = ctx
    app.state.authenticator = authenticator or (Authenticator(ctx, clock=clock) if ctx else None)
    app.state.public_limits = unsubscribe.PublicLimits(clock)
    app.state.banner_limits = banner.BannerLimits(clock)
    app.state.inbound = inbound_state or inbound.InboundState(clock=clock)
    app.state.link_limits = signups.LinkLimits(clock)
    app.state.form_limits = forms.FormLimits(clock)
    app.state.console_limits = console.ConsoleLimits(clock)
    app.state.console_dashboards = console.DashboardCache(clock)
    return app


def create_app(
    ctx: Context,
    *,
    authenticator: Authenticator | None = None,
    clock: Clock = time.monotonic,
    inbound_state: inbound.InboundState | None = None,
) -> Any:
    """The ASGI app served: the fast paths (GET /v1/decisions, POST /v1/events) in front of litestar,
    inside the request-log wrapper (which also sets the security headers on every response). /metrics
    is not here: it has a listener of its own (:func:`create_metrics_app`)."""
    litestar = create_litestar(ctx, authenticator=authenticator, clock=clock, inbound_state=inbound_state)
    return RequestLogMiddleware(FastPath(litestar, ctx, litestar.state.authenticator))


def create_metrics_app(ctx: Context, authenticator: Authenticator | None = None) -> Any:
    """The ASGI app of the metrics listener (``CONSENT_METRICS_PORT``): ``GET /metrics`` only.
    ``authenticator``: the served app's, whose key look-ups it reports."""
    app = Litestar(
        route_handlers=[ops.metrics],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=None,
        logging_config=None,
    )
    app.state.ctx = ctx
    ops.KEY_LOOKUPS.authenticator = authenticator
    return RequestLogMiddleware(app)
