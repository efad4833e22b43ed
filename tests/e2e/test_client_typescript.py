"""The TypeScript client (clients/typescript) against the real ``consent-svc serve``: this test
starts the server, a tenant with a purpose and one real webhook delivery, then runs the client's
own tests (clients/typescript/test, node's test runner) against them, so they run in ``./dev test``
and CI. A failing TypeScript test fails this one with node's whole output."""

from __future__ import annotations

import json
import os
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.clients import npm
from tests.conftest import NEWSLETTER, TEST_PEPPER, TEST_TOKEN_KEY, Tenant
from tests.e2e.server import Server, clean_env

pytestmark = pytest.mark.e2e


class _Capture(BaseHTTPRequestHandler):
    deliveries: queue.Queue[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.deliveries.put((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_typescript_client_against_serve(database: str, tenant: Tenant, workdir: Path) -> None:
    package = npm.installed()
    deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), type("Capture", (_Capture,), {"deliveries": deliveries}))
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = Server(
        clean_env(
            CONSENT_DATABASE_URL=database,
            CONSENT_PEPPER=TEST_PEPPER.decode(),
            CONSENT_TOKEN_KEYS=TEST_TOKEN_KEY.decode(),
            CONSENT_LOG_LEVEL="warning",
            CONSENT_WEBHOOK_ALLOW_PRIVATE="1",
            CONSENT_WEBHOOK_POLL_SECONDS="0.1",
        ),
        workdir,
    )
    try:
        with httpx.Client(base_url=server.url, headers=tenant.auth()) as api:
            api.put("/v1/purposes/newsletter", json=NEWSLETTER).raise_for_status()
            hook = api.post(
                "/v1/webhooks",
                json={"url": f"http://127.0.0.1:{receiver.server_address[1]}/hook", "events": ["suppression.added"]},
            )
            assert hook.status_code == 201, hook.text
            api.post("/v1/suppressions", json={"email": "ts-hook@example.se", "reason": "complaint"}).raise_for_status()
            headers, body = deliveries.get(timeout=60)
        delivery = workdir / "delivery.json"
        delivery.write_text(json.dumps({"headers": headers, "body": body.decode(), "secret": hook.json()["secret"]}))
        env = {
            **os.environ,
            "CONSENT_TEST_URL": server.url,
            "CONSENT_TEST_KEY": tenant.keys["admin"],
            "CONSENT_TEST_DELIVERY": str(delivery),
        }
        tests = [
            str(package / "test" / name)
            for name in ("client.test.mjs", "retries.test.mjs", "without-global-crypto.test.mjs")
        ]
        output = npm.run("node", ["--test", "--test-reporter=tap", *tests], env=env)
        # node exits non-zero on a failure (npm.run fails the test with its output); and every test ran.
        assert "# fail 0" in output, output
        assert "# skipped 0" in output, output
        assert "# pass 13" in output, output
        print(output)
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()
