"""The retention sweep against the database, with a fixed clock: dry run equals real run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from consent_svc.domain.errors import Conflict
from consent_svc.service import ledger, retention
from consent_svc.service.context import Context
from tests.conftest import NEWSLETTER, Tenant, ok, subject_id_of

NOW = datetime.now(UTC)
LI = {**NEWSLETTER, "legal_basis": "legitimate_interest", "channels": ["email", "post"], "retention_days": 0}


def ago(d: int) -> str:
    return (NOW - timedelta(days=d)).isoformat()


async def test_sweep_dry_run_equals_real_run(client: httpx.AsyncClient, ctx: Context, tenant: Tenant) -> None:
    ok(await client.put("/v1/purposes/newsletter", json={**NEWSLETTER, "retention_days": 180}, headers=tenant.auth()))
    ok(await client.put("/v1/purposes/offers", json=LI, headers=tenant.auth()))
    events = [
        # old lead, window over: swept
        {
            "subject": {"email": "old.lead@example.se", "kind": "business_contact"},
            "type": "lead_activity",
            "occurred_at": ago(800),
        },
        # recent lead: kept
        {
            "subject": {"email": "new.lead@example.se", "kind": "business_contact"},
            "type": "lead_activity",
            "occurred_at": ago(100),
        },
        # withdrew 200 days ago, no relationship: swept (and their complaint entry stays as a keyed hash)
        {
            "subject": {"email": "gone@example.se"},
            "type": "consent_given",
            "purpose": "newsletter",
            "proof": {"notice_version": "2026-03"},
            "occurred_at": ago(400),
        },
        {
            "subject": {"email": "gone@example.se"},
            "type": "consent_withdrawn",
            "purpose": "newsletter",
            "occurred_at": ago(200),
        },
        # subscribed: kept
        {
            "subject": {"email": "reader@example.se"},
            "type": "consent_given",
            "purpose": "newsletter",
            "proof": {"notice_version": "2026-03"},
            "occurred_at": ago(30),
        },
    ]
    assert (await client.post("/v1/events/batch", json={"events": events}, headers=tenant.auth())).status_code == 201
    ok(
        await client.post(
            "/v1/suppressions", json={"email": "gone@example.se", "reason": "complaint"}, headers=tenant.auth()
        )
    )

    fixed = dataclasses.replace(ctx, clock=lambda: NOW)
    dry = await retention.sweep_tenant(fixed, tenant.id, tenant.name, dry_run=True)
    assert (dry.scanned, dry.swept) == (4, 2)
    assert dry.counts == {
        "newsletter/withdrawn": 1,
        "offers/no_eprivacy_consent": 1,
        "newsletter/no_consent": 1,
        "offers/li_window_expired": 1,
    }
    for email in ("old.lead@example.se", "gone@example.se"):  # nothing removed by a dry run
        assert await subject_id_of(client, tenant, email=email) is not None

    real = await retention.sweep_tenant(fixed, tenant.id, tenant.name, dry_run=False)
    assert (real.scanned, real.swept, real.counts) == (dry.scanned, dry.swept, dry.counts)
    assert sorted(real.subjects) == sorted(dry.subjects)
    for email, kept_person in (
        ("old.lead@example.se", False),
        ("gone@example.se", False),
        ("new.lead@example.se", True),
        ("reader@example.se", True),
    ):
        assert (await subject_id_of(client, tenant, email=email) is not None) is kept_person, email
    async with ctx.pool.acquire() as conn:
        kept = await conn.fetch("SELECT reason, value FROM suppressions WHERE tenant_id = $1", tenant.id)
        runs = await conn.fetch(
            "SELECT dry_run, swept FROM sweep_runs WHERE tenant_id = $1 ORDER BY started_at", tenant.id
        )
    assert [(r["reason"], r["value"]) for r in kept] == [("complaint", None)]  # the keyed hash stays
    assert [(r["dry_run"], r["swept"]) for r in runs] == [(True, 2), (False, 2)]
    answer = (
        await client.get(
            "/v1/decisions",
            params={"purpose": "newsletter", "channel": "email", "email": "gone@example.se"},
            headers=tenant.auth(),
        )
    ).json()
    assert answer["reason"] == "suppressed"
    assert (await ledger.verify(ctx, tenant.id)).ok


async def test_two_sweeps_of_one_tenant_do_not_run_at_once(ctx: Context, tenant: Tenant) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", retention._lock_key(tenant.id))  # another replica
        try:
            with pytest.raises(Conflict):
                await retention.sweep_tenant(ctx, tenant.id, tenant.name, dry_run=False)
            # dry_run: the shared test database holds every other test's tenants too.
            assert [r for r in await retention.sweep_all(ctx, dry_run=True) if r.tenant == tenant.name] == []
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", retention._lock_key(tenant.id))
    report = await retention.sweep_tenant(ctx, tenant.id, tenant.name, dry_run=True)
    assert report.scanned == 0
