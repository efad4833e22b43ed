"""Command line: ``consent-svc serve | migrate | openapi | tenants | keys``.

Output meant for scripts goes to stdout (``KEY=$(consent-svc keys create ...)``
works); logs and messages for people go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec

from consent_svc.config import ConfigError, Settings, load_settings
from consent_svc.domain.errors import DomainError
from consent_svc.log import configure
from consent_svc.service.context import Context

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from consent_svc.http.app import create_app, create_metrics_app
    from consent_svc.http.server import uvicorn_http
    from consent_svc.jobs.delivery import DeliveryWorker
    from consent_svc.jobs.periodic import every
    from consent_svc.runtime import run_with_database
    from consent_svc.service import ledger, retention, unsubscribe
    from consent_svc.service.tenants import Authenticator

    async def _swept(run: Any) -> int:
        return sum(r.swept for r in await run)

    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    if not settings.public_url_configured:
        # Links the service hands out must point where it really listens.
        settings = dataclasses.replace(settings, public_url=f"http://{host}:{port}")
    processes = settings.processes if args.processes is None else args.processes
    reuse_port = os.environ.get(_REUSE_PORT_ENV) == "1"
    if not reuse_port:  # said once, by the process the operator started
        unsubscribe.warn_if_public_url_not_https(settings.public_url)
    if processes > 1:
        return _serve_processes(settings, host, port, processes)
    # Bound now, before the database starts: a port in use is a clear error at once.
    metrics_socket = _metrics_socket(settings) if settings.metrics_port else None

    async def body(ctx: Context) -> int:
        authenticator = Authenticator(ctx)
        config = uvicorn.Config(
            create_app(ctx, authenticator=authenticator),
            host=host,
            port=port,
            http=uvicorn_http(ctx.settings.max_header_bytes),
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=10,
        )
        server = uvicorn.Server(config)
        metrics: Any = None
        metrics_task = None
        if metrics_socket is not None:
            metrics = _quiet_server(uvicorn.Config(
                create_metrics_app(ctx, authenticator), http=uvicorn_http(ctx.settings.max_header_bytes),
                lifespan="off", access_log=False, log_config=None, server_header=False))  # fmt: skip
            metrics_task = asyncio.create_task(metrics.serve(sockets=[metrics_socket]))

        async def announce() -> None:
            # Said once the socket really listens, so "listening" is true when read.
            while not server.started and not server.should_exit:  # noqa: ASYNC110 - uvicorn offers a flag, no event
                await asyncio.sleep(0.05)
            if server.started:
                _say(f"consent-svc listening on http://{host}:{port} (Ctrl-C to stop)")
                if metrics_socket is not None:
                    _say(f"metrics on http://{ctx.settings.metrics_host}:{ctx.settings.metrics_port}/metrics")

        announced = asyncio.create_task(announce())
        worker = DeliveryWorker(ctx) if ctx.settings.webhook_worker else None
        task = asyncio.create_task(worker.run()) if worker else None
        stop_jobs = asyncio.Event()
        jobs = []
        if ctx.settings.ledger_seal_seconds > 0:
            seal = every(ctx.settings.ledger_seal_seconds, lambda: ledger.seal_all(ctx), stop_jobs, "ledger sealer")
            jobs.append(asyncio.create_task(seal))
        if ctx.settings.sweep_interval_seconds > 0:
            jobs.append(asyncio.create_task(every(
                ctx.settings.sweep_interval_seconds, lambda: _swept(retention.sweep_all(ctx)), stop_jobs,
                "retention sweep", first_delay=True)))  # fmt: skip
        try:
            await server.serve(sockets=[_reuse_port_socket(host, port)] if reuse_port else None)
        finally:
            announced.cancel()
            if metrics_task is not None:
                metrics.should_exit = True
                await metrics_task
            stop_jobs.set()
            await asyncio.gather(*jobs)
            if worker is not None and task is not None:
                worker.stop()
                await task
                await worker.close()
        return 0 if server.started else 1

    return run_with_database(settings, body)


# Set by `serve --processes N` for its children: bind with SO_REUSEPORT, so the
# kernel spreads connections over N processes listening on one port.
_REUSE_PORT_ENV = "CONSENT_INTERNAL_REUSE_PORT"


def _reuse_port_socket(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _metrics_socket(settings: Settings) -> socket.socket:
    """The metrics listener's socket (``CONSENT_METRICS_HOST``:``CONSENT_METRICS_PORT``). Never
    shared (no SO_REUSEPORT): each process has its own metrics, so each has its own port."""
    host, port = settings.metrics_host, settings.metrics_port
    try:
        return _reuse_port_socket(host, port, reuse_port=False)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen for metrics on {host}:{port} ({exc.strerror or exc}): set CONSENT_METRICS_PORT "
            "to a free port, or 0 for no metrics listener"
        ) from None


def _quiet_server(config: Any) -> Any:
    """A uvicorn server that leaves SIGINT and SIGTERM to the main one: the
    metrics listener, beside it in the same loop, stopped after it."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(config)


def _serve_processes(settings: Settings, host: str, port: int, processes: int) -> int:
    """``serve --processes N``: N ``serve`` processes on one port (SO_REUSEPORT).

    This process starts (or attaches to) the database and applies the
    migrations first, so the children neither race to start the embedded
    PostgreSQL nor to migrate; then it starts the children and passes SIGINT
    and SIGTERM on to them. A child that exits on its own stops the others:
    a supervisor (systemd, Kubernetes) restarts the whole, rather than one
    process quietly serving at 1/N of the capacity. Each child runs its own
    webhook worker, ledger sealer and sweep, which are safe side by side
    (docs/operations.md, "Many replicas"). Child i (from 0) serves its own
    metrics on ``CONSENT_METRICS_PORT + i``: one scrape target per process.
    """
    from consent_svc.runtime import run_with_database

    if port == 0:
        _say("error: serve --processes needs a fixed --port (the processes share it)")
        return 2
    if not hasattr(socket, "SO_REUSEPORT"):
        _say("error: serve --processes needs SO_REUSEPORT (Linux, BSD, macOS)")
        return 2
    if settings.metrics_port and settings.metrics_port + processes - 1 > 65535:
        _say(f"error: {processes} processes need metrics ports from CONSENT_METRICS_PORT up to 65535")
        return 2

    async def body(ctx: Context) -> int:
        env = {
            **os.environ,
            _REUSE_PORT_ENV: "1",
            "CONSENT_PROCESSES": "1",
            "CONSENT_MIGRATE_ON_START": "0",  # done above, once
            "CONSENT_PUBLIC_URL": ctx.settings.public_url,
            "CONSENT_DATA_DIR": str(ctx.settings.data_dir),
        }
        command = [sys.executable, "-m", "consent_svc", "serve", "--host", host, "--port", str(port)]
        metrics_port = ctx.settings.metrics_port
        children = [
            await asyncio.create_subprocess_exec(
                *command, env={**env, "CONSENT_METRICS_PORT": str(metrics_port + i if metrics_port else 0)}
            )
            for i in range(processes)
        ]
        _say(f"consent-svc: {processes} processes on http://{host}:{port} (pids {[c.pid for c in children]})")
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        waits = [asyncio.ensure_future(c.wait()) for c in children]
        stop_wait = asyncio.ensure_future(stopping.wait())
        await asyncio.wait([*waits, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        failed = not stopping.is_set()
        if failed:
            _say("consent-svc: a serving process exited; stopping the others")
        for child in children:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*waits)
        stop_wait.cancel()
        return 1 if failed or any(codes) else 0

    return run_with_database(settings, body)


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    """Only the webhook delivery worker, no HTTP (e.g. a separate deployment)."""
    from consent_svc.jobs.delivery import DeliveryWorker
    from consent_svc.runtime import run_with_database

    async def body(ctx: Context) -> int:
        worker = DeliveryWorker(ctx)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        _say("consent-svc webhook worker running (Ctrl-C to stop)")
        try:
            await worker.run()
        finally:
            await worker.close()
        return 0

    return run_with_database(settings, body)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from consent_svc.runtime import run_with_database
    from consent_svc.store import migrations

    async def body(ctx: Context) -> int:
        async with ctx.pool.acquire() as conn:
            done = await migrations.applied(conn)
        for name, at in done:
            _say(f"applied  {name}  {at:%Y-%m-%d %H:%M:%S}")
        _say(f"database is current ({len(migrations.load())} migrations)")
        return 0

    return run_with_database(settings, body, migrate=True)


def render_openapi() -> str:
    from consent_svc.http.app import create_litestar

    schema = create_litestar(None).openapi_schema.to_schema()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def cmd_openapi(_settings: Settings | None, args: argparse.Namespace) -> int:
    rendered = render_openapi()
    target = Path(args.output) if args.output else OPENAPI_PATH
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != rendered:
            _say(f"{target} is out of date: run `consent-svc openapi` and commit it")
            return 1
        _say(f"{target} is current")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered, encoding="utf-8")
    _say(f"wrote {target}")
    return 0


def cmd_tenants(settings: Settings, args: argparse.Namespace) -> int:
    from consent_svc.runtime import run_with_database
    from consent_svc.service import tenants

    if args.tenants_cmd == "brand":
        return cmd_brand(settings, args)

    async def body(ctx: Context) -> int:
        if args.tenants_cmd == "create":
            row = await tenants.create_tenant(ctx, args.name)
            print(row.id)
            _say(f"created tenant {row.name}")
        else:
            for row in await tenants.list_tenants(ctx):
                print(f"{row.id}  {row.name}  {row.created_at:%Y-%m-%d}")
        return 0

    return run_with_database(settings, body)


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from consent_svc.runtime import run_with_database
    from consent_svc.service import tenants

    async def body(ctx: Context) -> int:
        if args.keys_cmd == "create":
            key_id, token = await tenants.create_key(ctx, args.tenant, args.scope, args.label)
            print(token)
            _say(f"key id {key_id} (scope {args.scope}); the key is shown only now. "
                 f"Revoke with: consent-svc keys revoke {key_id}")  # fmt: skip
        elif args.keys_cmd == "revoke":
            try:
                key_id = UUID(args.key_id)
            except ValueError:
                raise DomainError(f"{args.key_id!r} is not a key id (a UUID)") from None
            row = await tenants.revoke_key(ctx, key_id)
            _say(f"revoked key {row.id} of tenant {row.tenant_name}")
        else:
            for row in await tenants.list_keys(ctx, args.tenant):
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                print(f"{row.id}  {row.scope:<6}  {state:<18}  {row.label or ''}")
        return 0

    return run_with_database(settings, body)


def cmd_unsubscribe(settings: Settings, args: argparse.Namespace) -> int:
    """Record an unsubscribe for an address, e.g. from mail to the List-Unsubscribe mailbox."""
    from consent_svc.runtime import run_with_database
    from consent_svc.service import tenants, unsubscribe

    async def body(ctx: Context) -> int:
        tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
        changed = await unsubscribe.unsubscribe_address(ctx, tenant_id, args.email, args.purpose, args.note)
        _say("unsubscribed" if changed else "already unsubscribed: nothing written")
        return 0

    return run_with_database(settings, body)


def cmd_brand(settings: Settings, args: argparse.Namespace) -> int:
    from consent_svc.runtime import run_with_database
    from consent_svc.service import tenants
    from consent_svc.service.inputs import BrandingIn

    async def body(ctx: Context) -> int:
        tenant_id = await tenants.tenant_id_by_name(ctx, args.name)
        branding = msgspec.convert(
            {k: v for k, v in {
                "display_name": args.display_name, "logo_url": args.logo_url, "primary_color": args.color,
                "privacy_policy_url": args.privacy_url, "unsubscribe_mailto": args.unsubscribe_mailto,
            }.items() if v is not None},
            BrandingIn,
        )  # fmt: skip
        row = await tenants.set_branding(ctx, tenant_id, branding)
        _say(f"branding of {row.name}: {msgspec.json.encode(msgspec.structs.asdict(row)).decode()}")
        return 0

    return run_with_database(settings, body)


def cmd_sites(settings: Settings, args: argparse.Namespace) -> int:
    """Register or list banner sites; the configuration is the JSON body of POST /v1/sites."""
    from consent_svc.runtime import run_with_database
    from consent_svc.service import banner, tenants
    from consent_svc.service.inputs import SiteIn

    async def body(ctx: Context) -> int:
        tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
        if args.sites_cmd == "list":
            for site in await banner.list_sites(ctx, tenant_id):
                print(f"{site.site_key}  v{site.banner_version}  {site.name}  {' '.join(site.origins)}")
            return 0
        # A small file read once by a CLI command: blocking here is harmless.
        config = msgspec.json.decode(Path(args.file).read_bytes(), type=SiteIn)  # noqa: ASYNC240
        if args.sites_cmd == "create":
            site = await banner.create_site(ctx, tenant_id, config)
        else:
            site = await banner.replace_site(ctx, tenant_id, args.site_key, config)
        print(site.site_key)
        _say(f"site {site.name}: banner_version {site.banner_version}")
        return 0

    return run_with_database(settings, body)


def cmd_subjects(settings: Settings, args: argparse.Namespace) -> int:
    """Staff commands for access and erasure requests, by email (or phone, external id)."""
    from consent_svc.runtime import run_with_database
    from consent_svc.service import subjects, tenants

    async def body(ctx: Context) -> int:
        tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
        ident = subjects.lookup_identifier(args.email, args.phone, args.external_id, ctx.settings.default_phone_region)
        subject_id = await subjects.find(ctx, tenant_id, ident)
        if args.subjects_cmd == "export":
            document = await subjects.export(ctx, tenant_id, subject_id)
            sys.stdout.write(msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n")
            return 0
        erasure = await subjects.erase(ctx, tenant_id, subject_id, args.reason)
        print(msgspec.json.encode(erasure).decode())
        _say(f"erased subject {subject_id}; erasure receipt {erasure.id}")
        return 0

    return run_with_database(settings, body)


def cmd_ledger(settings: Settings, args: argparse.Namespace) -> int:
    """Seal pending events now, verify a tenant's chain, or print its head."""
    from consent_svc.runtime import run_with_database
    from consent_svc.service import ledger, tenants

    async def body(ctx: Context) -> int:
        tenant_id = await tenants.tenant_id_by_name(ctx, args.tenant)
        if args.ledger_cmd == "seal":
            async with ctx.pool.acquire() as conn, conn.transaction():
                sealed = await ledger.seal_tenant(conn, tenant_id)
            _say(f"sealed {sealed} event(s)")
            return 0
        if args.ledger_cmd == "head":
            print(msgspec.json.encode(await ledger.head(ctx, tenant_id)).decode())
            return 0
        result = await ledger.verify(ctx, tenant_id)
        report = {"ok": result.ok, "events": result.events, "head": result.head, "unsealed": result.unsealed,
                  "first_break": result.first_break}  # fmt: skip
        print(msgspec.json.encode(report).decode())
        _say("the ledger verifies" if result.ok else f"the ledger is broken at position {result.first_break}")
        return 0 if result.ok else 3

    return run_with_database(settings, body)


def cmd_sweep(settings: Settings, args: argparse.Namespace) -> int:
    """Run the retention sweep now (all tenants, or one), or only say what it would remove."""
    from consent_svc.runtime import run_with_database
    from consent_svc.service import retention, tenants

    def progress(report: retention.SweepReport) -> None:
        _say(f"  {report.tenant}: scanned {report.scanned:,}, {'would remove' if report.dry_run else 'removed'} "
             f"{report.swept:,} ...")  # fmt: skip

    async def body(ctx: Context) -> int:
        names = [args.tenant] if args.tenant else [t.name for t in await tenants.list_tenants(ctx)]
        for name in names:
            tenant_id = await tenants.tenant_id_by_name(ctx, name)
            report = await retention.sweep_tenant(ctx, tenant_id, name, dry_run=args.dry_run, progress=progress)
            verb = "would remove" if args.dry_run else "removed"
            _say(f"{name}: scanned {report.scanned:,} people, {verb} {report.swept:,}")
            for key, count in sorted(report.counts.items()):
                _say(f"  {key}: {count:,}")
            print(msgspec.json.encode({"tenant": name, "dry_run": report.dry_run, "as_of": report.as_of,
                  "scanned": report.scanned, "swept": report.swept, "counts": report.counts,
                  "subjects": report.subjects}).decode())  # fmt: skip
        return 0

    return run_with_database(settings, body)


def cmd_refold(settings: Settings, _args: argparse.Namespace) -> int:
    """Rebuild every subject's facts from the ledger (once, after upgrading to rules v2)."""
    from consent_svc.runtime import run_with_database
    from consent_svc.service import repair

    def progress(report: repair.RefoldReport) -> None:
        _say(f"  {report.tenant}: {report.subjects:,} people, {report.events:,} events ...")

    async def body(ctx: Context) -> int:
        for report in await repair.refold_all(ctx, progress):
            _say(f"{report.tenant}: refolded {report.subjects:,} people from {report.events:,} events")
        return 0

    return run_with_database(settings, body)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consent-svc", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="listen address (default CONSENT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default CONSENT_PORT or 8000)")
    serve.add_argument(
        "--processes", type=int, help="serving processes sharing the port (default CONSENT_PROCESSES or 1)"
    )

    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("worker", help="run only the webhook delivery worker")

    openapi = sub.add_parser("openapi", help="write the OpenAPI document to openapi/openapi.json")
    openapi.add_argument("--check", action="store_true", help="fail if the committed document is out of date")
    openapi.add_argument("--output", help="write here instead")

    tenants = sub.add_parser("tenants", help="manage tenants")
    tsub = tenants.add_subparsers(dest="tenants_cmd", required=True)
    tcreate = tsub.add_parser("create", help="create a tenant")
    tcreate.add_argument("name")
    tsub.add_parser("list", help="list tenants")
    brand = tsub.add_parser("brand", help="set how the tenant appears on the preference page (replaces all fields)")
    brand.add_argument("name")
    brand.add_argument("--display-name")
    brand.add_argument("--logo-url")
    brand.add_argument("--color", help="primary colour, #rrggbb")
    brand.add_argument("--privacy-url", help="link to the privacy policy")
    brand.add_argument("--unsubscribe-mailto", help="mailbox for the mailto: half of List-Unsubscribe")

    sub.add_parser("refold", help="rebuild every subject's facts from the ledger (after upgrading the rules)")

    sweep = sub.add_parser("sweep", help="retention sweep: remove people whose every purpose lapsed past its retention")
    sweep.add_argument("--dry-run", action="store_true", help="only say what would be removed, with counts")
    sweep.add_argument("--tenant", help="one tenant (default: all)")

    led = sub.add_parser("ledger", help="the ledger's hash chain")
    lsub = led.add_subparsers(dest="ledger_cmd", required=True)
    for name, text in (("verify", "walk the chain and report the first break (exit 3 when broken)"),
                       ("head", "print the head hash and position"), ("seal", "seal pending events now")):  # fmt: skip
        cmd = lsub.add_parser(name, help=text)
        cmd.add_argument("--tenant", required=True)

    subj = sub.add_parser("subjects", help="data subject requests: export (access) and erase")
    subsub = subj.add_subparsers(dest="subjects_cmd", required=True)
    for name, text in (("export", "print everything held about a person as JSON"), ("erase", "erase a person")):
        cmd = subsub.add_parser(name, help=text)
        cmd.add_argument("--tenant", required=True)
        group = cmd.add_mutually_exclusive_group(required=True)
        group.add_argument("--email")
        group.add_argument("--phone")
        group.add_argument("--external-id", dest="external_id")
        if name == "erase":
            cmd.add_argument("--reason", help="e.g. the ticket of the request (kept on the erasure receipt)")

    sites = sub.add_parser("sites", help="banner sites")
    ssub = sites.add_subparsers(dest="sites_cmd", required=True)
    screate = ssub.add_parser("create", help="register a site from a JSON file (the body of POST /v1/sites)")
    screate.add_argument("--tenant", required=True)
    screate.add_argument("--file", required=True)
    sreplace = ssub.add_parser("replace", help="replace a site's configuration (bumps banner_version on text changes)")
    sreplace.add_argument("site_key")
    sreplace.add_argument("--tenant", required=True)
    sreplace.add_argument("--file", required=True)
    slist = ssub.add_parser("list", help="list a tenant's sites")
    slist.add_argument("--tenant", required=True)

    unsub = sub.add_parser("unsubscribe", help="record an unsubscribe received for an address")
    unsub.add_argument("--tenant", required=True)
    unsub.add_argument("--email", required=True)
    unsub.add_argument("--purpose", help="one purpose (default: all direct marketing)")
    unsub.add_argument("--note", default="mailto", help="what the unsubscribe came from (kept as proof)")

    keys = sub.add_parser("keys", help="manage API keys")
    ksub = keys.add_subparsers(dest="keys_cmd", required=True)
    kcreate = ksub.add_parser("create", help="create a key; prints it once on stdout")
    kcreate.add_argument("--tenant", required=True)
    kcreate.add_argument("--scope", required=True, choices=["check", "record", "admin"])
    kcreate.add_argument("--label", help="a note on what the key is for")
    krevoke = ksub.add_parser("revoke", help="revoke a key by id")
    krevoke.add_argument("key_id")
    klist = ksub.add_parser("list", help="list a tenant's keys")
    klist.add_argument("--tenant", required=True)
    return parser


COMMANDS = {
    "sweep": cmd_sweep,
    "refold": cmd_refold,
    "ledger": cmd_ledger,
    "subjects": cmd_subjects,
    "sites": cmd_sites,
    "unsubscribe": cmd_unsubscribe,
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "worker": cmd_worker,
    "openapi": cmd_openapi,
    "tenants": cmd_tenants,
    "keys": cmd_keys,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "openapi":
        return cmd_openapi(None, args)
    try:
        settings = load_settings()
    except ConfigError as exc:
        _say(f"configuration error: {exc}")
        return 2
    configure(settings.log_format, settings.log_level)
    try:
        return COMMANDS[args.command](settings, args)
    except (DomainError, ConfigError) as exc:
        _say(f"error: {exc}")
        return 1
    except msgspec.ValidationError as exc:
        _say(f"error: {exc}")
        return 1
    except Exception as exc:
        from consent_svc.store.migrations import MigrationError

        if isinstance(exc, MigrationError):
            _say(f"migration error: {exc}")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
