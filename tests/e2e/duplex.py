"""A full-duplex HTTP/1.1 client for NDJSON streams: it writes the request body
(chunked) while it reads the answer, as a streaming client must. (httpx sends
the whole body before reading, which deadlocks against a server that answers
while it reads once the socket buffers fill.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable


async def ndjson_exchange(
    host: str, port: int, path: str, headers: dict[str, str], chunks: Iterable[bytes]
) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode())

    async def send() -> None:
        for chunk in chunks:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    sender = asyncio.create_task(send())
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split()[1])
    response_headers: dict[str, str] = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode().partition(":")
        response_headers[name.strip().lower()] = value.strip()

    async def body() -> AsyncIterator[bytes]:
        pending = b""
        try:
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                pending += data[:-2]
                *lines, pending = pending.split(b"\n")
                for item in lines:
                    yield item
            if pending:
                yield pending
            await sender
        finally:
            sender.cancel()
            writer.close()

    return status, response_headers, body()
