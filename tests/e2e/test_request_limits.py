"""Request heads are bounded in the real server, before the application sees them."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_PEPPER, TEST_TOKEN_KEY
from tests.e2e.server import Server, clean_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(database: str, workdir: Path) -> Iterator[Server]:
    env = clean_env(
        CONSENT_DATABASE_URL=database,
        CONSENT_PEPPER=TEST_PEPPER.decode(),
        CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
        CONSENT_LOG_LEVEL="warning",
        CONSENT_MAX_HEADER_BYTES="16384",
    )
    running = Server(env, workdir)
    yield running
    running.stop(signal.SIGTERM)


def raw(server: Server, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head)
        answer = b""
        while chunk := s.recv(65536):  # the server closes the connection after a refusal
            answer += chunk
            if b"\r\n\r\n" in answer and b"connection: close" not in answer.lower():
                break
        return answer


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_oversized_heads_are_refused_and_the_server_goes_on(server: Server) -> None:
    ok = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert status(raw(server, ok)) == 200
    big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    answer = raw(server, big_header)
    assert status(answer) == 431
    assert b"application/problem+json" in answer
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(150)) + b"\r\n"
    assert status(raw(server, many)) == 431
    long_url = b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert status(raw(server, long_url)) == 414
    # A head just under the bound is served; the refusals did not hurt the server.
    fine = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 15_000 + b"\r\nConnection: close\r\n\r\n"
    assert status(raw(server, fine)) == 200
