"""The fast path of GET /v1/decisions answers exactly as the litestar route does,
and leaves every other case (errors included) to the route."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from consent_svc.http.app import create_litestar
from consent_svc.http.fastpath import FastPath
from consent_svc.service import events as events_service
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, make_tenant, still


@pytest.fixture
async def route_only(ctx: Context) -> httpx.AsyncClient:
    """A client of the litestar app alone (no fast path)."""
    app: Any = create_litestar(ctx)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


class Counting:
    """An ASGI app that counts the requests it is handed (the route, behind the fast path)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


async def test_fast_path_and_route_give_the_same_answers(
    ctx: Context, tenant: Tenant, route_only: httpx.AsyncClient
) -> None:
    litestar = create_litestar(ctx)
    route = Counting(litestar)
    app: Any = FastPath(route, ctx, litestar.state.authenticator)
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await fast.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())
    consent = {
        "subject": {"email": "same@example.se", "phone": "0701234567"},
        "type": "consent_given",
        "purpose": "newsletter",
        "proof": {"notice_version": "2026-03"},
    }
    assert (await fast.post("/v1/events", json=consent, headers=tenant.auth())).status_code == 201
    queries = [
        {"purpose": "newsletter", "channel": "email", "email": "SAME@example.se"},
        {"purpose": "newsletter", "channel": "sms", "phone": "+46 70 123 45 67"},
        {"purpose": "newsletter", "channel": "email", "email": "other@example.se"},
        {"purpose": "newsletter", "channel": "post", "email": "same@example.se"},
        # Cases the fast path hands to the route: errors must be the route's.
        {"purpose": "newsletter", "channel": "email"},
        {"purpose": "nope", "channel": "email", "email": "same@example.se"},
        {"purpose": "newsletter", "channel": "fax", "email": "same@example.se"},
        {"purpose": "newsletter", "channel": "email", "email": "broken"},
        {"purpose": "newsletter", "channel": "email", "email": "a@b.se", "extra": "1"},
    ]
    answered_fast = 0
    for number, params in enumerate(queries):
        for headers in (tenant.auth("check"), {}, {"Authorization": "Bearer csk_wrong"}):
            before = route.calls
            a = await fast.get("/v1/decisions", params=params, headers=headers)
            # The first four queries with a good key are the fast path's to answer; all else the route's.
            fast_case = number < 4 and headers == tenant.auth("check")
            assert route.calls == before + (0 if fast_case else 1), (params, headers)
            answered_fast += fast_case
            b = await route_only.get("/v1/decisions", params=params, headers=headers)
            assert a.status_code == b.status_code, (params, a.text, b.text)
            assert a.headers["content-type"] == b.headers["content-type"]
            ja, jb = a.json(), b.json()
            ja.pop("decided_at", None)
            jb.pop("decided_at", None)
            assert ja == jb, params
    assert answered_fast == 4
    await fast.aclose()
    await route_only.aclose()


def _same_shape(answer: Any) -> Any:
    """An answer with what differs between two tenants' identical writes (ids, times) blanked."""
    if isinstance(answer, dict):
        return {k: "<varies>" if k in ("event_id", "subject_id", "recorded_at") else _same_shape(v)
                for k, v in answer.items()}  # fmt: skip
    return answer


def _record_cases() -> list[tuple[str, dict[str, str], bytes]]:
    """(what, extra headers, body) in order: the same sequence is sent to each app."""
    consent = {
        "subject": {"email": "rec@example.se"},
        "type": "consent_given",
        "purpose": "newsletter",
        "channels": ["email"],
        "proof": {"notice_version": "2026-03"},
    }

    def body(**changes: Any) -> bytes:
        return msgspec.json.encode({**consent, **changes})

    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    return [
        ("a new person's consent", {}, body()),
        ("the same person again", {}, body(channels=["email", "sms"])),
        ("with an idempotency key", {}, body(idempotency_key="k-1")),
        ("the key again: the first answer", {}, body(idempotency_key="k-1")),
        ("the key for another event", {}, body(idempotency_key="k-1", channels=["sms"])),
        ("a withdrawal", {}, body(type="consent_withdrawn", proof=None)),
        ("an unknown purpose", {}, body(purpose="nope")),
        ("no notice version", {}, body(proof={})),
        ("an unknown field", {}, body(colour="blue")),
        ("a channel twice", {}, body(channels=["email", "email"])),
        ("no identifier", {}, body(subject={})),
        ("a bad email", {}, body(subject={"email": "broken"})),
        ("a phone added to the person", {}, body(subject={"email": "rec@example.se", "phone": "0701234567"})),
        ("another person by phone", {}, body(subject={"phone": "0709999999"})),
        ("two people's identifiers", {}, body(subject={"email": "rec@example.se", "phone": "0709999999"})),
        ("provider feedback from a client", {}, body(proof={"provider_feedback": {}})),
        ("malformed JSON", {}, b'{"subject": '),
        ("not an object", {}, b"[1, 2]"),
        ("deeply nested", {}, msgspec.json.encode({**consent, "proof": {"note": deep}})),
        ("text/plain", {"Content-Type": "text/plain"}, body()),
        ("an empty body", {}, b""),
        ("too large", {}, b'{"subject": {"email": "' + b"a" * 1_100_000 + b'"}}'),
    ]


async def test_record_fast_path_and_route_give_the_same_answers(ctx: Context) -> None:
    """The same requests, in the same order, to the fast path (one tenant) and to the route alone
    (another): the same statuses, types and bodies; only the plain writes skip the route."""
    litestar = create_litestar(ctx)
    route = Counting(litestar)
    fast_app: Any = FastPath(route, ctx, litestar.state.authenticator)
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=fast_app), base_url="http://testserver")
    route_alone: Any = create_litestar(ctx)
    slow = httpx.AsyncClient(transport=httpx.ASGITransport(app=route_alone), base_url="http://testserver")
    tenants = {fast: await make_tenant(ctx), slow: await make_tenant(ctx)}
    for client, tenant in tenants.items():
        assert (await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())).status_code in (
            200,
            201,
        )
    answered_fast = []
    for what, extra, content in _record_cases():
        for key in ("record", "check", None, "wrong"):
            answers = []
            for client, tenant in tenants.items():
                headers = {"Content-Type": "application/json", **extra}
                if key == "wrong":
                    headers["Authorization"] = "Bearer csk_" + "x" * 40
                elif key is not None:
                    headers.update(tenant.auth(key))
                before = route.calls
                answers.append(await client.post("/v1/events", content=content, headers=headers))
                if client is fast and route.calls == before:
                    answered_fast.append((what, key))
            a, b = answers
            assert a.status_code == b.status_code, (what, key, a.text, b.text)
            assert a.headers["content-type"] == b.headers["content-type"], (what, key)
            assert _same_shape(a.json()) == _same_shape(b.json()), (what, key)
    assert answered_fast == [
        ("a new person's consent", "record"),
        ("the same person again", "record"),
        ("with an idempotency key", "record"),
        ("the key again: the first answer", "record"),
        ("a withdrawal", "record"),
        ("a phone added to the person", "record"),
        ("another person by phone", "record"),
    ]
    await fast.aclose()
    await slow.aclose()


async def _asgi_post(app: Any, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """POST /v1/events straight over ASGI, the body in ``chunks`` (several messages)."""
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/events", "raw_path": b"/v1/events", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_a_body_in_several_messages_is_read_whole_and_replayed_to_the_route(ctx: Context, tenant: Tenant) -> None:
    litestar = create_litestar(ctx)
    route = Counting(litestar)
    app: Any = FastPath(route, ctx, litestar.state.authenticator)
    admin = [(b"authorization", tenant.auth()["Authorization"].encode())]
    put = await _asgi_put_purpose(app, admin)
    assert put in (200, 201)
    record = [
        (b"authorization", tenant.auth("record")["Authorization"].encode()),
        (b"content-type", b"application/json"),
    ]
    good = msgspec.json.encode({"subject": {"email": "chunks@example.se"}, "type": "consent_withdrawn",
                                "purpose": "newsletter"})  # fmt: skip
    length = [(b"content-length", str(len(good)).encode())]
    before = route.calls
    status, body = await _asgi_post(app, [good[:10], good[10:30], good[30:]], record + length)
    assert (status, route.calls) == (201, before), body
    # Refused after reading: the route gets every byte the fast path read, and names the field.
    bad = good.replace(b"consent_withdrawn", b"consent_forgotten")
    status, body = await _asgi_post(app, [bad[:7], bad[7:]], [*record, (b"content-length", str(len(bad)).encode())])
    assert (status, route.calls) == (400, before + 1)
    assert b"type" in body
    # Fewer bytes than announced: the route's answer, not a half-read event.
    status, body = await _asgi_post(app, [good[:20]], record + length)
    assert (status, route.calls) == (400, before + 2), body


async def _asgi_put_purpose(app: Any, headers: list[tuple[bytes, bytes]]) -> int:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with client:
        answer = await client.put(
            "/v1/purposes/newsletter", json=NEWSLETTER, headers={k.decode(): v.decode() for k, v in headers}
        )
    return answer.status_code


@pytest.mark.parametrize(
    ("failure", "status"),
    [(asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), 503),
     (RuntimeError("a fault after the commit"), 500)],
)  # fmt: skip
async def test_a_write_that_may_have_landed_is_answered_not_run_again(
    ctx: Context, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, failure: Exception, status: int
) -> None:
    """The database went away (the commit may have landed) or a fault: the fast path answers as the
    route would, and never hands the request on to run the write a second time."""
    calls = 0

    async def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        raise failure

    litestar = create_litestar(ctx)
    route = Counting(litestar)
    app: Any = FastPath(route, ctx, litestar.state.authenticator)
    monkeypatch.setattr(events_service, "record", failing)
    body = msgspec.json.encode({"subject": {"email": "gone@example.se"}, "type": "consent_withdrawn"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as fast:
        a = await fast.post(
            "/v1/events", content=body, headers={**tenant.auth("record"), "Content-Type": "application/json"}
        )
    assert (a.status_code, calls, route.calls) == (status, 1, 0)
    route_alone: Any = litestar
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=route_alone), base_url="http://testserver") as slow:
        b = await slow.post(
            "/v1/events", content=body, headers={**tenant.auth("record"), "Content-Type": "application/json"}
        )
    assert b.status_code == status
    assert a.json() == b.json()
    assert a.headers["content-type"] == b.headers["content-type"]
    assert a.headers.get("retry-after") == b.headers.get("retry-after")


async def test_a_request_handed_on_is_counted_once_against_its_keys_rate(ctx: Context, tenant: Tenant) -> None:
    """Rate 1/s, a burst of 2, a clock that does not move: two requests pass, whichever path answers
    them (the first two are refused by the service and answered by the route), the third is a 429."""
    from tests.conftest import test_settings  # here: at module level pytest would collect it as a test

    limited = Context(settings=test_settings(rate_limit_per_key=1.0), pool=ctx.pool, hasher=ctx.hasher)
    litestar = create_litestar(limited, clock=still)
    app: Any = FastPath(litestar, limited, litestar.state.authenticator)
    unknown_purpose = msgspec.json.encode({"subject": {"email": "r@example.se"}, "type": "consent_withdrawn",
                                           "purpose": "nope"})  # fmt: skip
    headers = {**tenant.auth("record"), "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        statuses = [(await client.post("/v1/events", content=unknown_purpose, headers=headers)).status_code
                    for _ in range(3)]  # fmt: skip
    assert statuses == [400, 400, 429]


async def _post_never_finished(app: Any, headers: list[tuple[bytes, bytes]]) -> int:
    """POST /v1/events announcing 1,000,000 bytes and sending one: the status of the answer."""
    sent: list[dict[str, Any]] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.sleep(3600)  # the rest of the announced body never comes
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/events", "raw_path": b"/v1/events", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"content-length", b"1000000"), *headers],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return int(sent[0]["status"])


async def test_an_event_without_a_good_key_is_handed_on_before_its_body_is_read(ctx: Context, tenant: Tenant) -> None:
    """A client without a key (or with a check key) gets the route's answer from the headers at once:
    the fast path does not wait for, or hold, a body it will not use (a review's finding)."""
    litestar = create_litestar(ctx)
    app: Any = FastPath(litestar, ctx, litestar.state.authenticator)
    assert await _post_never_finished(app, []) == 401
    check_key = tenant.auth("check")["Authorization"].encode()
    assert await _post_never_finished(app, [(b"authorization", check_key)]) == 403
