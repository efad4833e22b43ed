"""The connection transport that joins one loop turn's writes (consent_svc.http.server)."""

from __future__ import annotations

import asyncio
from typing import Any

from consent_svc.http.server import COALESCE_BYTES, CoalescingTransport


class RecordingTransport:
    """What the real transport was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def coalescing() -> tuple[CoalescingTransport, RecordingTransport]:
    real = RecordingTransport()
    return CoalescingTransport(real, asyncio.get_running_loop()), real  # type: ignore[arg-type]


async def test_a_head_and_a_body_leave_in_one_write_at_the_end_of_the_turn() -> None:
    transport, real = coalescing()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert real.calls == []
    await asyncio.sleep(0)
    assert real.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]


async def test_writes_of_later_turns_follow_in_order() -> None:
    transport, real = coalescing()
    for part in (b"a", b"b"):
        transport.write(part)
        await asyncio.sleep(0)
    transport.writelines([b"c", memoryview(b"d")])
    transport.write(b"")
    await asyncio.sleep(0)
    assert real.calls == [("write", b"a"), ("write", b"b"), ("write", b"cd")]


async def test_close_sends_what_is_held_first() -> None:
    transport, real = coalescing()
    transport.write(b"last words")
    transport.close()
    await asyncio.sleep(0)
    assert real.calls == [("write", b"last words"), ("close", None)]


async def test_a_large_body_is_written_at_once_so_flow_control_sees_it() -> None:
    transport, real = coalescing()
    transport.write(b"head")
    transport.write(b"x" * COALESCE_BYTES)
    assert real.calls == [("write", b"head" + b"x" * COALESCE_BYTES)]
    await asyncio.sleep(0)
    assert len(real.calls) == 1


async def test_nothing_is_written_to_a_closing_transport_and_the_rest_is_the_transports() -> None:
    transport, real = coalescing()
    transport.write(b"too late")
    real.closing = True
    await asyncio.sleep(0)
    assert real.calls == []
    assert transport.get_extra_info("peername") == "info:peername"
    assert transport.is_closing()
