"""``consent-svc serve`` (with ``--processes N``) and ``consent-svc worker``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

from consent_svc.cli.common import Subparsers, say, with_database
from consent_svc.config import ConfigError, Settings
from consent_svc.service.context import Context

REGISTER_JOB_SECONDS = 60.0


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run the HTTP service (and, inside it, the webhook worker, the provider sync, the ledger sealer,
    the sweep and, with CONSENT_SMTP_URL, the confirmation mailer)."""
    import uvicorn

    from consent_svc.http.app import create_app, create_metrics_app
    from consent_svc.http.auth import Authenticator
    from consent_svc.http.inbound import InboundState
    from consent_svc.http.server import uvicorn_http
    from consent_svc.jobs import mailer
    from consent_svc.jobs.delivery import DeliveryWorker
    from consent_svc.jobs.periodic import every
    from consent_svc.jobs.provider_sync import SyncWorker
    from consent_svc.runtime import tune_gc
    from consent_svc.service import ledger, registers, retention, unsubscribe

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
        inbound = InboundState()
        config = uvicorn.Config(
            create_app(ctx, authenticator=authenticator, inbound_state=inbound),
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
                say(f"consent-svc listening on http://{host}:{port} (Ctrl-C to stop)")
                if metrics_socket is not None:
                    say(f"metrics on http://{ctx.settings.metrics_host}:{ctx.settings.metrics_port}/metrics")

        announced = asyncio.create_task(announce())
        worker = DeliveryWorker(ctx) if ctx.settings.webhook_worker else None
        task = asyncio.create_task(worker.run()) if worker else None
        syncer = SyncWorker(ctx) if ctx.settings.webhook_worker else None
        sync_task = asyncio.create_task(syncer.run()) if syncer else None
        stop_jobs = asyncio.Event()
        jobs = []
        if ctx.settings.ledger_seal_seconds > 0:
            seal = every(ctx.settings.ledger_seal_seconds, lambda: ledger.seal_all(ctx), stop_jobs, "ledger sealer")
            jobs.append(asyncio.create_task(seal))
        if ctx.settings.smtp is not None:
            # Double opt-in confirmation emails (docs/forms.md); safe in every replica (SKIP LOCKED leases).
            mail = every(mailer.POLL_SECONDS, lambda: mailer.send_due(ctx), stop_jobs, "confirmation mailer")
            jobs.append(asyncio.create_task(mail))
        # Opt-out registers: announce stale ones (register.stale, once per snapshot). Safe in every
        # replica (SKIP LOCKED).
        housekeeping = every(REGISTER_JOB_SECONDS, lambda: registers.housekeeping(ctx), stop_jobs, "register jobs")
        jobs.append(asyncio.create_task(housekeeping))
        if ctx.settings.sweep_interval_seconds > 0:
            jobs.append(asyncio.create_task(every(
                ctx.settings.sweep_interval_seconds, lambda: _swept(retention.sweep_all(ctx)), stop_jobs,
                "retention sweep", first_delay=True)))  # fmt: skip
        tune_gc()
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
            if syncer is not None and sync_task is not None:
                syncer.stop()
                await sync_task
                await syncer.close()
            await inbound.aclose()
        return 0 if server.started else 1

    return with_database(settings, body)


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

    if port == 0:
        say("error: serve --processes needs a fixed --port (the processes share it)")
        return 2
    if not hasattr(socket, "SO_REUSEPORT"):
        say("error: serve --processes needs SO_REUSEPORT (Linux, BSD, macOS)")
        return 2
    if settings.metrics_port and settings.metrics_port + processes - 1 > 65535:
        say(f"error: {processes} processes need metrics ports from CONSENT_METRICS_PORT up to 65535")
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
        say(f"consent-svc: {processes} processes on http://{host}:{port} (pids {[c.pid for c in children]})")
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        waits = [asyncio.ensure_future(c.wait()) for c in children]
        stop_wait = asyncio.ensure_future(stopping.wait())
        await asyncio.wait([*waits, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        failed = not stopping.is_set()
        if failed:
            say("consent-svc: a serving process exited; stopping the others")
        for child in children:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*waits)
        stop_wait.cancel()
        return 1 if failed or any(codes) else 0

    return with_database(settings, body)


def worker(settings: Settings, _args: argparse.Namespace) -> int:
    """Only the webhook delivery worker and the provider sync, no HTTP (e.g. a separate deployment)."""
    from consent_svc.jobs.delivery import DeliveryWorker
    from consent_svc.jobs.provider_sync import SyncWorker

    async def body(ctx: Context) -> int:
        worker = DeliveryWorker(ctx)
        syncer = SyncWorker(ctx)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            worker.stop()
            syncer.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        say("consent-svc webhook worker and provider sync running (Ctrl-C to stop)")
        try:
            await asyncio.gather(worker.run(), syncer.run())
        finally:
            await worker.close()
            await syncer.close()
        return 0

    return with_database(settings, body)


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("serve", help="run the HTTP service")
    parser.add_argument("--host", help="listen address (default CONSENT_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default CONSENT_PORT or 8000)")
    parser.add_argument(
        "--processes", type=int, help="serving processes sharing the port (default CONSENT_PROCESSES or 1)"
    )
    parser.set_defaults(run=serve, creates_database=True)  # the zero-set-up start: a first serve creates it
    sub.add_parser("worker", help="run only the webhook delivery worker and the provider sync").set_defaults(run=worker)
