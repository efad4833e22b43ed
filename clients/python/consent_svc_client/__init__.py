"""consent-svc-client: the Python client of consent-svc (docs/clients.md).

from consent_svc_client import ConsentClient

with ConsentClient("http://127.0.0.1:8000", api_key) as consent:
    for recipient, answer in zip(send_list, consent.decide_many(send_list, purpose="newsletter", channel="email")):
        ...
"""

from consent_svc_client._async import AsyncConsentClient
from consent_svc_client._core import RetryPolicy
from consent_svc_client._sync import ConsentClient
from consent_svc_client.errors import (
    ApiError,
    Conflict,
    ConsentSvcError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    StreamError,
    TransportError,
    Unauthorized,
    WebhookSignatureError,
)
from consent_svc_client.models import (
    ActiveEntry,
    BatchItem,
    Decision,
    EventIn,
    EventOut,
    ExportItem,
    ExportPage,
    FieldError,
    Proof,
    Recipient,
    RegisterVersion,
    SubjectRef,
    WebhookMessage,
)
from consent_svc_client.webhooks import verify as verify_webhook

__version__ = "0.1.0"
__all__ = [
    "ActiveEntry",
    "ApiError",
    "AsyncConsentClient",
    "BatchItem",
    "Conflict",
    "ConsentClient",
    "ConsentSvcError",
    "Decision",
    "EventIn",
    "EventOut",
    "ExportItem",
    "ExportPage",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "Proof",
    "RateLimited",
    "Recipient",
    "RegisterVersion",
    "RetryPolicy",
    "ServiceUnavailable",
    "StreamError",
    "SubjectRef",
    "TransportError",
    "Unauthorized",
    "WebhookMessage",
    "WebhookSignatureError",
    "verify_webhook",
]
