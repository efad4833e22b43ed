"""What every command shares: messages for people, and running a body with the database.

Output meant for scripts goes to stdout (``KEY=$(consent-svc keys create ...)``
works); logs and messages for people go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from consent_svc.config import Settings
from consent_svc.service.context import Context

Command = Callable[[Settings, argparse.Namespace], int]
Subparsers = Any  # argparse's _SubParsersAction (private in typeshed)


def say(message: str) -> None:
    """A message for people, on stderr."""
    print(message, file=sys.stderr)


def with_database(settings: Settings, body: Callable[[Context], Awaitable[int]], *, migrate: bool | None = None) -> int:
    """Start (or attach to) the database ``serve`` would use with this environment, run ``body``, leave."""
    from consent_svc.runtime import run_with_database  # the database stack only for commands that use it
    from consent_svc.store.db import where

    if settings.database_url:
        say(f"database: {where(settings.database_url)} (CONSENT_DATABASE_URL)")
    else:
        say(f"database: the embedded PostgreSQL in {settings.data_dir} (CONSENT_DATA_DIR)")
    return run_with_database(settings, body, migrate=migrate)


def database_command(body: Callable[[Context, argparse.Namespace], Awaitable[int]]) -> Command:
    """A command whose whole work is ``body(ctx, args)`` with the database."""

    def run(settings: Settings, args: argparse.Namespace) -> int:
        return with_database(settings, lambda ctx: body(ctx, args))

    run.__doc__ = body.__doc__
    return run


def add_tenant(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, help="the tenant's name")


def add_identifier(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--email")
    group.add_argument("--phone")
    group.add_argument("--external-id", dest="external_id")
    group.add_argument("--personal-number", dest="personal_number", help="a Swedish personnummer (never printed)")
