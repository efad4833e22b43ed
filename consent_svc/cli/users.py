"""``consent-svc users create``: console users (docs/console.md)."""

from __future__ import annotations

import argparse
import sys

from consent_svc.cli.common import Subparsers, database_command, say
from consent_svc.domain.console import ROLES
from consent_svc.service import console
from consent_svc.service.context import Context


@database_command
async def create(ctx: Context, args: argparse.Namespace) -> int:
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    created = await console.create_user_in(ctx, args.tenant, args.email, args.role, password)
    if created.setup_url:
        print(created.setup_url)
        say(f"created console user {created.user.id} ({created.user.role}); the set-up link works once, for 72 hours")
    else:
        print(created.user.id)
        say(f"created console user {created.user.id} ({created.user.role}) with the password from stdin")
    return 0


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("users", help="manage console users (docs/console.md)")
    usub = parser.add_subparsers(dest="users_cmd", required=True)
    ucreate = usub.add_parser(
        "create", help="create a console user; prints a one-time set-up link (or reads a password from stdin)"
    )
    ucreate.add_argument("--tenant", required=True)
    ucreate.add_argument("--email", required=True)
    ucreate.add_argument("--role", required=True, choices=ROLES)
    ucreate.add_argument(
        "--password-stdin", action="store_true", help="read the password (12 to 200 characters) from stdin's first line"
    )
    ucreate.set_defaults(run=create)
