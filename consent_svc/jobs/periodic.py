"""Periodic in-process jobs of ``serve``: the ledger sealer (and later the retention sweep)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

_log = structlog.get_logger("consent_svc.jobs")


async def every(
    seconds: float, job: Callable[[], Awaitable[int]], stop: asyncio.Event, name: str, *, first_delay: bool = False
) -> None:
    """Run ``job`` every ``seconds`` until ``stop`` is set; a failure is logged, not fatal.
    With ``first_delay`` the first run waits one interval (not at start-up)."""
    if first_delay:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
            return
        except TimeoutError:
            pass
    while not stop.is_set():
        try:
            done = await job()
            if done:
                _log.debug(f"{name} round", items=done)
        except Exception as exc:  # a bad moment of the database must not end the job
            _log.error(f"{name} failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
