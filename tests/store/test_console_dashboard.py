"""The dashboard's window over the ledger (store/dashboard.py): the binary search for where the
last weeks start, and the uuid7 floor of the banner receipts."""

from __future__ import annotations

import uuid
from datetime import timedelta

from consent_svc.domain.ids import uuid7, uuid7_floor
from consent_svc.service import events
from consent_svc.service.context import Context
from consent_svc.service.inputs import EventIn, SubjectRef
from consent_svc.store import dashboard
from tests.conftest import Tenant


async def test_the_window_starts_at_the_first_event_recorded_since(ctx: Context, tenant: Tenant) -> None:
    for i in range(7):
        await events.record(ctx, tenant.id, [EventIn(subject=SubjectRef(email=f"w{i}@example.se"), type="purchase")])
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT seq, recorded_at FROM events WHERE tenant_id = $1 ORDER BY seq", tenant.id)
        assert len(rows) == 7
        for i, row in enumerate(rows):
            # The first position at or after which everything was recorded since row i: row i itself,
            # or a number between row i-1 and row i (the seqs of one tenant are not contiguous).
            found = await dashboard.first_seq_since(conn, tenant.id, row["recorded_at"])
            assert found is not None
            assert (rows[i - 1]["seq"] if i else 0) < found <= row["seq"]
        assert await dashboard.first_seq_since(conn, tenant.id, rows[-1]["recorded_at"] + timedelta(seconds=1)) is None
        nobody = uuid.uuid4()
        assert await dashboard.first_seq_since(conn, nobody, rows[0]["recorded_at"]) is None


def test_a_uuid7_floor_sorts_below_every_id_of_its_millisecond_and_after() -> None:
    made = uuid7()
    ms = made.int >> 80
    assert uuid7_floor(ms) <= made
    assert uuid7_floor(ms + 1) > made
    assert uuid7_floor(ms).version == 7
