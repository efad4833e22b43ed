"""Search every column of a tenant's rows for traces of a person (for the erasure tests)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID


async def traces(
    conn: Any,
    tenant_id: UUID,
    texts: Iterable[str],
    digests: Iterable[bytes],
    allowed: Iterable[tuple[str, str]] = (),
) -> list[str]:
    """``table.column`` of every column of this tenant's rows that holds one of ``texts``
    (as a substring of its text form) or one of ``digests`` (bytea, or hex in text),
    except the columns in ``allowed``."""
    texts = list(texts)
    digests = list(digests)
    needles = [f"%{t}%" for t in [*texts, *(d.hex() for d in digests)]]
    skip = set(allowed)
    found: list[str] = []
    columns = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type IN ('text', 'jsonb', 'ARRAY', 'bytea', 'character varying')"
    )
    tenant_tables = {
        r["table_name"]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
        )
    }
    for c in columns:
        table, column = c["table_name"], c["column_name"]
        if (table, column) in skip:
            continue
        # Other tests share the database (with the same addresses): look at this tenant's rows.
        scope = f" AND tenant_id = '{tenant_id}'" if table in tenant_tables else ""
        if c["data_type"] == "bytea":
            hits = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE "{column}" = ANY($1::bytea[]){scope}', digests
            )
        else:
            hits = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE ANY($1::text[]){scope}', needles
            )
        if hits:
            found.append(f"{table}.{column}")
    return found
