"""The edge of the service, over HTTP against the ASGI app: the unknown-key
budget on both authentication paths, the key cache, hostile input (trailing
newlines, deep JSON, values the database refuses), and the security headers.

Database look-ups of API keys are counted by wrapping the store function the
Authenticator calls (the real query still runs)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from consent_svc.domain.identifiers import normalize
from consent_svc.http.app import create_app, create_litestar
from consent_svc.http.auth import Authenticator
from consent_svc.service import tenants
from consent_svc.service.context import Context
from consent_svc.store import tenants as tenant_store
from tests.conftest import NEWSLETTER, Tenant, make_tenant, ok, still, subject_id_of

ATTACKER = "203.0.113.66"
NEIGHBOUR = "203.0.113.67"
DECISION = {"purpose": "newsletter", "channel": "email", "email": "edge@example.se"}
SITE = {
    "name": "n",
    "origins": ["https://www.example.se"],
    "categories": [{"key": "analytics", "title": {"sv": "s", "en": "e"}, "description": {"sv": "s", "en": "e"}}],
    "policy_url": "https://www.example.se/integritet",
    "controller": "Exempel AB",
}


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def look_ups(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every API-key look-up that reaches the database, by key hash."""
    seen: list[bytes] = []
    real = tenant_store.active_key_by_hash

    async def counting(conn: asyncpg.Connection, key_hash: bytes) -> Any:
        seen.append(key_hash)
        return await real(conn, key_hash)

    monkeypatch.setattr(tenant_store, "active_key_by_hash", counting)
    return seen


def cached(ctx: Context, seconds: float = 5.0, **settings_: Any) -> Context:
    return dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, auth_cache_seconds=seconds, **settings_))


def client_for(app: Any, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://t")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ROUTES: dict[str, Callable[[httpx.AsyncClient, str], Any]] = {
    # GET /v1/decisions with the plain parameters takes the fast path (http/fastpath.py) ...
    "fast path": lambda http, key: http.get("/v1/decisions", params=DECISION, headers=bearer(key)),
    # ... any other route goes through the litestar guard (http/auth.py).
    "litestar route": lambda http, key: http.get("/v1/purposes", headers=bearer(key)),
}


@pytest.fixture
async def purpose(ctx: Context, tenant: Tenant) -> None:
    async with client_for(create_app(ctx), "127.0.0.1") as http:
        assert (await http.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth())).status_code == 201


# --- finding 4: the unknown-key budget ----------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.usefixtures("purpose")
async def test_a_flood_of_unknown_keys_costs_at_most_the_budget_in_look_ups(
    ctx: Context, tenant: Tenant, look_ups: list[bytes], route: str
) -> None:
    # A clock that does not move: the budget refills one token a second, and 100 requests on a busy
    # machine took longer than that (a 21st look-up, paid by the refill, failed the count).
    async with client_for(create_app(cached(ctx), clock=still), ATTACKER) as http:
        # 100 guesses at once: the budget is paid before each look-up, so concurrency buys nothing.
        answers = await asyncio.gather(*(ROUTES[route](http, f"csk_guess{i}") for i in range(100)))
        statuses = [a.status_code for a in answers]
        assert set(statuses) == {401, 429}, statuses
        assert len(look_ups) <= Authenticator.FAILURE_BURST, len(look_ups)
        assert statuses.count(401) == len(look_ups)  # each 401 was one look-up; each 429 none
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) >= 1
        # A second wave, one by one: still no look-up.
        before = len(look_ups)
        for i in range(100, 130):
            assert (await ROUTES[route](http, f"csk_guess{i}")).status_code == 429
        assert len(look_ups) == before
        # Another address has its own budget.
        async with client_for(http._transport.app, NEIGHBOUR) as other:  # type: ignore[attr-defined]
            assert (await ROUTES[route](other, "csk_other")).status_code == 401


@pytest.mark.usefixtures("purpose")
async def test_both_paths_share_one_budget_and_a_request_is_charged_once(
    ctx: Context, tenant: Tenant, look_ups: list[bytes]
) -> None:
    # Without a cache, a bad key the fast path looked up is not looked up again by the route it hands over to.
    async with client_for(create_app(cached(ctx, seconds=0), clock=still), ATTACKER) as http:
        for i in range(10):
            assert (await ROUTES["fast path"](http, f"csk_a{i}")).status_code == 401
            assert (await ROUTES["litestar route"](http, f"csk_b{i}")).status_code == 401
        assert len(look_ups) == 20
        assert (await ROUTES["fast path"](http, "csk_c")).status_code == 429
        assert (await ROUTES["litestar route"](http, "csk_d")).status_code == 429
        assert len(look_ups) == 20


@pytest.mark.parametrize("cache_seconds", [0.0, 5.0])
@pytest.mark.usefixtures("purpose")
async def test_a_valid_key_still_works_from_an_address_over_its_failure_budget(
    ctx: Context, tenant: Tenant, look_ups: list[bytes], cache_seconds: float
) -> None:
    async with client_for(create_app(cached(ctx, cache_seconds)), ATTACKER) as http:
        for route in ROUTES.values():
            assert (await route(http, tenant.keys["check"])).status_code == 200
        statuses = [(await ROUTES["litestar route"](http, f"csk_guess{i}")).status_code for i in range(25)]
        assert statuses == [401] * 20 + [429] * 5
        # The address is over its budget; the key it used before still passes, on both paths
        # (without a cache, it is looked up again each time: it is known to be good).
        for route in ROUTES.values():
            assert (await route(http, tenant.keys["check"])).status_code == 200


@pytest.mark.usefixtures("purpose")
async def test_a_known_key_is_checked_again_when_stale_whatever_the_budget(
    ctx: Context, tenant: Tenant, look_ups: list[bytes]
) -> None:
    clock = ManualClock()
    app = create_app(cached(ctx), authenticator=Authenticator(cached(ctx), clock=clock))
    async with client_for(app, ATTACKER) as http:
        assert (await ROUTES["fast path"](http, tenant.keys["check"])).status_code == 200
        clock.advance(6)  # the cached answer is stale: the key must be checked again (a revocation must be seen)
        for i in range(30):
            await ROUTES["litestar route"](http, f"csk_guess{i}")
        assert (await ROUTES["fast path"](http, "csk_guess99")).status_code == 429  # over the budget
        before = len(look_ups)
        for route in ROUTES.values():
            assert (await route(http, tenant.keys["check"])).status_code == 200
        assert len(look_ups) - before == 1  # checked once, then cached again
        # A revoked key stops working once its cached answer is stale, even as a known key.
        await tenants.revoke_key(ctx, await key_id_of(ctx, tenant, "check"))
        assert (await ROUTES["litestar route"](http, tenant.keys["check"])).status_code == 200  # still cached
        clock.advance(6)
        for route in ROUTES.values():
            assert (await route(http, tenant.keys["check"])).status_code == 401


@pytest.mark.usefixtures("purpose")
async def test_a_burst_with_one_valid_key_on_a_cold_process_is_looked_up_once_and_never_refused(
    ctx: Context, tenant: Tenant, look_ups: list[bytes]
) -> None:
    """60 requests at once with a key this process has not seen (a fresh replica after a
    deploy): one look-up, shared by all, and no 429 (the budget is for failures)."""
    async with client_for(create_app(cached(ctx)), ATTACKER) as http:
        answers = await asyncio.gather(*(ROUTES[r](http, tenant.keys["check"]) for r in ROUTES for _ in range(30)))
    assert [a.status_code for a in answers] == [200] * 60
    assert len(look_ups) == 1  # concurrent requests share one look-up; later ones find it cached


async def test_a_burst_of_many_valid_keys_from_one_address_waits_for_the_budget_instead_of_429(
    ctx: Context, look_ups: list[bytes]
) -> None:
    """An integrator sending for 30 tenants from one address, at once, to a cold process:
    more look-ups than the budget are in flight, but none fails, so none is refused."""
    others = [await make_tenant(ctx) for _ in range(10)]
    keys = [t.keys[s] for t in others for s in ("check", "record", "admin")]
    async with client_for(create_app(cached(ctx)), ATTACKER) as http:
        answers = await asyncio.gather(*(ROUTES["litestar route"](http, key) for key in keys))
    assert [a.status_code for a in answers] == [200] * 30
    assert len(look_ups) == 30


async def key_id_of(ctx: Context, tenant: Tenant, scope: str) -> Any:
    async with ctx.pool.acquire() as conn:
        row = await tenant_store.active_key_by_hash(conn, tenants.hash_key(tenant.keys[scope]))
    assert row is not None
    return row.id


@pytest.mark.usefixtures("purpose")
async def test_a_key_never_seen_from_an_address_over_budget_waits_for_the_budget(
    ctx: Context, tenant: Tenant, look_ups: list[bytes]
) -> None:
    """The trade-off (docs/operations.md): a key this process has never seen verify,
    from an address that spent its failure budget, is refused (429) without a
    look-up until the budget refills (1 a second); then it works."""
    clock = ManualClock()
    app = create_app(cached(ctx), authenticator=Authenticator(cached(ctx), clock=clock))
    async with client_for(app, ATTACKER) as http:
        for i in range(20):
            assert (await ROUTES["litestar route"](http, f"csk_guess{i}")).status_code == 401
        before = len(look_ups)
        refused = await ROUTES["fast path"](http, tenant.keys["check"])
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert len(look_ups) == before
        clock.advance(1.0)
        assert (await ROUTES["fast path"](http, tenant.keys["check"])).status_code == 200
        # It verified, so its token was given back: the next guess may still be looked up once.
        assert (await ROUTES["litestar route"](http, "csk_guess99")).status_code == 401
        assert (await ROUTES["litestar route"](http, "csk_guess100")).status_code == 429


async def test_the_key_cache_keeps_a_hot_key_through_a_flood_of_new_ones(
    ctx: Context, tenant: Tenant, look_ups: list[bytes]
) -> None:
    clock = ManualClock()
    authenticator = Authenticator(cached(ctx, 300), clock=clock, cache_size=8)
    app = create_app(cached(ctx, 300), authenticator=authenticator)
    hot = tenant.keys["check"]
    others = [await make_tenant(ctx) for _ in range(5)]
    new_keys = [t.keys[s] for t in others for s in ("check", "record", "admin")]  # 15 valid keys, cache of 8
    async with client_for(app, "127.0.0.1") as http:
        assert (await ROUTES["litestar route"](http, hot)).status_code == 200
        for i, key in enumerate(new_keys):
            assert (await ROUTES["litestar route"](http, key)).status_code == 200
            # Unknown keys from many addresses: they never push a good key out.
            async with client_for(app, f"198.51.100.{i}") as stranger:
                for j in range(3):
                    assert (await ROUTES["litestar route"](stranger, f"csk_flood{i}_{j}")).status_code == 401
            assert (await ROUTES["litestar route"](http, hot)).status_code == 200
    hot_hash = tenants.hash_key(hot)
    assert look_ups.count(hot_hash) == 1  # looked up once, then always served from the cache
    assert len(look_ups) == 1 + len(new_keys) + 3 * len(new_keys)
    # The least recently used good keys were the ones evicted: the first new keys are looked up again.
    async with client_for(app, "127.0.0.1") as http:
        assert (await ROUTES["litestar route"](http, new_keys[0])).status_code == 200
        assert look_ups[-1] == tenants.hash_key(new_keys[0])
        assert (await ROUTES["litestar route"](http, new_keys[-1])).status_code == 200
        assert look_ups[-1] == tenants.hash_key(new_keys[0])  # the most recent one was still cached


# --- finding 7: hostile input ---------------------------------------------------------------------


def _patterns(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.append(node["pattern"])
        for value in node.values():
            found += _patterns(value)
    elif isinstance(node, list):
        for value in node:
            found += _patterns(value)
    return found


def _input_structs() -> list[type]:
    from consent_svc.service import inputs

    return [v for v in vars(inputs).values() if isinstance(v, type) and issubclass(v, msgspec.Struct)]


# Every pattern the OpenAPI document publishes, and every one msgspec validates the
# request bodies with (list items and dict keys included, which the document leaves out).
PATTERNS = sorted(
    set(_patterns(create_litestar(None).openapi_schema.to_schema()))
    | set(_patterns(msgspec.json.schema_components(_input_structs())[1]))
)


def test_the_api_has_patterns_to_check() -> None:
    assert len(PATTERNS) >= 9, PATTERNS


@pytest.mark.parametrize("pattern", PATTERNS)
def test_no_pattern_accepts_a_trailing_newline(pattern: str) -> None:
    """msgspec validates with ``re.search``: in Python a final ``$`` also matches before a
    trailing newline. Every pattern the API publishes must refuse ``valid + "\\n"``."""

    @given(st.from_regex(pattern, fullmatch=True))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(value: str) -> None:
        assert re.search(pattern, value)
        assert re.search(pattern, value + "\n") is None, repr(value)

    check()


async def test_a_trailing_newline_is_a_400_not_a_500(client: httpx.AsyncClient, tenant: Tenant) -> None:
    with capture_logs() as logs:
        purpose = await client.put("/v1/purposes/newsletter%0A", json=NEWSLETTER, headers=tenant.auth())
        colour = await client.put("/v1/branding", json={"primary_color": "#ffffff\n"}, headers=tenant.auth())
        site = await client.post("/v1/sites", headers=tenant.auth(), json={**SITE, "origins": ["https://example.se\n"]})
    for response, field in ((purpose, "key"), (colour, "primary_color"), (site, "origins[0]")):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json().get("errors", [{}])[0].get("field") == field, response.text
    assert not [entry for entry in logs if entry["log_level"] in ("error", "warning")]


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


async def test_deeply_nested_json_is_a_400_on_every_json_body(client: httpx.AsyncClient, tenant: Tenant) -> None:
    site = (await client.post("/v1/sites", headers=tenant.auth(), json=SITE)).json()
    json_headers = {"Content-Type": "application/json"}
    bodies = {
        # public, no key: 2,000 levels fit in the banner's 4 KiB body limit
        f"/v1/banner/{site['site_key']}/consents": (deep(2000), {**json_headers, "Origin": "https://www.example.se"}),
        "/v1/events": (
            b'{"subject": {"email": "d@example.se"}, "proof": {"note": ' + deep(5000) + b"}}",
            {**json_headers, **tenant.auth()},
        ),
        "/v1/decisions/batch": (
            b'{"purpose": "newsletter", "channel": "email", "recipients": ' + deep(5000) + b"}",
            {**json_headers, **tenant.auth()},
        ),
        "/v1/sites": (b'{"name": ' + deep(100_000) + b"}", {**json_headers, **tenant.auth()}),
    }
    with capture_logs() as logs:
        for path, (body, headers) in bodies.items():
            response = await client.post(path, content=body, headers=headers)
            assert response.status_code == 400, (path, response.status_code, response.text[:300])
            assert response.headers["content-type"].startswith("application/problem+json")
            assert len(response.content) < 1000
    assert not [entry for entry in logs if entry["log_level"] in ("error", "warning")], logs
    # Nesting that a real body has passes the bound.
    shallow = {"subject": {"email": "shallow@example.se"}, "type": "lead_activity", "proof": {"note": "[[{}]]"}}
    assert (await client.post("/v1/events", json=shallow, headers=tenant.auth())).status_code == 201


async def test_a_nul_character_is_a_400_and_the_log_names_no_value(client: httpx.AsyncClient, tenant: Tenant) -> None:
    with capture_logs() as logs:
        text_column = await client.post(
            "/v1/suppressions",
            json={"email": "nul@example.se", "reason": "complaint", "note": "a\u0000secret-note"},
            headers=tenant.auth(),
        )
        json_column = await client.post(
            "/v1/events",
            headers=tenant.auth(),
            json={
                "subject": {"email": "nul@example.se"},
                "type": "lead_activity",
                "proof": {"note": "b\u0000secret-proof"},
            },
        )
    for response in (text_column, json_column):
        assert response.status_code == 400, response.text
        assert "secret" not in response.text
    rendered = repr(logs)
    assert "secret" not in rendered
    assert "nul@example.se" not in rendered
    assert [e["sqlstate"] for e in logs if e["event"] == "database refused a value"] == ["22021", "22P05"]


async def test_a_unique_violation_from_a_concurrent_write_is_a_409_without_row_data(
    ctx: Context, client: httpx.AsyncClient, tenant: Tenant, database: str
) -> None:
    """Rectification checks that the new address is free, then inserts it. Another
    transaction that writes the same address in between makes the insert fail on the
    unique key: that is a 409 to retry, not a 500, and the log has no row data."""
    created = await client.post(
        "/v1/events", json={"subject": {"email": "first@example.se"}, "type": "lead_activity"}, headers=tenant.auth()
    )
    other = await client.post(
        "/v1/events", json={"subject": {"external_id": "crm-7"}, "type": "lead_activity"}, headers=tenant.auth()
    )
    subject_id, other_id = created.json()["subject_id"], other.json()["subject_id"]
    wanted = normalize("email", "race@example.se")
    racer = await asyncpg.connect(database)
    try:
        writing = racer.transaction()
        await writing.start()
        await racer.execute(
            "INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value) "
            "VALUES ($1, $2, $3, 'email', $4)",
            tenant.id,
            ctx.hasher.key(wanted),
            UUID(other_id),
            wanted.value,
        )
        with capture_logs() as logs:
            patch = asyncio.ensure_future(
                client.patch(f"/v1/subjects/{subject_id}", json={"email": "race@example.se"}, headers=tenant.auth())
            )
            await wait_for_lock_wait(racer, patch)
            await writing.commit()
            response = await patch
    finally:
        await racer.close()
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "race@example.se" not in response.text
    [entry] = [e for e in logs if e["event"] == "database refused a write"]
    assert (entry["constraint"], entry["exc_type"]) == ("subject_identifiers_pkey", "UniqueViolationError")
    assert "race@example.se" not in repr(logs)
    assert "Key (" not in repr(logs)
    # Nothing half-written: the subject still has its first address.
    assert await subject_id_of(client, tenant, email="first@example.se") is not None


async def wait_for_lock_wait(conn: asyncpg.Connection, task: asyncio.Future[Any]) -> None:
    """Until another session of this database waits on a lock (the PATCH, blocked by our insert): 10 s at most."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting or task.done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the PATCH never waited on the lock")


# --- finding 10 (part): no capability token in error logs -----------------------------------------


@pytest.fixture
async def broken_ctx(ctx: Context, database: str) -> AsyncIterator[Context]:
    """The same service on a connection whose queries all fail (no schema on the search path)."""
    broken = await asyncpg.create_pool(database, min_size=1, max_size=2, server_settings={"search_path": "nowhere"})
    assert broken is not None
    try:
        yield dataclasses.replace(ctx, pool=broken)
    finally:
        await broken.close()


async def test_500_and_503_logs_name_the_route_never_the_token(
    ctx: Context, broken_ctx: Context, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()))
    link = (await client.post("/v1/unsubscribe-links", json={"email": "tok@example.se"}, headers=tenant.auth())).json()
    path = link["url"].removeprefix("http://testserver")
    token = path.removeprefix("/u/")
    async with client_for(create_app(broken_ctx), "127.0.0.1") as broken:
        with capture_logs() as logs:
            failed = await broken.get(path)
    assert failed.status_code == 500
    async with client_for(create_app(dataclasses.replace(ctx, pool=await unreachable_pool())), "127.0.0.1") as down:
        with capture_logs() as more:
            unavailable = await down.get(path)
    assert unavailable.status_code == 503
    errors = [e for e in logs + more if e["log_level"] in ("error", "warning")]
    assert {e["event"] for e in errors} == {"unhandled error", "database unavailable"}
    for entry in errors:
        assert entry["route"] == "/u/{token}"
        assert token not in repr(entry)
        assert "path" not in entry
    # The 500's log line says where it failed, without the exception's message (which can carry row data).
    [internal] = [e for e in errors if e["event"] == "unhandled error"]
    assert internal["exc_type"] == "UndefinedTableError"
    assert "exc_info" not in internal
    assert "relation" not in repr(internal)


@pytest.mark.parametrize("cached_key", [False, True])
async def test_the_fast_path_hands_database_failures_to_the_route(
    ctx: Context, broken_ctx: Context, tenant: Tenant, cached_key: bool
) -> None:
    """A database failure on the fast path (the key look-up, or the decision's query) is
    answered by the route as problem+json and logged there without row data; it never
    escapes to the server as a bare 500 with a traceback."""
    for failing, status in ((dataclasses.replace(ctx, pool=await unreachable_pool()), 503), (broken_ctx, 500)):
        if cached_key:  # the key is cached, so what fails is the decision's query, not the key's look-up
            authenticator = Authenticator(cached(ctx, 300))
            assert await authenticator.authenticate(tenant.keys["check"], "127.0.0.1") is not None
        else:
            authenticator = Authenticator(cached(failing, 300))
        app = create_app(cached(failing, 300), authenticator=authenticator)
        async with client_for(app, "127.0.0.1") as http:
            with capture_logs() as logs:
                response = await ROUTES["fast path"](http, tenant.keys["check"])
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        [entry] = [e for e in logs if e["log_level"] in ("error", "warning")]
        assert entry["route"] == "/v1/decisions"


async def unreachable_pool() -> asyncpg.Pool:
    """A pool whose server is gone: every acquire fails as a connection error."""
    pool = await asyncpg.create_pool("postgresql://nobody@127.0.0.1:9/none", min_size=0, max_size=1, timeout=1)
    assert pool is not None
    return pool


# --- finding 8: headers -------------------------------------------------------------------------


async def test_every_response_says_nosniff(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ok(await client.put("/v1/purposes/newsletter", json=NEWSLETTER, headers=tenant.auth()))
    link = (await client.post("/v1/unsubscribe-links", json={"email": "ns@example.se"}, headers=tenant.auth())).json()
    responses = [
        await client.get("/healthz"),
        await client.get("/v1/purposes", headers=tenant.auth()),
        await client.get("/v1/decisions", params=DECISION, headers=tenant.auth("check")),  # the fast path
        await client.get("/v1/purposes"),  # 401
        await client.get("/nowhere"),  # 404 from the router
        await client.get(link["url"].removeprefix("http://testserver")),  # a /u/ page
        await client.get("/banner.js"),
    ]
    for response in responses:
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], (response.url, response.status_code)


async def test_metrics_are_not_on_the_public_app(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404
