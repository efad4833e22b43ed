"""``consent-svc migrate`` and ``consent-svc openapi``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from consent_svc.cli.common import Subparsers, say, with_database
from consent_svc.config import Settings
from consent_svc.service.context import Context

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from consent_svc.store import migrations

    async def body(ctx: Context) -> int:
        async with ctx.pool.acquire() as conn:
            done = await migrations.applied(conn)
        for name, at in done:
            say(f"applied  {name}  {at:%Y-%m-%d %H:%M:%S}")
        say(f"database is current ({len(migrations.load())} migrations)")
        return 0

    return with_database(settings, body, migrate=True)


def render_openapi() -> str:
    from consent_svc.http.app import create_litestar

    schema = create_litestar(None).openapi_schema.to_schema()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi(_settings: Settings | None, args: argparse.Namespace) -> int:
    """Needs no database and no settings."""
    rendered = render_openapi()
    target = Path(args.output) if args.output else OPENAPI_PATH
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != rendered:
            say(f"{target} is out of date: run `consent-svc openapi` and commit it")
            return 1
        say(f"{target} is current")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered, encoding="utf-8")
    say(f"wrote {target}")
    return 0


def register(sub: Subparsers) -> None:
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=migrate)
    parser = sub.add_parser("openapi", help="write the OpenAPI document to openapi/openapi.json")
    parser.add_argument("--check", action="store_true", help="fail if the committed document is out of date")
    parser.add_argument("--output", help="write here instead")
    parser.set_defaults(run=openapi, needs_settings=False)
