"""``consent-svc subjects export | erase`` and ``consent-svc unsubscribe``: staff commands for requests."""

from __future__ import annotations

import argparse
import asyncio
import sys
from uuid import UUID

import msgspec

from consent_svc.cli.common import Subparsers, add_identifier, add_tenant, database_command, say
from consent_svc.service import subjects, tenants, unsubscribe
from consent_svc.service.context import Context


async def _subject(ctx: Context, args: argparse.Namespace) -> tuple[UUID, UUID]:
    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    ident = subjects.lookup_identifier(
        args.email, args.phone, args.external_id, ctx.settings.default_phone_region, args.personal_number
    )
    return tenant_id, await subjects.find(ctx, tenant_id, ident)


@database_command
async def export(ctx: Context, args: argparse.Namespace) -> int:
    """Everything held about a person, the same document as GET /v1/subjects/{id}/export."""
    from consent_svc.http.subjects import SubjectExportOut

    tenant_id, subject_id = await _subject(ctx, args)
    document = SubjectExportOut.from_domain(await subjects.export(ctx, tenant_id, subject_id))
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n")
    return 0


@database_command
async def erase(ctx: Context, args: argparse.Namespace) -> int:
    """Erase a person: with --dry-run only say what would go; otherwise ask first, unless --yes."""
    from consent_svc.http.subjects import ErasureOut

    tenant_id, subject_id = await _subject(ctx, args)
    if args.dry_run or not args.yes:
        plan = await subjects.erase(ctx, tenant_id, subject_id, args.reason, dry_run=True)
        if args.dry_run:
            print(msgspec.json.encode(ErasureOut.from_domain(plan, dry_run=True)).decode())
            return 0
        say(
            f"erasing subject {subject_id} removes {_counted(plan.identifiers_removed)}, the content of "
            f"{plan.events_erased} events, {plan.receipts_removed} banner receipts and {plan.messages_removed} "
            f"webhook messages; {plan.suppressions_kept} keyed-hash suppression entries stay. It cannot be undone."
        )
        if not sys.stdin.isatty():
            say("not erased: add --yes to erase without being asked (--dry-run shows this without asking)")
            return 2
        if (await asyncio.to_thread(input, "Type 'yes' to erase: ")).strip().lower() != "yes":
            say("not erased")
            return 1
    erasure = await subjects.erase(ctx, tenant_id, subject_id, args.reason)
    print(msgspec.json.encode(ErasureOut.from_domain(erasure)).decode())
    say(f"erased subject {subject_id}; erasure receipt {erasure.id}")
    return 0


def _counted(identifiers: dict[str, int]) -> str:
    parts = [f"{n} {kind}" for kind, n in sorted(identifiers.items())]
    return ", ".join(parts) + " identifier(s)" if parts else "no identifiers"


@database_command
async def unsubscribe_address(ctx: Context, args: argparse.Namespace) -> int:
    """Record an unsubscribe received for an address, e.g. mail to the List-Unsubscribe mailbox."""
    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    changed = await unsubscribe.unsubscribe_address(ctx, tenant_id, args.email, args.purpose, args.note)
    say("unsubscribed" if changed else "already unsubscribed: nothing written")
    return 0


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("subjects", help="data subject requests: export (access) and erase")
    subsub = parser.add_subparsers(dest="subjects_cmd", required=True)
    for name, text, run in (("export", "print everything held about a person as JSON", export),
                            ("erase", "erase a person", erase)):  # fmt: skip
        cmd = subsub.add_parser(name, help=text)
        add_tenant(cmd)
        add_identifier(cmd)
        if name == "erase":
            cmd.add_argument("--reason", help="e.g. the ticket of the request (kept on the erasure receipt)")
            cmd.add_argument("--dry-run", action="store_true", help="print what would be erased; change nothing")
            cmd.add_argument("--yes", action="store_true", help="do not ask for confirmation (scripts)")
        cmd.set_defaults(run=run)

    unsub = sub.add_parser("unsubscribe", help="record an unsubscribe received for an address")
    add_tenant(unsub)
    unsub.add_argument("--email", required=True)
    unsub.add_argument("--purpose", help="one purpose (default: all direct marketing)")
    unsub.add_argument("--note", default="mailto", help="what the unsubscribe came from (kept as proof)")
    unsub.set_defaults(run=unsubscribe_address)
