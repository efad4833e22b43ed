"""``consent-svc keys create | revoke | list``."""

from __future__ import annotations

import argparse
from uuid import UUID

from consent_svc.cli.common import Subparsers, database_command, say
from consent_svc.domain.errors import InvalidInput
from consent_svc.domain.models import KEY_SCOPES
from consent_svc.service import tenants
from consent_svc.service.context import Context


@database_command
async def create(ctx: Context, args: argparse.Namespace) -> int:
    if args.platform:
        key_id, token = await tenants.create_platform_key(ctx, args.label)
        scope = "platform: manages tenants and their keys over the API, reads no tenant's data"
    else:
        if args.scope is None:
            raise InvalidInput.field("scope", "--scope check, record or admin is needed for a tenant's key")
        key_id, token = await tenants.create_key(ctx, args.tenant, args.scope, args.label)
        scope = args.scope
    print(token)
    revoke_with = f"consent-svc keys revoke {key_id}"
    say(f"key id {key_id} (scope {scope}); the key is shown only now. Revoke with: {revoke_with}")
    return 0


@database_command
async def revoke(ctx: Context, args: argparse.Namespace) -> int:
    try:
        key_id = UUID(args.key_id)
    except ValueError:
        raise InvalidInput.field("key_id", f"{args.key_id!r} is not a key id (a UUID)") from None
    row = await tenants.revoke_key(ctx, key_id)
    say(f"revoked key {row.id} of {'the platform' if row.tenant_id is None else 'tenant ' + row.tenant_name}")
    return 0


@database_command
async def list_(ctx: Context, args: argparse.Namespace) -> int:
    rows = await (tenants.list_platform_keys(ctx) if args.platform else tenants.list_keys(ctx, args.tenant))
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        print(f"{row.id}  {row.scope:<6}  {state:<18}  {row.label or ''}")
    return 0


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("keys", help="manage API keys")
    ksub = parser.add_subparsers(dest="keys_cmd", required=True)
    kcreate = ksub.add_parser("create", help="create a key; prints it once on stdout")
    _tenant_or_platform(kcreate)
    kcreate.add_argument("--scope", choices=list(KEY_SCOPES), help="a tenant's key: check, record or admin")
    kcreate.add_argument("--label", help="a note on what the key is for")
    kcreate.set_defaults(run=create)
    krevoke = ksub.add_parser("revoke", help="revoke a key by id")
    krevoke.add_argument("key_id")
    krevoke.set_defaults(run=revoke)
    klist = ksub.add_parser("list", help="list a tenant's keys (or the platform keys)")
    _tenant_or_platform(klist)
    klist.set_defaults(run=list_)


def _tenant_or_platform(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--tenant", help="the tenant's name")
    group.add_argument(
        "--platform", action="store_true", help="a platform key (tenants and keys over the API; no tenant's data)"
    )
