"""Migration 0010 replays each purpose's stored versions into notice_versions and notice_deadlines."""

from __future__ import annotations

from typing import Any

import msgspec

from consent_svc.domain.models import PurposeConfig
from consent_svc.service.context import Context
from consent_svc.store.migrations import sql_dir
from tests.conftest import NEWSLETTER, Tenant

D1 = "2026-01-01T00:00:00Z"
D2 = "2026-06-01T00:00:00Z"


def _replay_block() -> str:
    text = (sql_dir() / "0010_rules_v2.sql").read_text()
    return text[text.index("DO $$") :]


async def _history(ctx: Context, tenant: Tenant, key: str, versions: list[dict[str, Any]]) -> dict[str, Any]:
    """Store a purpose with these v1 configurations (no notice fields), run the replay, read the result."""
    configs = [{**NEWSLETTER, "key": key, "version": i + 1, **v} for i, v in enumerate(versions)]
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO purposes (tenant_id, key, version, config) VALUES ($1, $2, $3, $4)",
            tenant.id,
            key,
            len(configs),
            configs[-1],
        )
        for c in configs:
            await conn.execute(
                "INSERT INTO purpose_versions (tenant_id, key, version, config) VALUES ($1, $2, $3, $4)",
                tenant.id,
                key,
                c["version"],
                c,
            )
        await conn.execute(_replay_block())
        stored = await conn.fetchval("SELECT config FROM purposes WHERE tenant_id = $1 AND key = $2", tenant.id, key)
    return dict(stored)


def _deadlines(config: dict[str, Any]) -> dict[str, str]:
    """The deadlines as the service reads them (the stored configuration converts to a PurposeConfig)."""
    parsed = msgspec.convert(config, PurposeConfig)
    return {k: v.isoformat().replace("+00:00", "Z") for k, v in parsed.notice_deadlines.items()}


async def test_no_change(ctx: Context, tenant: Tenant) -> None:
    stored = await _history(ctx, tenant, "a", [{"notice_version": "1"}, {"notice_version": "2"}])
    assert (stored["notice_versions"], stored["notice_deadlines"]) == (["1", "2"], {})


async def test_one_change_with_a_new_notice(ctx: Context, tenant: Tenant) -> None:
    stored = await _history(
        ctx,
        tenant,
        "b",
        [
            {"notice_version": "1"},
            {"notice_version": "2"},
            {"notice_version": "3", "reconsent_required_before": D1},
            {"notice_version": "3", "reconsent_required_before": D1, "title": {"sv": "Ny", "en": "New"}},
        ],
    )
    assert stored["notice_versions"] == ["1", "2", "3"]
    assert _deadlines(stored) == {"1": D1, "2": D1}


async def test_a_v1_change_without_a_new_notice_supersedes_the_current_one(ctx: Context, tenant: Tenant) -> None:
    stored = await _history(
        ctx,
        tenant,
        "c",
        [
            {"notice_version": "1"},
            {"notice_version": "1", "reconsent_required_before": D1},
        ],
    )
    assert _deadlines(stored) == {"1": D1}


async def test_a_moved_deadline_and_a_second_change(ctx: Context, tenant: Tenant) -> None:
    stored = await _history(
        ctx,
        tenant,
        "d",
        [
            {"notice_version": "1"},
            {"notice_version": "2", "reconsent_required_before": D2},
            {"notice_version": "2", "reconsent_required_before": D1},  # moved earlier
            {"notice_version": "3", "reconsent_required_before": D2},  # a second change
        ],
    )
    assert _deadlines(stored) == {"1": D1, "2": D2}


async def test_a_withdrawn_change(ctx: Context, tenant: Tenant) -> None:
    stored = await _history(
        ctx,
        tenant,
        "e",
        [
            {"notice_version": "1"},
            {"notice_version": "2", "reconsent_required_before": D2},
            {"notice_version": "2"},
        ],
    )
    assert _deadlines(stored) == {}
