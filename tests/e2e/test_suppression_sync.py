"""docs/examples/sync_suppressions.py against a live server, with entries that overlap.

The script's output is applied to a provider's list (a dict, last instruction wins), as the
script's docstring tells a provider to, and the list is compared with what the service decides.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import NEWSLETTER, Tenant
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "sync_suppressions.py"


def sha(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


class Provider:
    """A provider's block list, kept by running the documented script."""

    def __init__(self, server: Server, tenant: Tenant, state: Path, **settings: str) -> None:
        self.env = {"CONSENT_API": server.url, "CONSENT_KEY": tenant.keys["check"], "PATH": "/usr/bin:/bin", **settings}
        self.state = state
        self.blocked: dict[str, bool] = {}
        self.lines: list[dict[str, object]] = []

    def sync(self) -> list[dict[str, object]]:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), str(self.state)], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines() if line]
        for line in lines:
            self.blocked[str(line["sha256"])] = line["action"] == "block"
        self.lines += lines
        return lines

    def block_list(self) -> set[str]:
        return {h for h, b in self.blocked.items() if b}


def test_the_sync_example_folds_overlapping_entries(external_server: Server, tenant: Tenant, workdir: Path) -> None:
    with httpx.Client(base_url=external_server.url, headers=tenant.auth()) as api:
        for key in ("newsletter", "events"):
            api.put(f"/v1/purposes/{key}", json=NEWSLETTER).raise_for_status()

        def suppress(email: str, reason: str, **more: str) -> str:
            response = api.post("/v1/suppressions", json={"email": email, "reason": reason, **more})
            response.raise_for_status()
            return str(response.json()["id"])

        def lift(entry: str) -> None:
            api.request("DELETE", f"/v1/suppressions/{entry}", json={"reason": "test"}).raise_for_status()

        # Still blocked by a complaint after a manual entry for the same address was lifted
        # (the old script added and then removed it).
        suppress("both@example.se", "complaint")
        lift(suppress("both@example.se", "manual"))
        # Lifted and nothing else: unblocked.
        lift(suppress("gone@example.se", "unsubscribe", scope="newsletter", channel="email"))
        # One purpose on email: blocks a stream that sends every purpose, not one that sends only events.
        suppress("news@example.se", "unsubscribe", scope="newsletter", channel="email")
        # Blocked for SMS only: nothing to do with an email provider's list.
        suppress("sms@example.se", "objection", channel="sms")
        # Erased: no address any more, still blocked by hash, and flagged for deletion.
        recorded = api.post("/v1/events", json={
            "subject": {"email": "erased@example.se"}, "type": "consent_given", "purpose": "newsletter",
            "proof": {"notice_version": "2026-03"},
        })  # fmt: skip
        recorded.raise_for_status()
        api.request("DELETE", f"/v1/subjects/{recorded.json()['subject_id']}", json={}).raise_for_status()

        every = Provider(external_server, tenant, workdir / "every.cursor")
        only_events = Provider(external_server, tenant, workdir / "events.cursor", CONSENT_SYNC_SCOPES="events")
        plain = Provider(external_server, tenant, workdir / "plain.cursor", CONSENT_SYNC_FORMAT="plain")
        for provider in (every, only_events, plain):
            provider.sync()

        assert every.block_list() == {sha("both@example.se"), sha("news@example.se"), sha("erased@example.se")}
        assert only_events.block_list() == {sha("both@example.se"), sha("erased@example.se")}
        assert sha("gone@example.se") in every.blocked  # told to unblock, not left out
        assert sha("sms@example.se") not in every.block_list()  # blocked for SMS only
        erased = [line for line in every.lines if line["sha256"] == sha("erased@example.se")]
        assert erased
        assert all(line.get("erased") is True and "email" not in line for line in erased)
        assert {line.get("email") for line in plain.lines if line["sha256"] == sha("both@example.se")} == {
            "both@example.se"
        }

        # A second run repeats nothing; later changes arrive, folded the same way.
        assert every.sync() == []
        lift(suppress("gone@example.se", "manual"))
        [complaint] = [
            entry["id"]
            for entry in api.get("/v1/suppressions", params={"email": "both@example.se"}).json()["items"]
            if entry["reason"] == "complaint"
        ]
        lift(complaint)
        every.sync()
        assert every.block_list() == {sha("news@example.se"), sha("erased@example.se")}
        # The fold agrees with the decisions the service answers.
        for email, suppressed in [("both@example.se", False), ("news@example.se", True), ("gone@example.se", False)]:
            decision = api.get("/v1/decisions", params={"email": email, "purpose": "newsletter", "channel": "email"})
            assert (decision.json()["reason"] == "suppressed") is suppressed, (email, decision.json())
