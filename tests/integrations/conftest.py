"""Fixtures for the provider integrations: published sample payloads, real keys, real loopback servers.

``fixture(name)`` reads a file from ``fixtures/``: its leading ``#`` lines cite
the published source and are dropped; the rest is the payload as the provider
sends it.

``FakeProvider`` is a real HTTP server on a loopback port, in a thread. It
records every request (method, path, query, headers, body), answers from a
script of statuses, and can check each request's credentials itself (the way
the provider would: 401 when they are wrong). ``loopback_client`` gives an
httpx client whose every request goes to such a server whatever its URL says,
the way an /etc/hosts entry would, so code that insists on fetching from
``https://sns.<region>.amazonaws.com`` reaches the fake SNS.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    lines = (FIXTURES / name).read_bytes().splitlines(keepends=True)
    while lines and lines[0].startswith(b"#"):
        lines.pop(0)
    return b"".join(lines).strip() + b"\n"


def fixture_source(name: str) -> str:
    return "".join(
        line.decode() for line in (FIXTURES / name).read_bytes().splitlines(keepends=True) if line.startswith(b"#")
    )


# --- Amazon SNS: an RSA key and a self-signed certificate for a fake SNS --------------------------


@dataclass(frozen=True)
class SnsSigner:
    key: rsa.RSAPrivateKey
    certificate_pem: bytes

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        """``message`` signed as SNS does, by this test's own reading of the SNS documentation."""
        signed = dict(message)
        signed["SignatureVersion"] = version
        if signed["Type"] == "Notification":
            keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        text = "".join(f"{k}\n{signed[k]}\n" for k in keys if k in signed)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS v1 is SHA1withRSA
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode()
        return signed


def make_sns_signer(common_name: str = "sns.amazonaws.com") -> SnsSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return SnsSigner(key, certificate.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="session")
def sns_signer() -> SnsSigner:
    return make_sns_signer()


@pytest.fixture(scope="session")
def other_sns_signer() -> SnsSigner:
    return make_sns_signer()


# --- SendGrid: an ECDSA P-256 key pair, the public half as the console shows it ------------------


@dataclass(frozen=True)
class SendGridSigner:
    key: ec.EllipticCurvePrivateKey

    @property
    def verification_key(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        signature = self.key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
        }


@pytest.fixture(scope="session")
def sendgrid_signer() -> SendGridSigner:
    return SendGridSigner(ec.generate_private_key(ec.SECP256R1()))


# --- A fake provider API on loopback ------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str  # as sent, percent-encoded
    query: list[tuple[str, str]]
    headers: dict[str, str]  # names lowercased
    body: bytes


Checker = Callable[[Recorded], "tuple[int, bytes] | None"]


@dataclass
class FakeProvider:
    """Answers each request with the next status of ``script`` (then ``default``), after ``check``.

    ``check(request)`` may return a (status, body) to answer instead (a 401 for
    wrong credentials, a 400 for a wrong shape), as the provider would.
    """

    script: list[int] = field(default_factory=list)
    default: int = 200
    answer_body: bytes = b"{}"
    answer_headers: dict[str, str] = field(default_factory=dict)
    check: Checker | None = None
    received: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeProvider:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qsl(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake.lock:
                    fake.received.append(recorded)
                    status = fake.script.pop(0) if fake.script else fake.default
                answer = fake.answer_body
                if fake.check is not None:
                    verdict = fake.check(recorded)
                    if verdict is not None:
                        status, answer = verdict
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                for name, value in fake.answer_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def fake_provider() -> Iterator[Callable[..., FakeProvider]]:
    started: list[FakeProvider] = []

    def start(**kwargs: Any) -> FakeProvider:
        fake = FakeProvider(**kwargs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


class LoopbackTransport(httpx.AsyncBaseTransport):
    """Sends every request to 127.0.0.1:``port`` over plain HTTP, keeping its path and query,
    and telling the server where it was meant to go (``X-Intended-Url``)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["X-Intended-Url"] = str(request.url)
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def loopback_client(fake: FakeProvider) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=LoopbackTransport(fake.port))
