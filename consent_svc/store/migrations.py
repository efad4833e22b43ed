"""Migrations: numbered plain SQL files in ``sql/``, applied in order, forward only.

Each applied file's SHA-256 is recorded; a start against a database where an
applied file has since changed is refused. The whole run holds an advisory
lock, so replicas starting at once apply each file exactly once.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# An arbitrary constant: "consent-svc migrations".
MIGRATION_LOCK_ID = 0x636F6E73656E74


class MigrationError(RuntimeError):
    """The database and the migration files disagree."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


def sql_dir() -> Path:
    """Where the migrations are: ``CONSENT_SQL_DIR``, else the copy an installed
    wheel carries (``consent_svc/_sql``, mapped from ``sql/`` by pyproject.toml),
    else the repository's ``sql/`` (a checkout or an editable install)."""
    override = os.environ.get("CONSENT_SQL_DIR")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parents[1]
    bundled = package / "_sql"
    if bundled.is_dir():
        return bundled
    return package.parent / "sql"


def load(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_slug.sql")
        text = path.read_text(encoding="utf-8")
        found.append(
            Migration(
                version=int(match.group(1)),
                name=path.name,
                sql=text,
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration numbers must run 1, 2, 3 ... without gaps; found {versions}")
    if not found:
        raise MigrationError(f"no migration files in {directory}")
    return found


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


async def _applied(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    return {row["version"]: (row["name"], row["checksum"]) for row in rows}


def _verify(applied: dict[int, tuple[str, str]], files: list[Migration]) -> list[Migration]:
    """Return the pending migrations; raise when an applied one changed or vanished."""
    by_version = {m.version: m for m in files}
    for version, (name, checksum) in applied.items():
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version} ({name}) that this code does not know: "
                "is this an older version of consent-svc?"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {migration.name} changed after it was applied "
                f"(applied {checksum[:12]}, file {migration.checksum[:12]}); "
                "migrations are forward only: add a new file instead"
            )
    return [m for m in files if m.version not in applied]


async def migrate(conn: asyncpg.Connection, files: list[Migration] | None = None) -> list[str]:
    """Apply pending migrations under the advisory lock; return the names applied."""
    files = files if files is not None else load()
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        # Only when missing: a role that may not create tables (the service's runtime role in
        # docs/examples/roles.sql) then still passes here on a database that is up to date.
        if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            await _as_owner(conn.execute(_CREATE_TABLE))
        pending = _verify(await _applied(conn), files)
        done: list[str] = []
        for migration in pending:
            async with conn.transaction():
                await _as_owner(conn.execute(migration.sql), migration.name)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            # A migration's SET lock_timeout must not outlive it on this connection.
            await conn.execute("RESET lock_timeout")
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)


async def _as_owner(statement: Awaitable[object], name: str = "schema_migrations") -> None:
    """Run a schema change; a role without the right to make it gets a MigrationError that says what to do."""
    try:
        await statement
    except asyncpg.InsufficientPrivilegeError as exc:
        raise MigrationError(
            f"{name}: this database role may not change the schema ({exc}); run `consent-svc migrate` with the "
            "url of the role that owns it, and start the service with CONSENT_MIGRATE_ON_START=0 "
            "(docs/examples/roles.sql)"
        ) from exc


async def status(conn: asyncpg.Connection, files: list[Migration] | None = None) -> list[Migration]:
    """The pending migrations (empty when current); raises when applied files changed."""
    files = files if files is not None else load()
    return _verify(await _applied(conn), files)


async def applied(conn: asyncpg.Connection) -> list[tuple[str, datetime]]:
    """The applied migrations, oldest first: (file name, when)."""
    rows = await conn.fetch("SELECT name, applied_at FROM schema_migrations ORDER BY version")
    return [(r["name"], r["applied_at"]) for r in rows]
