"""Command line: ``consent-svc serve | worker | migrate | openapi | tenants | keys | sites | subjects |
unsubscribe | ledger | sweep | refold | integrations``.

One module per command group, each with a ``register(subparsers)`` that adds its
parsers beside the functions that run them (``set_defaults(run=...)``). A
command is ``run(settings, args) -> exit code``; most are
``common.database_command`` bodies. Output meant for scripts goes to stdout,
messages for people to stderr.
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from consent_svc.cli import database, integrations, keys, ledger, retention, serve, sites, subjects, tenants
from consent_svc.cli.common import say
from consent_svc.config import ConfigError, load_settings
from consent_svc.domain.errors import DomainError
from consent_svc.log import configure

GROUPS = (serve, database, tenants, keys, sites, subjects, ledger, retention, integrations)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consent-svc",
        description="Consent and marketing-preference service: may we contact X for purpose Y over channel Z?",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "needs_settings", True):
        return int(args.run(None, args))
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
        return 1
    except Exception as exc:
        from consent_svc.store.migrations import MigrationError

        if isinstance(exc, MigrationError):
            say(f"migration error: {exc}")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
