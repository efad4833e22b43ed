"""``consent-svc integrations sync --id ID | reseal``."""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import msgspec

from consent_svc.cli.common import Subparsers, database_command, say
from consent_svc.service import integrations
from consent_svc.service.context import Context


@database_command
async def sync(ctx: Context, args: argparse.Namespace) -> int:
    """Push every active suppression entry to one integration's provider (a full reconciliation),
    in order behind the changes already queued, and report what was pushed, skipped and why.

    The pushes go through the integration's outbox like any change: a running ``serve`` may take
    some of them; this command waits until all of them are done (or ``--timeout``). Exit 0 when
    every push was delivered or skipped for a stated reason; 1 when some failed or are still
    pending (the worker of ``serve`` retries those)."""
    from consent_svc.jobs.provider_sync import SyncWorker  # the push machinery only for this command

    run = await integrations.queue_reconciliation(ctx, args.id)
    say(f"queued {run.queued:,} active entries for {run.provider} integration {run.integration_id}")
    worker = SyncWorker(ctx)
    deadline = time.monotonic() + args.timeout
    try:
        while True:
            counts, _ = await integrations.reconciliation_progress(ctx, run)
            if not counts.get("pending") or time.monotonic() > deadline:
                break
            if not await worker.sync_one(run.tenant_id, run.integration_id):
                await asyncio.sleep(0.2)  # another worker holds it, or a retry is not due yet
    finally:
        await worker.close()
    counts, reasons = await integrations.reconciliation_progress(ctx, run)
    for status in ("delivered", "skipped", "dead", "pending"):
        say(f"  {status}: {counts.get(status, 0):,}")
    for reason, count in reasons.items():
        say(f"    {count:,} x {reason}")
    if counts.get("pending"):
        say(f"timed out after {args.timeout:g} s: the worker of `serve` pushes the rest")
    print(msgspec.json.encode({
        "integration_id": str(run.integration_id), "queued": run.queued,
        **{s: counts.get(s, 0) for s in ("delivered", "skipped", "dead", "pending")}, "reasons": reasons,
    }).decode())  # fmt: skip
    return 1 if counts.get("dead") or counts.get("pending") else 0


@database_command
async def reseal(ctx: Context, _args: argparse.Namespace) -> int:
    """Seal every integration's secrets again with the first of CONSENT_ENCRYPTION_KEYS (after a rotation)."""
    done, current = await integrations.reseal_all(ctx)
    say(f"sealed again: {done:,}; already under the current key: {current:,}")
    return 0


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("integrations", help="email and SMS provider integrations")
    isub = parser.add_subparsers(dest="integrations_cmd", required=True)
    isync = isub.add_parser("sync", help="push the whole current suppression list to one provider (reconcile)")
    isync.add_argument("--id", required=True, type=uuid.UUID, help="the integration's id")
    isync.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the pushes (default 600)")
    isync.set_defaults(run=sync)
    isub.add_parser(
        "reseal", help="seal the integrations' secrets again with the first of CONSENT_ENCRYPTION_KEYS"
    ).set_defaults(run=reseal)
