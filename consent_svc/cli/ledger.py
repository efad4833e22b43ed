"""``consent-svc ledger verify | head | seal``: the ledger's hash chain."""

from __future__ import annotations

import argparse

import msgspec

from consent_svc.cli.common import Subparsers, add_tenant, database_command, say
from consent_svc.service import ledger, tenants
from consent_svc.service.context import Context


@database_command
async def seal(ctx: Context, args: argparse.Namespace) -> int:
    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    sealed = await ledger.seal_now(ctx, tenant_id)
    say(f"sealed {sealed} event(s)")
    return 0


@database_command
async def head(ctx: Context, args: argparse.Namespace) -> int:
    from consent_svc.http.ledger import LedgerHeadOut

    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    print(msgspec.json.encode(LedgerHeadOut.from_domain(await ledger.head(ctx, tenant_id))).decode())
    return 0


@database_command
async def verify(ctx: Context, args: argparse.Namespace) -> int:
    """Exit 3 when the chain is broken."""
    from consent_svc.http.ledger import LedgerVerificationOut

    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    result = await ledger.verify(ctx, tenant_id)
    print(msgspec.json.encode(LedgerVerificationOut.from_domain(result)).decode())
    say("the ledger verifies" if result.ok else f"the ledger is broken at position {result.first_break}")
    return 0 if result.ok else 3


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("ledger", help="the ledger's hash chain")
    lsub = parser.add_subparsers(dest="ledger_cmd", required=True)
    for name, text, run in (
        ("verify", "walk the chain and report the first break (exit 3 when broken)", verify),
        ("head", "print the head hash and position", head),
        ("seal", "seal pending events now", seal),
    ):
        cmd = lsub.add_parser(name, help=text)
        add_tenant(cmd)
        cmd.set_defaults(run=run)
