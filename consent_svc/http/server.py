"""The HTTP/1.1 protocol the server runs: uvicorn's httptools protocol with
bounded request heads.

uvicorn accepts any size of header (a 2 MB header was answered 200 before
this) and any number of them, buffering them all in memory before the
application sees the request. Here the request line plus headers are counted
as the parser reads them, and the connection is answered and closed as soon as
a bound is crossed: ``414`` for a URL over the limit, ``431`` for headers
over ``CONSENT_MAX_HEADER_BYTES`` in total or more than ``MAX_HEADERS``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADERS = 100
MAX_URL_BYTES = 8192


class _HeadTooLarge(Exception):
    pass


# Writes held back for the end of the loop iteration are sent at once beyond this size, so the
# transport's own flow control (pause_writing) still sees a large body as it is written.
COALESCE_BYTES = 64 * 1024


class CoalescingTransport:
    """A connection's transport whose writes in one turn of the event loop leave together.

    uvicorn writes a response's status line and headers, then its body, with two writes: two
    send() system calls and two TCP segments for every answer (the check path's profile had
    uvicorn's send at ~19 % of the server's time). Here the writes made in one turn of the loop
    (a small response's head and body) are joined and written once, at the end of that turn;
    the bytes and their order are unchanged. Everything but writing and closing is the
    transport's own."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._pending is None:
            self._pending = [bytes(data)]
            self._size = len(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(bytes(data))
            self._size += len(data)
        if self._size > COALESCE_BYTES:
            self.flush()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pending, self._pending, self._size = self._pending, None, 0
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def bounded_protocol(max_header_bytes: int) -> type[HttpToolsProtocol]:
    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _head_bytes = 0
        _head_count = 0
        _refusal: tuple[int, bytes] | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0
            self._head_count = 0

        def on_url(self, url: bytes) -> None:
            self._head_bytes += len(url)
            if len(self.url) + len(url) > MAX_URL_BYTES:
                self._refusal = (414, b"URI Too Long")
                raise _HeadTooLarge
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            # httptools may deliver one header in pieces; count what arrives.
            self._head_bytes += len(name) + len(value)
            self._head_count += 1
            if self._head_bytes > max_header_bytes or self._head_count > MAX_HEADERS:
                self._refusal = (431, b"Request Header Fields Too Large")
                raise _HeadTooLarge
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:
            if self._refusal is None:
                super().send_400_response(msg)
                return
            status, reason = self._refusal
            body = b'{"type":"about:blank","title":"' + reason + b'","status":' + str(status).encode() + b"}"
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/problem+json\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (status, reason, len(body), body)
            )
            self.transport.close()

    return BoundedHttpToolsProtocol


def uvicorn_http(max_header_bytes: int) -> Any:
    """The ``http=`` argument of ``uvicorn.Config``."""
    return bounded_protocol(max_header_bytes)
