"""``consent-svc sites create | replace | list``: the configuration is the JSON body of POST /v1/sites."""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec

from consent_svc.cli.common import Subparsers, add_tenant, database_command, say
from consent_svc.service import banner, tenants
from consent_svc.service.context import Context
from consent_svc.service.inputs import SiteIn


@database_command
async def list_(ctx: Context, args: argparse.Namespace) -> int:
    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    after: str | None = None
    while True:
        page = await banner.list_sites(ctx, tenant_id, after, 1000)
        for site in page.items:
            print(f"{site.site_key}  v{site.banner_version}  {site.name}  {' '.join(site.origins)}")
        if page.after is None:
            return 0
        after = page.after


@database_command
async def save(ctx: Context, args: argparse.Namespace) -> int:
    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    # A small file read once by a CLI command: blocking here is harmless.
    config = msgspec.json.decode(Path(args.file).read_bytes(), type=SiteIn)  # noqa: ASYNC240
    if args.sites_cmd == "create":
        site = await banner.create_site(ctx, tenant_id, config)
    else:
        site = await banner.replace_site(ctx, tenant_id, args.site_key, config)
    print(site.site_key)
    say(f"site {site.name}: banner_version {site.banner_version}")
    return 0


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("sites", help="banner sites")
    ssub = parser.add_subparsers(dest="sites_cmd", required=True)
    screate = ssub.add_parser("create", help="register a site from a JSON file (the body of POST /v1/sites)")
    add_tenant(screate)
    screate.add_argument("--file", required=True)
    screate.set_defaults(run=save)
    sreplace = ssub.add_parser("replace", help="replace a site's configuration (bumps banner_version on text changes)")
    sreplace.add_argument("site_key")
    add_tenant(sreplace)
    sreplace.add_argument("--file", required=True)
    sreplace.set_defaults(run=save)
    slist = ssub.add_parser("list", help="list a tenant's sites")
    add_tenant(slist)
    slist.set_defaults(run=list_)
