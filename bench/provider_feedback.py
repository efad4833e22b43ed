"""Provider feedback throughput: a SendGrid Event Webhook batch verified (ECDSA P-256) and read,
and, with ``--apply``, verified and applied through ``POST /in/{id}`` against PostgreSQL.

    .venv/bin/python bench/provider_feedback.py [--events 1000] [--rounds 50] [--apply]

Builds a batch of ``--events`` SendGrid events shaped like the published sample
(bounces, spam reports, unsubscribes, group un/resubscribes, deliveries, opens;
distinct addresses), signs it with a fresh P-256 key as SendGrid does
(timestamp + raw body), then times ``consent_svc.integrations.receive`` on it:
signature check, JSON decoding of each event, address normalization, mapping.
Reports the median of ``--rounds`` runs in events/s, the first (cold address
cache) run apart, and, as a baseline, ``json.loads`` of the same body alone.

``--apply`` starts an embedded PostgreSQL, makes a tenant with a newsletter purpose
and a SendGrid integration (groups 10-12 mapped to it), and posts each signed batch
to ``POST /in/{id}`` of the ASGI app in process (httpx's ASGI transport: no socket),
so each round is the whole request: the signature check, reading the events, and
one transaction that records them once (the idempotency rows), the ledger events,
the suppression entries and the feedback log. Reports the median of ``--rounds``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consent_svc.integrations import InboundRequest, SendGridSettings, receive

KINDS = ["bounce", "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe", "delivered", "open"]


def batch(size: int, timestamp: int, offset: int) -> bytes:
    events = []
    for i in range(size):
        kind = KINDS[i % len(KINDS)]
        event: dict[str, object] = {
            "email": f"person{offset + i}@example.com",
            "timestamp": timestamp,
            "smtp-id": f"<14c5d75ce93.dfd.{i}@ismtpd-555>",
            "event": kind,
            "category": "cat facts",
            "sg_event_id": f"{offset + i:012d}-evt",
            "sg_message_id": f"14c5d75ce93.dfd.64b469.filter0001.{i}.0",
        }
        if kind == "bounce":
            event.update(type="bounce", reason="500 unknown recipient", status="5.0.0", bounce_classification="invalid")
        if kind.startswith("group_"):
            event["asm_group_id"] = 10 + i % 3
        events.append(event)
    return json.dumps(events).encode()


async def applied(events: int, rounds: int) -> None:
    import dataclasses
    import tempfile
    import uuid

    import httpx
    import msgspec

    from consent_svc.domain.identifiers import Hasher
    from consent_svc.http.app import create_app
    from consent_svc.runtime import prepare_database
    from consent_svc.service import integrations, purposes, tenants
    from consent_svc.service.context import Context
    from consent_svc.service.inputs import IntegrationIn, PurposeIn
    from consent_svc.store import db
    from consent_svc.store.embedded import EmbeddedPostgres
    from tests.conftest import NEWSLETTER, TEST_PEPPER, test_settings

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    tmp = Path(tempfile.mkdtemp(prefix="consent-bench-feedback-"))
    embedded = EmbeddedPostgres(tmp / "data")
    dsn = embedded.start()
    try:
        await prepare_database(dsn, Hasher(TEST_PEPPER), migrate=True)
        pool = await db.create_pool(dsn)
        ctx = Context(settings=dataclasses.replace(test_settings()), pool=pool, hasher=Hasher(TEST_PEPPER))
        tenant = await tenants.create_tenant(ctx, "f" + uuid.uuid4().hex[:6])
        await purposes.put(ctx, tenant.id, "newsletter", msgspec.convert(NEWSLETTER, PurposeIn))
        body = {"provider": "sendgrid", "name": "bench", "purposes": {"10": "newsletter", "11": "newsletter",
                "12": "newsletter"}, "settings": {"verification_key": base64.b64encode(public).decode()}}  # fmt: skip
        view = await integrations.create(ctx, tenant.id, msgspec.convert(body, IntegrationIn))
        timings: list[float] = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://b") as client:
            for round_ in range(rounds + 1):
                timestamp = int(time.time())
                payload = batch(events, timestamp, round_ * events)
                signature = base64.b64encode(key.sign(str(timestamp).encode() + payload, ec.ECDSA(hashes.SHA256())))
                headers = {
                    "X-Twilio-Email-Event-Webhook-Signature": signature.decode(),
                    "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
                }
                started = time.perf_counter()
                answer = await client.post(f"/in/{view.row.id}", content=payload, headers=headers)
                elapsed = time.perf_counter() - started
                assert answer.status_code == 200, answer.text
                if round_:  # the first round warms the statement caches
                    timings.append(elapsed)
                applied_count = answer.json()["applied"]
            # Baseline: about as many ledger events through POST /v1/events/batch (one objection per
            # person), what the feedback's events cost without verification, idempotency or entries.
            _, key_text = await tenants.create_key(ctx, tenant.name, "record")
            baseline: list[float] = []
            for round_ in range(max(3, rounds // 5)):
                items = [{"subject": {"email": f"base{round_}-{i}@example.com"}, "type": "objection"}
                         for i in range(applied_count)]  # fmt: skip
                started = time.perf_counter()
                answer = await client.post("/v1/events/batch", json={"events": items},
                                           headers={"Authorization": f"Bearer {key_text}"})  # fmt: skip
                baseline.append(time.perf_counter() - started)
                assert answer.status_code == 201, answer.text
        median = statistics.median(timings)
        print(f"POST /in/{{id}}: SendGrid batch of {events} events ({applied_count} applied), {rounds} rounds")
        print(f"  verify + apply, median: {median * 1000:.1f} ms = {events / median:,.0f} events/s")
        print(f"  p95: {sorted(timings)[max(0, int(len(timings) * 0.95) - 1)] * 1000:.1f} ms")
        print(f"  baseline POST /v1/events/batch of {applied_count} objections, median: "
              f"{statistics.median(baseline) * 1000:.1f} ms")  # fmt: skip
        await pool.close()
    finally:
        embedded.release()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--apply", action="store_true", help="also through POST /in/{id} against PostgreSQL")
    args = parser.parse_args()
    if args.apply:
        await applied(args.events, args.rounds)
        return

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    settings = SendGridSettings(verification_key=base64.b64encode(public).decode())
    now = datetime.now(UTC)
    timestamp = str(int(now.timestamp()))

    def signed(body: bytes) -> InboundRequest:
        signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        headers = {
            "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }
        return InboundRequest(url="https://consent.example/in/1", headers=headers, body=body)

    timings: list[float] = []
    cold = 0.0
    baseline: list[float] = []
    feedback = 0
    for round_ in range(args.rounds + 1):
        # New addresses every round: the address cache is warm only where a real stream repeats people.
        request = signed(batch(args.events, int(timestamp), round_ * args.events))
        started = time.perf_counter()
        inbound = await receive(settings, request, now=now)
        elapsed = time.perf_counter() - started
        feedback = len(inbound.feedback)
        assert feedback + len(inbound.ignored) == args.events
        if round_ == 0:
            cold = elapsed
        else:
            timings.append(elapsed)
        started = time.perf_counter()
        json.loads(request.body)
        baseline.append(time.perf_counter() - started)

    median = statistics.median(timings)
    print(f"SendGrid batch of {args.events} events ({feedback} with feedback), {args.rounds} rounds")
    print(f"  verify + read, median: {median * 1000:.2f} ms = {args.events / median:,.0f} events/s")
    print(f"  verify + read, first round: {cold * 1000:.2f} ms = {args.events / cold:,.0f} events/s")
    print(f"  baseline json.loads alone, median: {statistics.median(baseline) * 1000:.2f} ms")
    print(f"  p95: {sorted(timings)[int(len(timings) * 0.95) - 1] * 1000:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
