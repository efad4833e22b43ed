"""Real HTTP receivers for webhook tests, on loopback ports, in threads.

``Receiver`` is a well-behaved receiver (optionally over TLS, optionally
stalling); ``Hostile`` is one that drips its answer a byte a second or answers
with an endless body.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from consent_svc.webhook_signatures import SignatureError, verify


@dataclass
class Received:
    id: str
    type: str
    body: dict[str, Any]
    signature_ok: bool
    at: float


@dataclass
class Receiver:
    secret: str = ""
    fail_first: int = 0  # answer 500 to this many requests first
    always_fail: bool = False
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None  # serve https with this context
    server_names: list[str | None] = field(default_factory=list)  # the TLS SNI of each handshake
    # While set, a request is read and counted but never answered: the handler
    # waits until it is cleared, then drops the connection without recording it.
    stall: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.stall.is_set():
                    with receiver.lock:
                        receiver.requests += 1
                    while receiver.stall.is_set():
                        time.sleep(0.02)
                    self.close_connection = True
                    return
                with receiver.lock:
                    receiver.requests += 1
                    failing = receiver.always_fail or receiver.requests <= receiver.fail_first
                    if not failing:
                        try:
                            verify(receiver.secret, self.headers.get("Consent-Signature", ""), body)
                            ok = True
                        except SignatureError:
                            ok = False
                        message = json.loads(body)
                        receiver.received.append(
                            Received(
                                self.headers.get("Consent-Event-Id", ""), message["type"], message, ok, time.monotonic()
                            )
                        )
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        tls = self.tls
        if tls is not None:

            def remember(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
                with receiver.lock:
                    receiver.server_names.append(name)

            tls.sni_callback = remember

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 drops concurrent connections
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, address = super().get_request()
                if tls is not None:  # the handshake happens in the handler's thread, on first read
                    sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return sock, address

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that refused our certificate, or hung up: not the test's business

        self._server = Server((self.host, port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/consent"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.id for r in self.received]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)


class Hostile:
    """A receiver that reads each request whole, then answers badly, on a loopback port.

    ``drip``: the answer (``200 OK``, empty body) one byte a second, for as long
    as the client listens. ``huge``: ``200 OK`` with a body of ``size`` bytes,
    streamed as fast as the client reads. Counts requests, and the bytes of
    the huge body the client took before it hung up.
    """

    def __init__(self, mode: str, size: int = 0) -> None:
        assert mode in ("drip", "huge")
        self.mode = mode
        self.size = size
        self.lock = threading.Lock()
        self.requests = 0
        self.arrivals: list[float] = []  # time.monotonic() of each request
        self.body_bytes_sent = 0
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/consent"

    def stop(self) -> None:
        self.stopping.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                with self.lock:
                    self.requests += 1
                    self.arrivals.append(time.monotonic())
                if self.mode == "drip":
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                        if self.stopping.wait(1.0):
                            return
                        conn.sendall(bytes([byte]))
                else:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % self.size
                    )
                    block = b"x" * 65536
                    left = self.size
                    while left > 0 and not self.stopping.is_set():
                        part = block[: min(left, len(block))]
                        conn.sendall(part)
                        left -= len(part)
                        with self.lock:
                            self.body_bytes_sent += len(part)
            except OSError:
                return  # the client hung up
