"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpx
import msgspec

from consent_svc_client import _core
from consent_svc_client._core import RetryPolicy
from consent_svc_client.errors import ApiError, StreamError, TransportError
from consent_svc_client.models import (
    BatchItem,
    Channel,
    Decision,
    EventBatchIn,
    EventBatchOut,
    EventIn,
    EventOut,
    ExportFormat,
    ExportPage,
    Recipient,
    WebhookMessage,
)
from consent_svc_client.webhooks import verify

_decision = msgspec.json.Decoder(Decision)
_event = msgspec.json.Decoder(EventOut)
_event_batch = msgspec.json.Decoder(EventBatchOut)
_page = msgspec.json.Decoder(ExportPage)


class ConsentClient:
    """A consent-svc client. ``base_url`` is the service (``http://127.0.0.1:8000``), ``api_key``
    a key of the scope the calls need (``check`` for decisions and the export, ``record`` for
    events). Use it as a context manager, or call :meth:`close`.

    ``http`` lets you bring your own ``httpx.Client`` (proxies, TLS, limits); its base URL and
    headers are left alone, the client sends its own."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = _core.headers(api_key, _core.USER_AGENT)
        self._retry = retry or RetryPolicy()
        self._own_http = http is None
        self._http = http or httpx.Client(timeout=timeout)
        self.suppressions = Suppressions(self)
        self.webhooks = Webhooks()

    def __enter__(self) -> ConsentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    # -- transport -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        """One request, asked again (the same bytes) on 429/502/503/504 or a connection error."""
        headers = dict(self._headers)
        if content is not None:
            headers["Content-Type"] = content_type
        for attempt in range(self._retry.attempts):
            last = attempt + 1 >= self._retry.attempts
            try:
                response = self._http.request(
                    method, self._base + path, params=params, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                if last:
                    raise TransportError(f"{method} {path}: {exc!r}") from exc
                time.sleep(self._retry.delay(attempt, None))
                continue
            if response.status_code in _core.RETRY_STATUSES and not last:
                time.sleep(self._retry.delay(attempt, _core.retry_after_seconds(response)))
                continue
            if response.status_code >= 400:
                raise _core.error_of(response, response.content)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    # -- decisions -------------------------------------------------------------------------

    def decide(
        self,
        purpose: str,
        channel: Channel,
        *,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
    ) -> Decision:
        """May we contact this person for ``purpose`` over ``channel``? Give exactly one of
        ``email``, ``phone``, ``external_id``."""
        params = _core.decision_params(purpose, channel, email, phone, external_id)
        return _decision.decode(self._request("GET", "/v1/decisions", params=params).content)

    def decide_many(
        self,
        recipients: Iterable[Recipient | Mapping[str, Any]],
        *,
        purpose: str,
        channel: Channel,
        window: int = _core.MAX_WINDOW,
    ) -> Iterator[BatchItem]:
        """Answers for a send list of any length, one per recipient, in order, as they arrive.

        ``recipients`` is read lazily, ``window`` at a time (at most 5,000), each window sent as
        one NDJSON stream: memory stays flat whatever the length. A window cut off by a
        connection error or a 503 is asked again from the first recipient not yet answered."""
        size = _core.check_window(window)
        params = {"purpose": purpose, "channel": channel}
        for lines in _core.windows(recipients, size):
            yield from self._decide_window(lines, params)

    def _decide_window(self, lines: list[bytes], params: dict[str, str]) -> Iterator[BatchItem]:
        done = 0
        for attempt in range(self._retry.attempts):
            last = attempt + 1 >= self._retry.attempts
            body = b"".join(lines[done:])
            headers = {**self._headers, "Content-Type": _core.NDJSON, "Accept": _core.NDJSON}
            retry_after: float | None = None
            try:
                with self._http.stream(
                    "POST", self._base + "/v1/decisions/batch", params=params, content=body, headers=headers
                ) as response:
                    if response.status_code >= 400:
                        error = _core.error_of(response, response.read())
                        if response.status_code not in _core.RETRY_STATUSES or last:
                            raise error
                        retry_after = error.retry_after
                    else:
                        splitter = _core.LineSplitter()
                        for data in response.iter_bytes():
                            for line in splitter.feed(data):
                                yield self._item(line, done, len(lines))
                                done += 1
                        for line in splitter.rest():
                            yield self._item(line, done, len(lines))
                            done += 1
                        if done != len(lines):
                            raise StreamError(f"the service answered {done} of {len(lines)} recipients")
                        return
            except httpx.TransportError as exc:
                if last:
                    raise TransportError(f"decide_many: {exc!r}") from exc
            time.sleep(self._retry.delay(attempt, retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _item(line: bytes, done: int, expected: int) -> BatchItem:
        if done >= expected:
            raise StreamError(f"the service answered more than the {expected} recipients sent")
        try:
            return _core.item_decoder.decode(line)
        except msgspec.MsgspecError as exc:
            raise StreamError(f"an answer line is not a decision: {exc}") from None

    # -- events ----------------------------------------------------------------------------

    def record(self, event: EventIn | Mapping[str, Any]) -> EventOut:
        """Record one event. Without an ``idempotency_key`` the client makes one, and every retry
        sends the same one: the event is recorded once however often it is sent."""
        body = _core.encoder.encode(_core.as_event(event))
        return _event.decode(self._request("POST", "/v1/events", content=body).content)

    def record_many(
        self, events: Iterable[EventIn | Mapping[str, Any]], *, batch_size: int = 1_000
    ) -> Iterator[EventOut]:
        """Record any number of events, ``batch_size`` a request (at most 10,000; each request all
        or nothing), yielding one result per event in order. Every event gets an idempotency key
        before it is first sent, and a retried batch carries the same keys: nothing is recorded
        twice, and an event answered before the failure answers its first result again."""
        for batch in _core.chunks(events, _core.check_batch(batch_size)):
            body = _core.encoder.encode(EventBatchIn(events=batch))
            yield from _event_batch.decode(self._request("POST", "/v1/events/batch", content=body).content).results

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """Any other GET of the API, with the same retries and errors; the decoded JSON."""
        return msgspec.json.decode(self._request("GET", path, params=params).content)


class Suppressions:
    """``client.suppressions``: the suppression export."""

    def __init__(self, client: ConsentClient) -> None:
        self._client = client

    def export(
        self, cursor: str | None = None, *, format: ExportFormat = "sha256", limit: int = 1_000
    ) -> Iterator[ExportPage]:
        """Every change to the suppression list after ``cursor`` (from the start without one),
        a page at a time, oldest first, until no more are waiting. Apply each page's ``items``,
        then save its ``next_cursor``: passing it here later resumes exactly there."""
        while True:
            params: dict[str, str | int] = {"format": format, "limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            page = _page.decode(self._client._request("GET", "/v1/suppressions/export", params=params).content)
            yield page
            if not page.has_more:
                return
            cursor = page.next_cursor


class Webhooks:
    """``client.webhooks``: verifying deliveries (no request is made)."""

    @staticmethod
    def verify(headers: Mapping[str, str], body: bytes, secret: str, *, tolerance: int = 300) -> WebhookMessage:
        """Check the ``Consent-Signature`` of a delivery; its message, or WebhookSignatureError."""
        return verify(headers, body, secret, tolerance=tolerance)


__all__ = ["ApiError", "ConsentClient"]
