"""The floor: the least a Python service can do for consent-svc's four hot paths.

A bare ASGI application (no framework, no validation, no authentication, no rules,
no log line) on uvicorn with httptools and an asyncpg pool of 10, over tables of
the same shape as consent-svc's (``floor`` schema, made by bench/floor.py):

* ``GET /check?email=``: one query joining identifier, subject and suppression by
  the keyed hash;
* ``POST /record`` ``{"email": ...}``: one transaction inserting subject,
  identifier and event;
* ``POST /batch`` ``{"emails": [...]}``: ``unnest($1::bytea[]) WITH ORDINALITY``
  left-joined to identifier, subject and suppression, 10,000 keys a query;
* ``POST /ingest`` ``{"emails": [...]}``: ``COPY`` of the same rows into the three
  tables, one transaction a request.

Run by bench/floor.py: ``uvicorn bench.floor_app:app --http httptools --loop uvloop``
with ``FLOOR_DSN`` and ``FLOOR_PEPPER`` in the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import msgspec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PEPPER = os.environ.get("FLOOR_PEPPER", "floor-pepper").encode()
CHECK = (
    "SELECT s.id, s.facts, sp.reason FROM floor.identifier i JOIN floor.subject s ON s.id = i.subject_id "
    "LEFT JOIN floor.suppression sp ON sp.hash = i.hash WHERE i.hash = $1"
)
BATCH = (
    "SELECT k.n, s.id, s.facts, sp.reason FROM unnest($1::bytea[]) WITH ORDINALITY AS k(hash, n) "
    "LEFT JOIN floor.identifier i ON i.hash = k.hash LEFT JOIN floor.subject s ON s.id = i.subject_id "
    "LEFT JOIN floor.suppression sp ON sp.hash = k.hash ORDER BY k.n"
)
PROOF = '{"notice_version": "2026-03"}'
FACTS = '{"given": {"newsletter": {}}}'
JSON = [(b"content-type", b"application/json")]


def key(email: str) -> bytes:
    """The 32-byte keyed hash of a normalized address (lower case is all the floor does)."""
    return hmac.new(PEPPER, email.strip().lower().encode(), hashlib.sha256).digest()


class Floor:
    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        pool = self.pool
        assert pool is not None
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/check":
            email = parse_qs(scope["query_string"].decode())["email"][0]
            row = await pool.fetchrow(CHECK, key(email))
            answer: Any = {"allowed": bool(row and row["reason"] is None), "subject": str(row["id"]) if row else None}
            await respond(send, 200, msgspec.json.encode(answer))
            return
        body = msgspec.json.decode(await read_body(receive))
        if method == "POST" and path == "/record":
            sid = uuid.uuid4()
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO floor.subject (id, facts) VALUES ($1, $2::jsonb)", sid, FACTS)
                await conn.execute(
                    "INSERT INTO floor.identifier (hash, subject_id) VALUES ($1, $2)", key(body["email"]), sid
                )
                eid = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO floor.event (id, subject_id, type, purpose, proof, occurred_at) "
                    "VALUES ($1, $2, 'consent_given', 'newsletter', $3::jsonb, now())",
                    eid,
                    sid,
                    PROOF,
                )
            await respond(send, 201, msgspec.json.encode({"id": str(eid)}))
        elif method == "POST" and path == "/batch":
            hashes = [key(e) for e in body["emails"]]
            results: list[dict[str, Any]] = []
            async with pool.acquire() as conn:
                for start in range(0, len(hashes), 10_000):
                    for row in await conn.fetch(BATCH, hashes[start : start + 10_000]):
                        results.append({"allowed": row["id"] is not None and row["reason"] is None})
            await respond(send, 200, msgspec.json.encode({"results": results}))
        elif method == "POST" and path == "/ingest":
            now = datetime.now(UTC)
            subjects, identifiers, events = [], [], []
            for email in body["emails"]:
                sid = uuid.uuid4()
                subjects.append((sid, FACTS))
                identifiers.append((key(email), sid))
                events.append((uuid.uuid4(), sid, "consent_given", "newsletter", PROOF, now))
            async with pool.acquire() as conn, conn.transaction():
                await conn.copy_records_to_table("subject", schema_name="floor", records=subjects)
                await conn.copy_records_to_table("identifier", schema_name="floor", records=identifiers)
                await conn.copy_records_to_table(
                    "event",
                    schema_name="floor",
                    records=events,
                    columns=["id", "subject_id", "type", "purpose", "proof", "occurred_at"],
                )
            await respond(send, 201, msgspec.json.encode({"recorded": len(events)}))
        else:
            await respond(send, 404, b"{}")

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(os.environ["FLOOR_DSN"], min_size=10, max_size=10)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": JSON})
    await send({"type": "http.response.body", "body": body})


app = Floor()
