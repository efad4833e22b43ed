"""The Python client's retries, against a scripted transport (what a live server cannot be made
to do on cue): the same idempotency key on every try, Retry-After honoured, a send list's window
cut off mid-answer resumed from the first recipient not answered, and when to give up."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from consent_svc_client import (
    AsyncConsentClient,
    Conflict,
    ConsentClient,
    RateLimited,
    RetryPolicy,
    StreamError,
    TransportError,
)
from consent_svc_client import _async as async_module
from consent_svc_client import _sync as sync_module

EVENT = {"subject": {"email": "anna@example.se"}, "type": "consent_given", "purpose": "newsletter"}
RESULT = {"event_id": "0193a0e0-0000-7000-8000-000000000001", "subject_id": "0193a0e0-0000-7000-8000-000000000002"}
RESULT["recorded_at"] = "2026-11-30T10:00:00Z"
PROBLEM = "application/problem+json"


def _client(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> ConsentClient:
    monkeypatch.setattr(sync_module, "time", type("Clock", (), {"sleep": staticmethod(sleeps.append)}))
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return ConsentClient("http://consent.test", "csk_test", http=http, retry=RetryPolicy(attempts=4))


def test_a_retried_write_carries_the_same_key_and_waits_what_retry_after_says(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies: list[dict[str, Any]] = []
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "1", "Content-Type": PROBLEM}, json={"status": 503}),
            httpx.Response(429, headers={"Retry-After": "3"}, json={"status": 429, "title": "Too many requests"}),
            httpx.Response(201, json=RESULT),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return next(answers)

    sleeps: list[float] = []
    result = _client(handler, sleeps, monkeypatch).record(EVENT)
    assert str(result.event_id) == RESULT["event_id"]
    keys = {b["idempotency_key"] for b in bodies}
    assert len(bodies) == 3
    assert len(keys) == 1
    assert keys.pop().startswith("csc-")
    assert sleeps == [1.0, 3.0]


def test_a_connection_error_is_retried_with_backoff_and_the_same_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if len(bodies) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        events = json.loads(request.content)["events"]
        return httpx.Response(201, json={"results": [RESULT] * len(events)})

    sleeps: list[float] = []
    results = list(_client(handler, sleeps, monkeypatch).record_many([EVENT, EVENT, {**EVENT, "idempotency_key": "k"}]))
    assert len(results) == 3
    assert bodies[0] == bodies[1] == bodies[2]  # the same events, the same keys, byte for byte
    keys = [e["idempotency_key"] for e in json.loads(bodies[0])["events"]]
    assert keys[2] == "k"
    assert len(set(keys)) == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 0.25 * 2**i for i, s in enumerate(sleeps))


def test_retries_run_out_into_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []

    def limited(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "2"}, json={"status": 429, "detail": "slow down"})

    with pytest.raises(RateLimited) as limited_error:
        _client(limited, sleeps, monkeypatch).record(EVENT)
    assert limited_error.value.retry_after == 2.0
    assert limited_error.value.detail == "slow down"
    assert sleeps == [2.0, 2.0, 2.0]  # four attempts

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransportError):
        _client(refused, [], monkeypatch).decide("newsletter", "email", email="a@example.se")

    calls: list[int] = []

    def conflict(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(409, json={"status": 409, "title": "Conflict", "detail": "key reused"})

    with pytest.raises(Conflict, match="key reused"):
        _client(conflict, [], monkeypatch).record(EVENT)
    assert calls == [1]  # a 409 is an answer, not a hiccup: never retried


def test_unknown_fields_in_an_event_are_refused_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    with pytest.raises(msgspec.ValidationError, match="purpos"):
        _client(handler, [], monkeypatch).record({**EVENT, "purpos": "typo"})


class _CutOff(httpx.SyncByteStream):
    """An answer that delivers some lines, then loses the connection."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def __iter__(self) -> Iterator[bytes]:
        yield b"".join(self.lines)
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def _answer(line: bytes) -> bytes:
    email = json.loads(line)["email"]
    return json.dumps({"allowed": email.startswith("ok"), "reason": "consent_active"}).encode() + b"\n"


def test_a_window_cut_off_is_resumed_from_the_first_unanswered_recipient(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[list[bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        lines = request.content.splitlines()
        sent.append(lines)
        assert request.headers["content-type"] == "application/x-ndjson"
        assert request.url.params["purpose"] == "newsletter"
        answers = [_answer(line) for line in lines]
        if len(sent) == 1:
            return httpx.Response(200, stream=_CutOff(answers[:3]))
        return httpx.Response(200, content=b"".join(answers))

    recipients = [{"email": f"{'ok' if i % 2 else 'no'}{i}@example.se"} for i in range(8)]
    sleeps: list[float] = []
    client = _client(handler, sleeps, monkeypatch)
    answers = list(client.decide_many(recipients, purpose="newsletter", channel="email", window=5))
    assert [a.allowed for a in answers] == [i % 2 == 1 for i in range(8)]
    # Window one (5) cut after 3 answers, resent from the fourth (2), then window two (3).
    assert [len(s) for s in sent] == [5, 2, 3]
    assert sent[1] == sent[0][3:]
    assert len(sleeps) == 1


def test_a_short_answer_is_an_error_not_a_silent_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        lines = request.content.splitlines()
        return httpx.Response(200, content=b"".join(_answer(line) for line in lines[:-1]))

    client = _client(handler, [], monkeypatch)
    with pytest.raises(StreamError, match="answered 3 of 4"):
        list(client.decide_many([{"email": f"ok{i}@example.se"} for i in range(4)], purpose="p", channel="email"))


async def test_the_async_client_retries_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """AsyncConsentClient: the same key on a retried batch, Retry-After honoured, and a window cut
    off mid-answer resumed from the first unanswered recipient."""
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(async_module, "asyncio", type("Clock", (), {"sleep": staticmethod(sleep)}))
    bodies: list[bytes] = []
    windows: list[list[bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/events/batch":
            bodies.append(request.content)
            if len(bodies) == 1:
                return httpx.Response(503, headers={"Retry-After": "1"}, json={"status": 503})
            return httpx.Response(201, json={"results": [RESULT] * len(json.loads(request.content)["events"])})
        lines = request.content.splitlines()
        windows.append(lines)
        answers = [_answer(line) for line in lines]
        if len(windows) == 1:
            return httpx.Response(200, stream=_AsyncCutOff(answers[:2]))
        return httpx.Response(200, content=b"".join(answers))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with AsyncConsentClient("http://consent.test", "csk_test", http=http) as client:
        results = [r async for r in client.record_many([EVENT, EVENT])]
        assert len(results) == 2
        assert bodies[0] == bodies[1]
        recipients = [{"email": f"{'ok' if i % 2 else 'no'}{i}@example.se"} for i in range(4)]
        answers = [a.allowed async for a in client.decide_many(recipients, purpose="p", channel="email")]
    await http.aclose()
    assert answers == [False, True, False, True]
    assert [len(w) for w in windows] == [4, 2]
    assert windows[1] == windows[0][2:]
    assert sleeps[0] == 1.0
    assert len(sleeps) == 2


class _AsyncCutOff(httpx.AsyncByteStream):
    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"".join(self.lines)
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
