"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each
sending the next request as soon as the previous answer is read.

Written on raw asyncio streams because a full client (httpx) spends more CPU
per request than the server under test, and on a 2-core machine the load
generator shares the cores with the server and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(99)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value.strip())
        elif lname == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def run_load(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    connections: int,
    duration: float,
    warmup: float = 1.0,
) -> LoadResult:
    """Send requests built by ``make_request(i)`` for ``duration`` seconds after a warm-up."""
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0
    done = 0
    measuring = False
    stop_at = 0.0

    async def worker() -> None:
        nonlocal errors, done
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                now = time.perf_counter()
                if measuring and now >= stop_at:
                    return
                request = make_request(next(counter))
                started = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                elapsed = (time.perf_counter() - started) * 1000
                if measuring:
                    latencies.append(elapsed)
                    done += 1
                    if status >= 400:
                        errors += 1
        finally:
            writer.close()

    async def clock() -> float:
        nonlocal measuring, stop_at
        await asyncio.sleep(warmup)
        measuring = True
        began = time.perf_counter()
        stop_at = began + duration
        await asyncio.sleep(duration)
        return began

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    began = await clock()
    await asyncio.gather(*tasks)
    return LoadResult(done, time.perf_counter() - began, latencies, errors)


def get_request(host: str, paths: Sequence[str], headers: dict[str, str]) -> Callable[[int], bytes]:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    encoded = [f"GET {p} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode() for p in paths]
    return lambda i: encoded[i % len(encoded)]
