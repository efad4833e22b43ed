"""``consent-svc sweep`` (retention) and ``consent-svc refold`` (rebuild folded facts)."""

from __future__ import annotations

import argparse

import msgspec

from consent_svc.cli.common import Subparsers, database_command, say
from consent_svc.service import repair, retention, tenants
from consent_svc.service.context import Context


def _progress(report: retention.SweepReport) -> None:
    verb = "would remove" if report.dry_run else "removed"
    say(f"  {report.tenant}: scanned {report.scanned:,}, {verb} {report.swept:,} ...")


@database_command
async def sweep(ctx: Context, args: argparse.Namespace) -> int:
    """Run the retention sweep now (all tenants, or one), or only say what it would remove."""
    names = [args.tenant] if args.tenant else [t.name for t in await tenants.list_tenants(ctx)]
    for name in names:
        tenant_id = await tenants.tenant_id_by_name(ctx, name)
        report = await retention.sweep_tenant(ctx, tenant_id, name, dry_run=args.dry_run, progress=_progress)
        say(f"{name}: scanned {report.scanned:,} people, {'would remove' if args.dry_run else 'removed'} "
            f"{report.swept:,}")  # fmt: skip
        for key, count in sorted(report.counts.items()):
            say(f"  {key}: {count:,}")
        print(msgspec.json.encode({
            "tenant": name, "dry_run": report.dry_run, "as_of": report.as_of, "scanned": report.scanned,
            "swept": report.swept, "counts": report.counts, "subjects": report.subjects,
        }).decode())  # fmt: skip
    return 0


@database_command
async def refold(ctx: Context, _args: argparse.Namespace) -> int:
    """Rebuild every subject's facts from the ledger (once, after upgrading to rules v2)."""

    def progress(report: repair.RefoldReport) -> None:
        say(f"  {report.tenant}: {report.subjects:,} people, {report.events:,} events ...")

    for report in await repair.refold_all(ctx, progress):
        say(f"{report.tenant}: refolded {report.subjects:,} people from {report.events:,} events")
    return 0


def register(sub: Subparsers) -> None:
    parser = sub.add_parser(
        "sweep", help="retention sweep: remove people whose every purpose lapsed past its retention"
    )
    parser.add_argument("--dry-run", action="store_true", help="only say what would be removed, with counts")
    parser.add_argument("--tenant", help="one tenant (default: all)")
    parser.set_defaults(run=sweep)
    sub.add_parser(
        "refold", help="rebuild every subject's facts from the ledger (after upgrading the rules)"
    ).set_defaults(run=refold)
