"""``POST /in/{integration_id}``: feedback from an email or SMS provider (public, verified by the
provider's own signature or credentials).

The raw body and headers go to the service untouched (signatures cover the exact bytes); the
URL handed on is the integration's ``inbound_url`` (``CONSENT_PUBLIC_URL`` + the path, with the
query string), which is what Twilio signs. A request that fails verification is 401 with one
fixed sentence: which check failed is logged, never answered. Failures count against the
client address (60, then one a second), so a flood of forgeries from one address meets 429
before any signature is checked; a verified delivery costs nothing.
"""

from __future__ import annotations

import time
from typing import Any, cast
from uuid import UUID

import httpx
import msgspec
from litestar import Controller, Request, Response, post
from litestar.status_codes import HTTP_200_OK
from prometheus_client import Counter

from consent_svc.domain.errors import NotFound
from consent_svc.http.deps import Ctx
from consent_svc.http.ratelimit import Clock, TokenBuckets
from consent_svc.integrations import InboundRequest, SnsCertificates, VerificationFailed
from consent_svc.service import feedback

FEEDBACK = Counter("consent_provider_feedback_total", "Provider feedback events applied", ["provider", "kind"])
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class InboundState:
    """Per process: the HTTP client that fetches SNS signing certificates and confirms SNS
    subscriptions (made on first use; ``aclose`` when the server stops), the certificate
    cache, and the per-address budget of failed requests."""

    def __init__(self, client: httpx.AsyncClient | None = None, clock: Clock | None = None) -> None:
        self._client = client
        self._owned = client is None
        self._certificates: SnsCertificates | None = None
        self.failures = TokenBuckets(capacity=60, per_second=1.0, clock=clock or time.monotonic)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0, follow_redirects=False, trust_env=False)
        return self._client

    @property
    def certificates(self) -> SnsCertificates:
        if self._certificates is None:
            self._certificates = SnsCertificates(self.client)
        return self._certificates

    async def aclose(self) -> None:
        if self._owned and self._client is not None:
            await self._client.aclose()
            self._client = None
            self._certificates = None


class InboundOut(msgspec.Struct, frozen=True, kw_only=True):
    """What a delivery did. A replayed delivery answers 200 too, with everything under duplicates."""

    provider: str
    applied: int  # provider events applied now
    duplicates: int  # provider events received before: nothing changed
    ignored: int  # events without a consent effect (deliveries, opens, other SMS ...)
    subscription_confirmed: bool  # SNS: the SubscriptionConfirmation was confirmed


def _address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "-"


class InboundController(Controller):
    path = "/in"
    tags = ["integrations"]

    @post("/{integration_id:uuid}", status_code=HTTP_200_OK, summary="Receive feedback from a provider")
    async def receive(self, ctx: Ctx, request: Request[Any, Any, Any], integration_id: UUID) -> Response[InboundOut]:
        """The provider's own payload, verified as it documents: SES through SNS (signature v1/v2,
        SubscriptionConfirmation confirmed), SendGrid's signed Event Webhook, Mailgun's HMAC,
        Twilio's X-Twilio-Signature, Postmark's basic auth. 401 when it does not verify (nothing
        changes), 404 for no such integration, 503 when the SNS certificate cannot be fetched now.
        Each provider event acts once: a repeat answers 200 and changes nothing. Twilio is answered
        an empty TwiML ``<Response/>`` (text/xml) instead of this document."""
        state: InboundState = request.app.state.inbound
        address = _address(request)
        state.failures.check(address, "failed provider requests from this address")
        body = await request.body()
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = f"{ctx.settings.public_url}/in/{integration_id}" + (f"?{query}" if query else "")
        try:
            received = await feedback.receive_feedback(
                ctx,
                integration_id,
                InboundRequest(url=url, headers=dict(request.headers), body=body),
                network=state,
            )
        except (VerificationFailed, NotFound):
            state.failures.spend(address)
            raise
        for kind, count in received.kinds.items():
            FEEDBACK.labels(received.provider, kind).inc(count)
        if received.provider == "twilio":
            # Twilio reads the answer as TwiML: an empty <Response/> sends no reply SMS.
            return cast(Response[InboundOut], Response(content=TWIML_EMPTY, media_type="text/xml"))
        out = InboundOut(
            provider=received.provider, applied=received.applied, duplicates=received.duplicates,
            ignored=received.ignored, subscription_confirmed=received.subscription_confirmed,
        )  # fmt: skip
        return Response(out)
