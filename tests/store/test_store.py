"""Store behaviour against a real PostgreSQL: migrations, idempotency under concurrency, an append-only ledger."""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from consent_svc.domain import facts as facts_mod
from consent_svc.domain.errors import Conflict
from consent_svc.domain.identifiers import Hasher
from consent_svc.domain.ids import uuid7_many
from consent_svc.domain.models import Ref
from consent_svc.service import events
from consent_svc.service.context import Context
from consent_svc.service.inputs import EventIn, Proof, SubjectRef
from consent_svc.store import events as event_store
from consent_svc.store import migrations
from consent_svc.store import subjects as subject_store
from tests.conftest import NEWSLETTER, TEST_PEPPER, Tenant, create_database, drop_database


async def test_migrations_apply_to_an_empty_database_once(server_dsn: str) -> None:
    dsn = await create_database(server_dsn)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            # Two runners at once (two replicas starting): each file applied exactly once.
            other = await asyncpg.connect(dsn)
            first, second = await asyncio.gather(migrations.migrate(conn), migrations.migrate(other))
            await other.close()
            assert sorted(first + second) == [m.name for m in migrations.load()]
            assert await migrations.status(conn) == []
            assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(migrations.load())
        finally:
            await conn.close()
    finally:
        await drop_database(server_dsn, dsn)


async def test_a_changed_migration_file_is_refused(server_dsn: str, tmp_path: Path) -> None:
    dsn = await create_database(server_dsn)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            files = migrations.load()
            await migrations.migrate(conn, files)
            changed = [*files[:-1], migrations.Migration(files[-1].version, files[-1].name, "SELECT 1", "0" * 64)]
            with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
                await migrations.migrate(conn, changed)
        finally:
            await conn.close()
    finally:
        await drop_database(server_dsn, dsn)


async def _purpose(ctx: Context, tenant: Tenant) -> None:
    import msgspec

    from consent_svc.service import purposes
    from consent_svc.service.inputs import PurposeIn

    await purposes.put(ctx, tenant.id, "newsletter", msgspec.convert(NEWSLETTER, PurposeIn))


def _consent(email: str, key: str | None = None) -> EventIn:
    return EventIn(
        subject=SubjectRef(email=email),
        type="consent_given",
        purpose="newsletter",
        proof=Proof(notice_version="2026-03"),
        idempotency_key=key,
    )


async def test_concurrent_duplicates_with_one_idempotency_key_write_once(ctx: Context, tenant: Tenant) -> None:
    await _purpose(ctx, tenant)
    item = _consent("dup@example.se", "form-123")
    results = await asyncio.gather(*(events.record(ctx, tenant.id, [item]) for _ in range(8)))
    ids = {r[0].event_id for r in results}
    assert len(ids) == 1
    assert sum(r[0].created for r in results) == 1
    async with ctx.pool.acquire() as conn:
        count = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant.id)
    assert count == 1


async def test_concurrent_first_writes_make_one_subject(ctx: Context, tenant: Tenant) -> None:
    """The peer's fault: parallel first writes for a new person duplicated rows."""
    await _purpose(ctx, tenant)
    results = await asyncio.gather(*(events.record(ctx, tenant.id, [_consent("new@example.se")]) for _ in range(8)))
    assert len({r[0].subject_id for r in results}) == 1
    async with ctx.pool.acquire() as conn:
        subjects = await conn.fetchval("SELECT count(*) FROM subjects WHERE tenant_id = $1", tenant.id)
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant.id)
    assert subjects == 1
    assert stored == 8  # equal events are all kept: no silent drop


async def test_concurrent_first_writes_with_different_identifiers_make_one_person(ctx: Context, tenant: Tenant) -> None:
    """A new person's first statement claims all their identifiers or none. Racing writers that name
    the same new address, some with a phone too, end with one subject holding both; a writer that
    got only part of the identifiers (its phone, another the address) is refused whole (409)."""
    await _purpose(ctx, tenant)

    def item(with_phone: bool) -> EventIn:
        subject = SubjectRef(email="race@example.se", phone="+46701112233" if with_phone else None)
        return EventIn(subject=subject, type="consent_given", purpose="newsletter",
                       proof=Proof(notice_version="2026-03"))  # fmt: skip

    outcomes = await asyncio.gather(
        *(events.record(ctx, tenant.id, [item(i % 2 == 1)]) for i in range(12)), return_exceptions=True
    )
    written = [o[0] for o in outcomes if not isinstance(o, BaseException)]
    assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException))
    assert written
    async with ctx.pool.acquire() as conn:
        subjects = await conn.fetch("SELECT id FROM subjects WHERE tenant_id = $1", tenant.id)
        owners = await conn.fetch("SELECT DISTINCT subject_id FROM subject_identifiers WHERE tenant_id = $1", tenant.id)
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant.id)
    assert len(subjects) == 1
    assert [r["subject_id"] for r in owners] == [subjects[0]["id"]]
    assert {w.subject_id for w in written} == {subjects[0]["id"]}
    assert stored == len(written)


async def test_a_single_event_is_two_statements_and_a_replay_one(ctx: Context, tenant: Tenant) -> None:
    """Between BEGIN and COMMIT, a new person's consent: the first statement (the tenant's context,
    the idempotency key, who has the identifiers; the new person's identifiers claimed and the event
    appended), then the subject with its folded facts. The same key again: the first statement finds
    the event, and nothing is written. The known person's withdrawal: the first statement locks them
    and appends it, then their facts. The facts equal a fold of the ledger."""
    await _purpose(ctx, tenant)
    statements: list[int] = []
    count = 0

    def log(record: Any) -> None:
        nonlocal count
        if record.query.strip().rstrip(";").upper() not in ("BEGIN", "COMMIT"):
            count += 1

    consent = _consent("fresh@example.se", "k-fresh")
    withdrawal = EventIn(subject=SubjectRef(email="Fresh@example.se"), type="consent_withdrawn", purpose="newsletter")
    async with ctx.pool.acquire() as conn:
        conn.add_query_logger(log)
        try:
            for item in (consent, consent, withdrawal):
                count = 0
                async with conn.transaction():
                    [result] = await events.record_in(conn, ctx, tenant.id, [item])
                statements.append(count)
        finally:
            conn.remove_query_logger(log)
        subject = await conn.fetchrow("SELECT id, kind, facts FROM subjects WHERE tenant_id = $1", tenant.id)
        owner = await conn.fetchval("SELECT subject_id FROM subject_identifiers WHERE tenant_id = $1", tenant.id)
        ledger = await event_store.events_to_fold(conn, tenant.id, [owner])
    assert statements == [2, 1, 2]
    assert subject is not None
    assert owner == subject["id"] == result.subject_id
    refolded = facts_mod.Facts()
    for e in ledger:
        facts_mod.fold(refolded, e.type, e.purpose, e.channels, Ref(e.id, e.occurred_at, e.seq, e.notice_version),
                       confirmed=e.confirmed)  # fmt: skip
    assert facts_mod.decode(subject["facts"]) == refolded
    assert [e.type for e in ledger] == ["consent_given", "consent_withdrawn"]


async def test_an_event_for_a_person_erased_meanwhile_is_a_conflict(ctx: Context, tenant: Tenant) -> None:
    """The person is deleted by a transaction that commits while this one waits for their row: the
    event is refused as a conflict (409: nothing written), not a fault (it was a KeyError, a 500)."""
    await _purpose(ctx, tenant)
    [first] = await events.record(ctx, tenant.id, [_consent("gone@example.se")])
    async with ctx.pool.acquire() as eraser:
        transaction = eraser.transaction()
        await transaction.start()
        await eraser.execute(
            "SELECT 1 FROM subjects WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant.id, first.subject_id
        )
        await eraser.execute(
            "DELETE FROM subject_identifiers WHERE tenant_id = $1 AND subject_id = $2", tenant.id, first.subject_id
        )
        await eraser.execute("DELETE FROM subjects WHERE tenant_id = $1 AND id = $2", tenant.id, first.subject_id)
        withdrawal = EventIn(subject=SubjectRef(email="gone@example.se"), type="consent_withdrawn")
        waiting = asyncio.ensure_future(events.record(ctx, tenant.id, [withdrawal]))
        await asyncio.sleep(0.5)  # the withdrawal has read who has the address and waits for the row
        assert not waiting.done()
        await transaction.commit()
    with pytest.raises(Conflict, match="erased"):
        await waiting
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant.id) == 1


async def test_concurrent_large_batches_of_the_same_new_people_make_one_subject_each(
    ctx: Context, tenant: Tenant
) -> None:
    """Batches large enough to write new people with COPY (store.subjects.COPY_FROM_ROWS), naming
    the same new people in different orders at once: each person is one subject, the batches
    that lost the race attach their events to it, nothing is dropped."""
    await _purpose(ctx, tenant)
    people = [f"crowd{i}@example.se" for i in range(3 * subject_store.COPY_FROM_ROWS // 2)]
    orders = [people, people[::-1], people[1::2] + people[::2], people]
    results = await asyncio.gather(
        *(events.record(ctx, tenant.id, [_consent(e) for e in order], batch=True) for order in orders)
    )
    owner: dict[str, set[UUID]] = {}
    for order, batch in zip(orders, results, strict=True):
        for email, result in zip(order, batch, strict=True):
            owner.setdefault(email, set()).add(result.subject_id)
    assert all(len(subjects) == 1 for subjects in owner.values())
    async with ctx.pool.acquire() as conn:
        subjects = await conn.fetchval("SELECT count(*) FROM subjects WHERE tenant_id = $1", tenant.id)
        identifiers = await conn.fetchval("SELECT count(*) FROM subject_identifiers WHERE tenant_id = $1", tenant.id)
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant.id)
        facts = {
            r["id"]: r["facts"]
            for r in await conn.fetch("SELECT id, facts FROM subjects WHERE tenant_id = $1", tenant.id)
        }
        ledger = await event_store.events_to_fold(conn, tenant.id, list(facts))
    assert subjects == identifiers == len(people)
    assert stored == len(people) * len(orders)
    # Every batch's consent is folded into its person's facts, whichever batch created them:
    # the stored facts are the fold of the person's whole ledger.
    refolded = {sid: facts_mod.Facts() for sid in facts}
    for row in ledger:
        ref = Ref(row.id, row.occurred_at, row.seq, row.notice_version)
        facts_mod.fold(refolded[row.subject_id], row.type, row.purpose, row.channels, ref, confirmed=row.confirmed)
    assert {sid: facts_mod.decode(raw) for sid, raw in facts.items()} == refolded


async def test_the_ledger_cannot_be_changed(ctx: Context, tenant: Tenant) -> None:
    await _purpose(ctx, tenant)
    [result] = await events.record(ctx, tenant.id, [_consent("ledger@example.se")])
    # The store offers no way to change or remove an event ...
    names = [n for n, _ in inspect.getmembers(event_store, inspect.iscoroutinefunction)]
    assert not [n for n in names if n.startswith(("update_event", "delete", "remove"))]
    # ... and the database refuses it even to direct SQL.
    async with ctx.pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("UPDATE events SET type = 'objection' WHERE id = $1", result.event_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM events WHERE id = $1", result.event_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("TRUNCATE events CASCADE")


async def test_no_plaintext_identifier_in_lookup_keys(ctx: Context, tenant: Tenant) -> None:
    await _purpose(ctx, tenant)
    await events.record(ctx, tenant.id, [_consent("Secret.Person@Example.se")])
    expected = Hasher(TEST_PEPPER).key(
        events.subject_identifiers(SubjectRef(email="secret.person@example.se"), "SE", "s")[0]
    )
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT hash, value FROM subject_identifiers WHERE tenant_id = $1", tenant.id)
    assert row["hash"] == expected
    assert row["value"] == "secret.person@example.se"


def _new_events(ids: list[UUID], subject_ids: list[UUID], key: str | None = None) -> list[event_store.NewEvent]:
    """Events of every shape the ledger holds (types, purposes, channels, proofs, kinds)."""
    kinds = ("consumer", "sole_trader", None)
    return [
        event_store.NewEvent(
            id=event_id,
            subject_id=subject_id,
            type=("consent_given", "consent_withdrawn", "purchase", "objection")[i % 4],
            purpose=("newsletter", None)[i % 2],
            channels=(("email",), (), ("email", "sms"))[i % 3],
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
            source="api",
            proof={"notice_version": "2026-03", "ip": f"10.0.0.{i % 250}"} if i % 2 else {},
            idempotency_key=f"{key}-{i}" if key else None,
            fingerprint=bytes([i % 256]) * 32 if key else None,
            subject_kind=kinds[i % 3],
        )
        for i, (event_id, subject_id) in enumerate(zip(ids, subject_ids, strict=True))
    ]


_STORED = (
    "SELECT id, seq, recorded_at, subject_id, type, purpose, channels, occurred_at, source, proof, "
    "idempotency_key, fingerprint, subject_kind FROM events WHERE tenant_id = $1 AND id = ANY($2::uuid[])"
)


async def test_a_large_batch_without_keys_is_copied_and_reads_back_what_the_insert_does(
    ctx: Context, tenant: Tenant
) -> None:
    """From store.events.COPY_FROM_ROWS events without idempotency keys the ledger is written with
    COPY and seq and recorded_at are read back by a range of ids: the rows and the answer must be
    those of the INSERT (seq in the order given, recorded_at the transaction's now()), and an event
    another writer committed meanwhile with an id inside the batch's range is not taken for ours."""
    n = event_store.COPY_FROM_ROWS + 21
    subject_ids = uuid7_many(n)
    copied_ids = uuid7_many(n + 1)
    outsider = copied_ids.pop(n // 2)
    inserted_ids = uuid7_many(n)
    # The same content, written once each way; the INSERT chosen by keys that are then compared away.
    copied_events = _new_events(copied_ids, subject_ids)
    inserted_events = _new_events(inserted_ids, subject_ids, key="k")
    answers = []
    async with ctx.pool.acquire() as conn, ctx.pool.acquire() as other:
        for batch in (copied_events, inserted_events):
            async with conn.transaction():
                await conn.execute("SELECT 1")  # the transaction (and its now()) starts before the outsider
                if batch is copied_events:
                    await event_store.insert_events(other, tenant.id, _new_events([outsider], subject_ids[:1]))
                answer = await event_store.insert_events(conn, tenant.id, batch, frozenset())
                now = await conn.fetchval("SELECT now()")
            rows = await conn.fetch(_STORED, tenant.id, [e.id for e in batch])
            by_id = {r["id"]: r for r in rows}
            assert sorted(answer) == sorted(e.id for e in batch)
            assert all(answer[e.id] == event_store.InsertedEvent(e.id, by_id[e.id]["seq"], now) for e in batch)
            seqs = [answer[e.id].seq for e in batch]
            assert seqs == sorted(seqs)
            assert len(set(seqs)) == n
            answers.append([{k: v for k, v in by_id[e.id].items() if k not in ("id", "seq")} for e in batch])
    copied_rows, inserted_rows = answers
    for copied, inserted in zip(copied_rows, inserted_rows, strict=True):
        assert inserted.pop("idempotency_key") is not None
        assert inserted.pop("fingerprint") is not None
        assert copied.pop("idempotency_key") is None
        assert copied.pop("fingerprint") is None
        copied.pop("recorded_at")
        inserted.pop("recorded_at")
    assert copied_rows == inserted_rows


async def _refolded(conn: asyncpg.Connection, tenant_id: UUID) -> tuple[dict[UUID, Any], dict[UUID, Any]]:
    """The stored facts of every subject of the tenant, and the fold of each one's ledger."""
    stored = {
        r["id"]: facts_mod.decode(r["facts"])
        for r in await conn.fetch("SELECT id, facts FROM subjects WHERE tenant_id = $1", tenant_id)
    }
    refolded = {sid: facts_mod.Facts() for sid in stored}
    for row in await event_store.events_to_fold(conn, tenant_id, list(stored)):
        ref = Ref(row.id, row.occurred_at, row.seq, row.notice_version)
        facts_mod.fold(refolded[row.subject_id], row.type, row.purpose, row.channels, ref, confirmed=row.confirmed)
    return stored, refolded


async def test_large_batches_keep_order_messages_fold_and_idempotency(ctx: Context, tenant: Tenant) -> None:
    """A batch large enough for COPY (no idempotency keys) and one with keys (INSERT .. ON CONFLICT):
    answers in order, one webhook message per consent with the address, the stored facts the fold
    of the ledger (people named twice in a batch, people known before), the fingerprint kept only
    where a key needs it, a key replayed answering the first result and a reused key refused."""
    await _purpose(ctx, tenant)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO webhooks (tenant_id, id, url, events, secret) VALUES ($1, $2, 'http://127.0.0.1:9/h', "
            "'{consent.given}', 's')",
            tenant.id,
            uuid7_many(1)[0],
        )
    [known] = await events.record(ctx, tenant.id, [_consent("known@example.se")])
    n = event_store.COPY_FROM_ROWS + 30
    people = [f"p{i}@example.se" for i in range(n)]
    withdrawn = EventIn(subject=SubjectRef(email="p3@example.se"), type="consent_withdrawn", purpose="newsletter")
    batch = [_consent(e) for e in people] + [withdrawn, _consent("known@example.se"), _consent("p3@example.se")]
    results = await events.record(ctx, tenant.id, batch, batch=True)
    assert all(r.created for r in results)
    assert results[-2].subject_id == known.subject_id
    assert results[3].subject_id == results[n].subject_id == results[-1].subject_id
    assert len({r.subject_id for r in results}) == n + 1
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, seq, recorded_at, fingerprint FROM events WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
            tenant.id,
            [r.event_id for r in results],
        )
        by_id = {r["id"]: r for r in rows}
        seqs = [by_id[r.event_id]["seq"] for r in results]
        assert seqs == sorted(seqs)
        assert [by_id[r.event_id]["recorded_at"] for r in results] == [r.recorded_at for r in results]
        assert all(r["fingerprint"] is None for r in rows)
        sent = await conn.fetch(
            "SELECT subject_key, payload FROM outbox WHERE tenant_id = $1 AND event_type = 'consent.given' "
            "ORDER BY seq",
            tenant.id,
        )
        stored, refolded = await _refolded(conn, tenant.id)
    consents = [(item, r) for item, r in zip(batch, results, strict=True) if item.type == "consent_given"]
    assert [m["payload"]["event_id"] for m in sent[1:]] == [str(r.event_id) for _, r in consents]
    assert [m["payload"]["email"] for m in sent[1:]] == [item.subject.email for item, _ in consents]
    assert stored == refolded
    assert len(stored) == n + 1

    keyed = [_consent(f"k{i}@example.se", key=f"key-{i}") for i in range(n)] + [_consent("k0@example.se", key="key-0")]
    first = await events.record(ctx, tenant.id, keyed, batch=True)
    assert first[-1] == events.EventResult(first[0].event_id, first[0].subject_id, first[0].recorded_at, False)
    again = await events.record(ctx, tenant.id, keyed, batch=True)
    assert [r.event_id for r in again] == [r.event_id for r in first]
    assert not any(r.created for r in again)
    async with ctx.pool.acquire() as conn:
        fingerprints = await conn.fetch(
            "SELECT fingerprint FROM events WHERE tenant_id = $1 AND idempotency_key IS NOT NULL", tenant.id
        )
        stored, refolded = await _refolded(conn, tenant.id)
    assert len(fingerprints) == n
    assert all(r["fingerprint"] is not None for r in fingerprints)
    assert stored == refolded
    changed = [
        *keyed[:-1],
        EventIn(subject=SubjectRef(email="k0@example.se"), type="objection", idempotency_key="key-0"),
    ]
    with pytest.raises(Conflict):
        await events.record(ctx, tenant.id, changed, batch=True)
    reused = [*keyed, _consent("other@example.se", key="key-1")]
    with pytest.raises(Conflict):
        await events.record(ctx, tenant.id, reused, batch=True)
