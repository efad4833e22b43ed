"""Every error the client raises, in one tree::

ConsentSvcError
├── ApiError                the service answered with an error (problem+json fields on it)
│   ├── InvalidInput        400: ``errors`` names each field at fault
│   ├── Unauthorized        401: missing or unknown key
│   ├── Forbidden           403: the key lacks the scope
│   ├── NotFound            404
│   ├── Conflict            409: an idempotency key reused for a different event, or a collision
│   ├── PayloadTooLarge     413
│   ├── RateLimited         429 (retried first; raised when the retries ran out)
│   └── ServiceUnavailable  503 (retried first; raised when the retries ran out)
├── TransportError          no answer: connection refused or reset, timeout (after the retries)
├── StreamError             a send list's answers ended early or did not match the list
└── WebhookSignatureError   a webhook delivery does not verify (missing, wrong, or too old)
"""

from __future__ import annotations

import msgspec

from consent_svc_client.models import FieldError, Problem


class ConsentSvcError(Exception):
    """The base of every error this client raises."""


class ApiError(ConsentSvcError):
    """An error answer. ``status``, ``type``, ``title``, ``detail`` and ``errors`` are the
    problem+json fields; ``retry_after`` is the ``Retry-After`` header in seconds, if any."""

    def __init__(
        self,
        status: int,
        problem: Problem,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.type = problem.type
        self.title = problem.title
        self.detail = problem.detail
        self.errors: list[FieldError] = list(problem.errors)
        self.request_id = request_id
        self.retry_after = retry_after
        fields = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(f"{status} {problem.title}: {problem.detail}" + (f" ({fields})" if fields else ""))


class InvalidInput(ApiError):
    """400: the request was refused; ``errors`` names each field at fault."""


class Unauthorized(ApiError):
    """401: the key is missing or unknown."""


class Forbidden(ApiError):
    """403: the key lacks the scope this operation needs."""


class NotFound(ApiError):
    """404: no such resource (also one of another tenant)."""


class Conflict(ApiError):
    """409: an idempotency key reused for a different event, or a write that collided."""


class PayloadTooLarge(ApiError):
    """413: the request body is over the service's limit."""


class RateLimited(ApiError):
    """429: too many requests; raised only after the client's retries ran out."""


class ServiceUnavailable(ApiError):
    """503: the database is unavailable for a moment; raised only after the retries ran out."""


class TransportError(ConsentSvcError):
    """No answer (connection refused or reset, a timeout), after the client's retries."""


class StreamError(ConsentSvcError):
    """A send list's answers ended early or did not line up with the recipients sent."""


class WebhookSignatureError(ConsentSvcError):
    """A webhook delivery does not verify: its signature is missing, malformed, wrong, or its
    timestamp more than the tolerance away (a possible replay)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    503: ServiceUnavailable,
}
_problem_decoder = msgspec.json.Decoder(Problem)


def api_error(status: int, body: bytes, request_id: str | None, retry_after: float | None) -> ApiError:
    """The typed exception for an error answer (a body that is not problem+json keeps its text)."""
    try:
        problem = _problem_decoder.decode(body)
    except msgspec.MsgspecError:
        problem = Problem(status=status, title="Error", detail=body[:500].decode("utf-8", "replace"))
    cls = _BY_STATUS.get(status, ApiError)
    return cls(status, problem, request_id=request_id, retry_after=retry_after)
