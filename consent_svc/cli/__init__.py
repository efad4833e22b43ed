"""Command line: ``consent-svc serve | worker | migrate | openapi | tenants | keys | sites | subjects |
unsubscribe | ledger | sweep | refold | integrations | users``.

One module per command group, each with a ``register(subparsers)`` that adds its
parsers beside the functions that run them (``set_defaults(run=...)``). A
command is ``run(settings, args) -> exit code``; most are
``common.database_command`` bodies. Output meant for scripts goes to stdout,
messages for people to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

import msgspec

from consent_svc.cli import (
    database,
    integrations,
    keys,
    ledger,
    registers,
    retention,
    serve,
    sites,
    subjects,
    tenants,
    users,
)
from consent_svc.cli.common import say
from consent_svc.config import ConfigError, default_data_dir, load_settings
from consent_svc.domain.errors import DomainError, InvalidInput
from consent_svc.log import configure

GROUPS = (serve, database, tenants, keys, users, sites, subjects, ledger, retention, integrations, registers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consent-svc",
        description="Consent and marketing-preference service: may we contact X for purpose Y over channel Z?",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    for leaf in _leaves(parser):
        if leaf.get_default("needs_settings") is not False and not leaf.get_default("creates_database"):
            leaf.add_argument(
                "--init",
                action="store_true",
                help="with the embedded database: create a new one in CONSENT_DATA_DIR if there is none there "
                "(without it the command refuses, so that it never works on a database your server does not use)",
            )
    return parser


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers that run a command (argparse keeps subparsers in a private action type)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += _leaves(child)
    return found or [parser]


def _refuse_new_embedded_database(args: argparse.Namespace) -> str | None:
    """Why this command must not run here, when it would create an embedded database nobody asked for."""
    if os.environ.get("CONSENT_DATABASE_URL", "").strip() or getattr(args, "creates_database", False):
        return None
    data_dir = default_data_dir(os.environ)
    if getattr(args, "init", False) or (data_dir / "pg" / "PG_VERSION").exists():
        return None
    return (
        f"no consent-svc database in {data_dir} (CONSENT_DATA_DIR, default ./data). This command would start "
        "a new, empty one that the server you run elsewhere does not see. Run it in the folder where "
        "`consent-svc serve` runs, or set CONSENT_DATA_DIR to its data folder (or CONSENT_DATABASE_URL); "
        "pass --init to create a new database here."
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "needs_settings", True):
        return int(args.run(None, args))
    refusal = _refuse_new_embedded_database(args)
    if refusal is not None:
        say(f"error: {refusal}")
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        say(f"configuration error: {exc}")
        return 2
    configure(settings.log_format, settings.log_level)
    try:
        return int(args.run(settings, args))
    except (DomainError, ConfigError, msgspec.ValidationError) as exc:
        say(f"error: {exc}")
        for error in exc.errors if isinstance(exc, InvalidInput) else ():
            say(f"  {error.field}: {error.message}")
        return 1
    except Exception as exc:
        from consent_svc.store.db import DatabaseUnreachable
        from consent_svc.store.migrations import MigrationError

        if isinstance(exc, MigrationError):
            say(f"migration error: {exc}")
            return 1
        if isinstance(exc, DatabaseUnreachable):
            say(f"error: {exc} (CONSENT_DATABASE_URL)")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
