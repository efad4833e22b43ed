"""``consent-svc tenants create | list | brand``."""

from __future__ import annotations

import argparse

import msgspec

from consent_svc.cli.common import Subparsers, database_command, say
from consent_svc.service import tenants
from consent_svc.service.context import Context
from consent_svc.service.inputs import BrandingPatch


@database_command
async def create(ctx: Context, args: argparse.Namespace) -> int:
    row = await tenants.create_tenant(ctx, args.name)
    print(row.id)
    say(f"created tenant {row.name}")
    return 0


@database_command
async def list_(ctx: Context, _args: argparse.Namespace) -> int:
    for row in await tenants.list_tenants(ctx):
        print(f"{row.id}  {row.name}  {row.created_at:%Y-%m-%d}")
    return 0


@database_command
async def brand(ctx: Context, args: argparse.Namespace) -> int:
    tenant_id = await tenants.tenant_id_by_name(ctx, args.name)
    given: dict[str, str | None] = {
        "display_name": args.display_name, "logo_url": args.logo_url, "primary_color": args.color,
        "privacy_policy_url": args.privacy_url, "unsubscribe_mailto": args.unsubscribe_mailto,
    }  # fmt: skip
    changes = {k: v for k, v in given.items() if v is not None} | dict.fromkeys(args.clear, None)
    if not changes:
        say("nothing to change: give a field to set (see --help) or --clear FIELD")
        return 2
    row = await tenants.patch_branding(ctx, tenant_id, msgspec.convert(changes, BrandingPatch))
    say(f"branding of {row.name}: {msgspec.json.encode(msgspec.structs.asdict(row)).decode()}")
    return 0


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("tenants", help="manage tenants")
    tsub = parser.add_subparsers(dest="tenants_cmd", required=True)
    tcreate = tsub.add_parser("create", help="create a tenant")
    tcreate.add_argument("name")
    tcreate.set_defaults(run=create)
    tsub.add_parser("list", help="list tenants").set_defaults(run=list_)
    tbrand = tsub.add_parser(
        "brand", help="change how the tenant appears on the preference page (fields not given stay)"
    )
    tbrand.add_argument("name")
    tbrand.add_argument("--display-name")
    tbrand.add_argument("--logo-url")
    tbrand.add_argument("--color", help="primary colour, #rrggbb")
    tbrand.add_argument("--privacy-url", help="link to the privacy policy")
    tbrand.add_argument("--unsubscribe-mailto", help="mailbox for the mailto: half of List-Unsubscribe")
    tbrand.add_argument(
        "--clear", action="append", default=[], metavar="FIELD", choices=sorted(BrandingPatch.__struct_fields__),
        help="clear a field (repeatable): " + ", ".join(sorted(BrandingPatch.__struct_fields__)),
    )  # fmt: skip
    tbrand.set_defaults(run=brand)
