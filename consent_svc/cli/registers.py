"""``consent-svc registers import | list``: opt-out register snapshots (the same import as
POST /v1/registers/{name}/snapshots)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

from consent_svc.cli.common import Subparsers, add_tenant, database_command, say
from consent_svc.domain import registers as domain
from consent_svc.service import registers, tenants
from consent_svc.service.context import Context

_CHUNK = 1 << 20


async def _file_lines(path: Path) -> AsyncIterator[bytes]:
    """The file's lines, read a megabyte at a time (in a thread: the event loop keeps serving)."""
    with path.open("rb") as handle:
        pending = b""
        while chunk := await asyncio.to_thread(handle.read, _CHUNK):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line
        if pending.strip():
            yield pending


@database_command
async def import_(ctx: Context, args: argparse.Namespace) -> int:
    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    path = Path(args.file)
    if not await asyncio.to_thread(path.is_file):
        say(f"{path}: no such file")
        return 2
    result = await registers.import_snapshot(
        ctx, tenant_id, args.name, args.version_date, args.channel, _file_lines(path)
    )
    row = result.register
    stale = " (already stale)" if result.stale else ""
    say(f"{row.name} ({row.channel}): {row.entries:,} entries from {result.lines:,} lines, version "
        f"{row.version_date}, valid until {result.valid_until.isoformat()}{stale}")  # fmt: skip
    print(row.snapshot_id)
    return 0


@database_command
async def list_(ctx: Context, args: argparse.Namespace) -> int:
    tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
    now = ctx.clock()
    after: str | None = None
    while True:
        page = await registers.listing(ctx, tenant_id, after, 1000)
        for row in page.items:
            stale = "stale" if domain.is_stale(row.version_date, now) else "valid"
            print(f"{row.name}  {row.channel}  {row.version_date}  {row.entries}  {stale}")
        if page.after is None:
            return 0
        after = page.after


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("registers", help="opt-out registers (NIX-Telefon, NIX-Adresserat, SPAR, your own)")
    rsub = parser.add_subparsers(dest="registers_cmd", required=True)
    rimport = rsub.add_parser("import", help="replace a register's entries by a snapshot file (one identifier a line)")
    rimport.add_argument("name", help=f"{', '.join(domain.BUILTIN)} or a name of your own")
    rimport.add_argument("file", help="the snapshot file (CSV: the first column; an optional header line)")
    rimport.add_argument("--version-date", dest="version_date", required=True, type=date.fromisoformat,
                         help="the register version the file is (YYYY-MM-DD)")  # fmt: skip
    rimport.add_argument("--channel", choices=("email", "sms", "phone", "post"),
                         help="for a register of your own: the channel it blocks")  # fmt: skip
    add_tenant(rimport)
    rimport.set_defaults(run=import_)
    rlist = rsub.add_parser("list", help="list a tenant's registers")
    add_tenant(rlist)
    rlist.set_defaults(run=list_)
