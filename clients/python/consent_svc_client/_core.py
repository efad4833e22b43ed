"""What the sync and the async client share: retries, encoding, windows of a send list."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import msgspec

from consent_svc_client.errors import ApiError, api_error
from consent_svc_client.models import BatchItem, EventIn, Recipient

# Answers worth asking again, with the same request (and, for a write, the same idempotency key).
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# The NDJSON endpoint judges recipients 5,000 at a time and holds two such chunks while it reads
# a third: a window of at most 5,000 is read whole before the first answer is written, so no
# window needs a full-duplex connection (docs/adr/0010-client-libraries.md).
MAX_WINDOW = 5_000
MAX_EVENT_BATCH = 10_000
NDJSON = "application/x-ndjson"

encoder = msgspec.json.Encoder()
item_decoder = msgspec.json.Decoder(BatchItem)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a 429, 502, 503, 504 or a connection error.

    ``attempts`` counts the first try. Between tries the client waits what ``Retry-After``
    says (at most ``max_delay``), or else a full-jitter exponential backoff:
    a random time up to ``base_delay * 2**n``, capped at ``max_delay``.
    The defaults ride out a restart of the service (about a minute of retries in all)."""

    attempts: int = 10
    base_delay: float = 0.25
    max_delay: float = 15.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311 (jitter, not a secret)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_of(response: httpx.Response, body: bytes) -> ApiError:
    return api_error(response.status_code, body, response.headers.get("x-request-id"), retry_after_seconds(response))


def new_idempotency_key() -> str:
    return f"csc-{uuid.uuid4()}"


def as_event(event: EventIn | Mapping[str, Any]) -> EventIn:
    """An EventIn with an idempotency key (a new one when it has none). A mapping is checked
    against the model here: an unknown or misspelled field raises before anything is sent."""
    if not isinstance(event, EventIn):
        event = msgspec.convert(event, EventIn)
    if event.idempotency_key is None:
        event = msgspec.structs.replace(event, idempotency_key=new_idempotency_key())
    return event


def encode_recipient(recipient: Recipient | Mapping[str, Any]) -> bytes:
    return encoder.encode(recipient) + b"\n"


T = TypeVar("T")


def _batched(items: Iterable[Any], size: int, convert: Callable[[Any], T]) -> Iterator[list[T]]:
    """``items`` converted one by one, ``size`` at a time (one batch in memory)."""
    batch: list[T] = []
    for item in items:
        batch.append(convert(item))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def windows(recipients: Iterable[Recipient | Mapping[str, Any]], size: int) -> Iterator[list[bytes]]:
    """The send list as encoded NDJSON lines, ``size`` at a time (one window in memory)."""
    return _batched(recipients, size, encode_recipient)


def chunks(events: Iterable[EventIn | Mapping[str, Any]], size: int) -> Iterator[list[EventIn]]:
    return _batched(events, size, as_event)


async def _each(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def _abatched(
    items: Iterable[Any] | AsyncIterable[Any], size: int, convert: Callable[[Any], T]
) -> AsyncIterator[list[T]]:
    """:func:`_batched` over a plain or an async iterable."""
    batch: list[T] = []
    async for item in _each(items):
        batch.append(convert(item))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def awindows(
    recipients: Iterable[Recipient | Mapping[str, Any]] | AsyncIterable[Recipient | Mapping[str, Any]], size: int
) -> AsyncIterator[list[bytes]]:
    return _abatched(recipients, size, encode_recipient)


def achunks(
    events: Iterable[EventIn | Mapping[str, Any]] | AsyncIterable[EventIn | Mapping[str, Any]], size: int
) -> AsyncIterator[list[EventIn]]:
    return _abatched(events, size, as_event)


def check_window(size: int) -> int:
    if not 1 <= size <= MAX_WINDOW:
        raise ValueError(f"window must be between 1 and {MAX_WINDOW}")
    return size


def check_batch(size: int) -> int:
    if not 1 <= size <= MAX_EVENT_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_EVENT_BATCH}")
    return size


class LineSplitter:
    """NDJSON bytes arriving in arbitrary pieces, as whole lines."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        return [line for line in lines if line.strip()]

    def rest(self) -> list[bytes]:
        rest, self._pending = self._pending, b""
        return [rest] if rest.strip() else []


def decision_params(
    purpose: str, channel: str, email: str | None, phone: str | None, external_id: str | None
) -> dict[str, str]:
    given = {k: v for k, v in (("email", email), ("phone", phone), ("external_id", external_id)) if v is not None}
    if len(given) != 1:
        raise ValueError("give exactly one of email, phone, external_id")
    return {"purpose": purpose, "channel": channel, **given}


def headers(api_key: str, user_agent: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "User-Agent": user_agent}


USER_AGENT = "consent-svc-client-python/0.1.0"

# Every request the client makes, with the query parameters it may send (the drift test checks
# each against openapi/openapi.json).
OPERATIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("get", "/v1/decisions", ("purpose", "channel", "email", "phone", "external_id")),
    ("post", "/v1/decisions/batch", ("purpose", "channel")),
    ("post", "/v1/events", ()),
    ("post", "/v1/events/batch", ()),
    ("get", "/v1/suppressions/export", ("cursor", "format", "limit")),
)
