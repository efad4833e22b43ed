"""Test fixtures: a real PostgreSQL, the schema built by the production migration runner.

``CONSENT_TEST_DATABASE_URL`` points the suite at a server you run (CI can use
the local one); without it the suite starts the embedded PostgreSQL, exactly
as ``consent-svc serve`` would. Either way each run gets a fresh database,
and each test its own tenant, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from consent_svc.config import Secret, Settings
from consent_svc.domain.identifiers import Hasher
from consent_svc.http.app import create_app
from consent_svc.runtime import prepare_database
from consent_svc.service import tenants
from consent_svc.service.context import Context
from consent_svc.store import db
from consent_svc.store.embedded import EmbeddedPostgres

TEST_PEPPER = b"test-pepper-0123456789abcdef0123456789abcdef"
TEST_TOKEN_KEY = b"test-token-key-0123456789abcdef0123456789abcdef"


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """A DSN of a PostgreSQL server we may create databases on."""
    url = os.environ.get("CONSENT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="consent-test-pg-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp))
        dsn = embedded.start()
        try:
            yield dsn
        finally:
            embedded.release()


async def create_database(server: str) -> str:
    name = "consent_test_" + secrets.token_hex(6)
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server, name)


async def drop_database(server: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database(server_dsn: str) -> AsyncIterator[str]:
    """A fresh database with every migration applied, for this test run."""
    dsn = await create_database(server_dsn)
    await prepare_database(dsn, Hasher(TEST_PEPPER), migrate=True)
    yield dsn
    await drop_database(server_dsn, dsn)


def test_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pepper": Secret(TEST_PEPPER),
        "token_keys": (Secret(TEST_TOKEN_KEY),),
        "public_url": "http://testserver",
        "auth_cache_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
async def ctx(database: str) -> AsyncIterator[Context]:
    pool = await db.create_pool(database, min_size=2, max_size=10)
    try:
        yield Context(settings=test_settings(), pool=pool, hasher=Hasher(TEST_PEPPER))
    finally:
        await pool.close()


@dataclass
class Tenant:
    id: Any
    name: str
    keys: dict[str, str]

    def auth(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


async def make_tenant(ctx: Context) -> Tenant:
    name = "t-" + secrets.token_hex(5)
    row = await tenants.create_tenant(ctx, name)
    keys = {}
    for scope in ("check", "record", "admin"):
        _, token = await tenants.create_key(ctx, name, scope)
        keys[scope] = token
    return Tenant(row.id, name, keys)


@pytest.fixture
async def tenant(ctx: Context) -> Tenant:
    return await make_tenant(ctx)


def still() -> float:
    """A clock for the edge's rate limits that does not move: a test counts requests, not seconds."""
    return 0.0


@pytest.fixture
async def still_client(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose rate limits never refill while the test runs (exact counts)."""
    transport = httpx.ASGITransport(app=create_app(ctx, clock=still))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def client(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


NEWSLETTER = {
    "legal_basis": "consent",
    "direct_marketing": True,
    "channels": ["email", "sms"],
    "notice_version": "2026-03",
    "title": {"sv": "Nyhetsbrev", "en": "Newsletter"},
    "description": {
        "sv": "Nyheter om våra tjänster, ungefär en gång i månaden.",
        "en": "News about our services, about once a month.",
    },
}


async def put_purpose(
    client: httpx.AsyncClient,
    tenant: Tenant,
    key: str = "newsletter",
    body: dict[str, Any] | None = None,
    **overrides: object,
) -> dict[str, Any]:
    """Create or replace a purpose (the newsletter unless ``body`` says otherwise); it must succeed."""
    response = await client.put(
        f"/v1/purposes/{key}", json={**(body or NEWSLETTER), **overrides}, headers=tenant.auth()
    )
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def subject_id_of(client: httpx.AsyncClient, tenant: Tenant, **identifier: str) -> str | None:
    """The id of the person with this identifier (GET /v1/subjects?email=...), None when nobody has it."""
    found = await client.get("/v1/subjects", params=identifier, headers=tenant.auth())
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert len(items) <= 1
    return str(items[0]["id"]) if items else None


def ok(response: httpx.Response) -> httpx.Response:
    """A write a test relies on: it must have succeeded (or the test would pass for the wrong reason)."""
    assert 200 <= response.status_code < 300, f"{response.request.method} {response.request.url.path}: {response.text}"
    return response
