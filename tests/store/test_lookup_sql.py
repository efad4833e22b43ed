"""The set-based decision look-up (consent_svc/store/decisions.py) matches exactly what the
per-key query it replaced matched, kept here as the reference.

A seeded population holds every case the look-up must tell apart: suppressions on another
identifier of the person, on an identifier replaced by a rectification (each reason: only what
the person asked for follows them, not a hard bounce or a register entry), lifted ones, scoped
to every purpose, to the purpose asked or to another, by channel; pending, confirmed and
expired sign-ups on the address asked or another email of the person, for this purpose or
another; register entries on current and on replaced identifiers, in snapshots asked or not;
hashes nobody has; the same key twice in a chunk; a hash replaced by one person that another
person has now. Both queries answer every key, and their rows must be equal (the order inside
each array is unspecified in both: the rules sort what they read).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from consent_svc.domain import facts as facts_mod
from consent_svc.domain.models import PurposeConfig, Ref
from consent_svc.service import decisions
from consent_svc.service.context import Context
from consent_svc.store import decisions as store
from tests.conftest import Tenant

# The per-key look-up as it was before the set-based one (the reference: do not change it).
_OLD_LOOKUP = """
SELECT s.id, s.kind, s.facts, sp.ids, sp.scopes, sp.channels, sp.reasons, sp.created, sg.ids, sg.expires, rg.ids,
       rg.types
FROM unnest($2::bytea[]) WITH ORDINALITY AS r(h, i)
-- LIMIT 1 keeps this a per-key index probe: as a plain join, the planner
-- hashed every identifier of the tenant for each chunk of 5,000 keys
-- (a sequential scan of the whole tenant, growing with its size).
LEFT JOIN LATERAL (SELECT x.subject_id FROM subject_identifiers x
                   WHERE x.tenant_id = $1 AND x.hash = r.h LIMIT 1) si ON true
LEFT JOIN subjects s ON s.tenant_id = $1 AND s.id = si.subject_id
LEFT JOIN LATERAL (
    SELECT array_agg(x.id) AS ids, array_agg(x.scope) AS scopes, array_agg(x.channel) AS channels,
           array_agg(x.reason) AS reasons, array_agg(x.created_at) AS created
    FROM suppressions x
    WHERE x.tenant_id = $1 AND x.lifted_at IS NULL AND x.scope IN ('all', $3)
      AND (x.ident_hash = ANY (
               CASE WHEN si.subject_id IS NULL THEN ARRAY[r.h]
                    ELSE ARRAY(SELECT o.hash FROM subject_identifiers o
                               WHERE o.tenant_id = $1 AND o.subject_id = si.subject_id) || r.h
               END)
           -- Identifiers the person had before a rectification: what the person asked for
           -- (unsubscribe, objection, complaint ...) still applies; facts about the old
           -- address itself (a hard bounce, an opt-out register) do not.
           OR (si.subject_id IS NOT NULL AND x.reason NOT IN ('hard_bounce', 'register')
               AND x.ident_hash = ANY (ARRAY(SELECT hh.hash FROM subject_identifier_history hh
                                             WHERE hh.tenant_id = $1 AND hh.subject_id = si.subject_id))))
) sp ON true
-- Sign-ups for this purpose waiting for their confirmation, made with the address asked or the
-- subject's email (a small partial index: only pending sign-ups are in it).
LEFT JOIN LATERAL (
    SELECT array_agg(g.id) AS ids, array_agg(g.expires_at) AS expires
    FROM signups g
    WHERE g.tenant_id = $1 AND g.status = 'pending' AND $3 = ANY (g.purposes)
      AND (g.ident_hash = r.h
           OR (si.subject_id IS NOT NULL AND g.ident_hash IN (
                   SELECT e.hash FROM subject_identifiers e
                   WHERE e.tenant_id = $1 AND e.subject_id = si.subject_id AND e.type = 'email')))
) sg ON true
-- Opt-out registers: the snapshots asked for that list the hash asked or a
-- current identifier of the subject (not a replaced one: a register lists numbers, not people).
LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT e.snapshot_id) AS ids,
           -- the kinds of identifier the subject has: a register of another kind cannot be checked
           ARRAY(SELECT DISTINCT o.type FROM subject_identifiers o
                 WHERE o.tenant_id = $1 AND o.subject_id = si.subject_id) AS types
    FROM register_entries e
    WHERE cardinality({snapshots}) > 0 AND e.snapshot_id = ANY ({snapshots}) AND e.tenant_id = $1
      AND e.hash = ANY (CASE WHEN si.subject_id IS NULL THEN ARRAY[r.h]
                             ELSE ARRAY(SELECT o.hash FROM subject_identifiers o
                                        WHERE o.tenant_id = $1 AND o.subject_id = si.subject_id) || r.h
                        END)
) rg ON true
ORDER BY r.i
"""

_OLD_MANY = _OLD_LOOKUP.format(snapshots="$4::uuid[]")
_OLD_REGISTER_JOIN = _OLD_LOOKUP[_OLD_LOOKUP.index("-- Opt-out registers") : _OLD_LOOKUP.index("ORDER BY r.i")]
_OLD_PLAIN = _OLD_LOOKUP.replace(_OLD_REGISTER_JOIN, "").replace(
    ", rg.ids,\n       rg.types\n", ", NULL::uuid[], NULL::text[]\n"
)


_OLD_REGISTERS = """
SELECT r.name, r.channel, r.snapshot_id, s.version_date, r.ident_type
FROM registers r LEFT JOIN register_snapshots s ON s.tenant_id = r.tenant_id AND s.id = r.snapshot_id
WHERE r.tenant_id = $1
"""
_OLD_CHANNEL_SNAPSHOTS = "ARRAY(SELECT reg.snapshot_id FROM reg WHERE reg.channel = $4 AND reg.snapshot_id IS NOT NULL)"
_OLD_WITH_PURPOSE = f"""
WITH p AS (SELECT config FROM purposes WHERE tenant_id = $1 AND key = $3),
     reg AS ({_OLD_REGISTERS})
SELECT (SELECT config FROM p) AS purpose_config,
       (SELECT coalesce(json_agg(reg), '[]') FROM reg)::text AS registers, q.*
FROM ({_OLD_LOOKUP.format(snapshots=_OLD_CHANNEL_SNAPSHOTS)}) AS q
"""

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TYPES = ("email", "phone", "external_id", "personal_number")
REASONS = ("unsubscribe", "objection", "complaint", "hard_bounce", "erasure", "register", "manual")
SCOPES = ("all", "newsletter", "offers")
CHANNELS = (None, "email", "sms", "phone", "post")


def _sorted_by_first(*columns: list[Any] | None) -> Any:
    """Parallel arrays as one sorted list of tuples (None stays None: no entry at all)."""
    if columns[0] is None:
        assert all(c is None for c in columns)
        return None
    return sorted(zip(*columns, strict=True), key=repr)


def _normal(row: store.DecisionRow) -> tuple[Any, ...]:
    return (
        row.subject_id,
        row.kind,
        row.facts,
        _sorted_by_first(row.sup_ids, row.sup_scopes, row.sup_channels, row.sup_reasons, row.sup_created),
        _sorted_by_first(row.signup_ids, row.signup_expires),
        None if row.register_snapshots is None else sorted(row.register_snapshots),
        None if row.identifier_types is None else sorted(row.identifier_types),
    )


async def _old_lookup(
    conn: asyncpg.Connection, tenant_id: UUID, purpose: str, hashes: list[bytes], snapshots: list[UUID] | None
) -> list[store.DecisionRow]:
    if snapshots is None:
        rows = await conn.fetch(_OLD_PLAIN, tenant_id, hashes, purpose)
    else:
        rows = await conn.fetch(_OLD_MANY, tenant_id, hashes, purpose, snapshots)
    return [store.DecisionRow(*r) for r in rows]


def _facts(rnd: random.Random) -> bytes:
    """Some person's folded facts (the look-up returns them as they are; other tests' sweeps read them)."""
    facts = facts_mod.Facts()
    for n in range(rnd.randrange(0, 3)):
        event = rnd.choice(("consent_given", "consent_withdrawn", "purchase"))
        ref = Ref(uuid4(), NOW - timedelta(days=rnd.randrange(1, 900)), n)
        facts_mod.fold(facts, event, "newsletter" if event != "purchase" else None, ("email",), ref)
    return facts_mod.encode(facts)


class Population:
    """Rows written straight into the tables; the hashes worth asking about."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.keys: list[bytes] = []
        self.snapshots: dict[str, UUID] = {}

    def hash(self) -> bytes:
        return self.rnd.randbytes(32)


async def _seed(conn: asyncpg.Connection, tenant_id: UUID, seed: int) -> Population:
    rnd = random.Random(seed)
    pop = Population(rnd)
    subjects: list[tuple[Any, ...]] = []
    identifiers: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    current: list[bytes] = []
    replaced: list[bytes] = []
    for n in range(120):
        sid = uuid4()
        kind = rnd.choice(("consumer", "sole_trader", "business_contact"))
        subjects.append((tenant_id, sid, kind, _facts(rnd) if rnd.random() < 0.9 else None))
        types = [t for t in TYPES if rnd.random() < 0.4] or [rnd.choice(TYPES)]
        mine: list[bytes] = []
        for t in types:
            h = pop.hash()
            mine.append(h)
            identifiers.append((tenant_id, h, sid, t, None if t == "personal_number" else f"v{n}-{t}"))
        current += mine
        for _ in range(rnd.choice((0, 0, 1, 1, 2, 3))):
            pick = rnd.random()
            if pick < 0.15 and len(current) > len(mine):
                old = rnd.choice(current[: len(current) - len(mine)])  # another person's identifier now
            elif pick < 0.25:
                old = rnd.choice(mine)  # rectified away and back again
            else:
                old = pop.hash()
            if any(r[1] == sid and r[2] == old for r in history):
                continue
            history.append((tenant_id, sid, old, rnd.choice(TYPES)))
            replaced.append(old)
    strangers = [pop.hash() for _ in range(30)]
    known = current + replaced + strangers

    suppressions: list[tuple[Any, ...]] = []
    active: set[tuple[bytes, str, str, str]] = set()
    for seq in range(1, 501):
        h = rnd.choice(known)
        scope, channel, reason = rnd.choice(SCOPES), rnd.choice(CHANNELS), rnd.choice(REASONS)
        lifted = NOW - timedelta(days=1) if rnd.random() < 0.2 else None
        if lifted is None:
            if (h, scope, channel or "*", reason) in active:
                continue
            active.add((h, scope, channel or "*", reason))
        created = NOW - timedelta(days=rnd.randrange(1, 400), seconds=rnd.randrange(86400))
        suppressions.append((tenant_id, uuid4(), h, "email", scope, channel, reason, created, lifted, seq))

    signups: list[tuple[Any, ...]] = []
    for _ in range(200):
        h = rnd.choice(known)
        purposes = rnd.choice((["newsletter"], ["offers"], ["newsletter", "offers"], ["offers", "newsletter"]))
        status = "pending" if rnd.random() < 0.7 else "confirmed"
        expires = NOW + timedelta(days=rnd.choice((-3, -1, 1, 2)), seconds=rnd.randrange(3600))
        signups.append((tenant_id, uuid4(), h, purposes, "sv", "{}", status, NOW - timedelta(days=4), expires, "none"))

    for name in ("a", "b", "c", "d"):
        pop.snapshots[name] = uuid4()
    registers: list[tuple[str, str, str, UUID | None]] = [  # d: a snapshot no register has in force any more (replaced)
        ("nix-sms", "sms", "phone", pop.snapshots["a"]),
        ("nix-phone", "phone", "phone", pop.snapshots["b"]),
        ("spar", "post", "personal_number", pop.snapshots["c"]),
        ("nix-email", "email", "email", None),
    ]
    entries: list[tuple[Any, ...]] = []
    seen: set[tuple[UUID, bytes]] = set()
    for _ in range(500):
        snapshot = pop.snapshots[rnd.choice("abcd")]
        h = rnd.choice(known)
        entries.append((tenant_id, snapshot, h))
        if (snapshot, h) not in seen and rnd.random() < 0.1:
            entries.append((tenant_id, snapshot, h))  # a duplicate line: counted once
        seen.add((snapshot, h))

    async with conn.transaction():
        await conn.copy_records_to_table("subjects", records=subjects, columns=["tenant_id", "id", "kind", "facts"])
        await conn.copy_records_to_table(
            "subject_identifiers", records=identifiers, columns=["tenant_id", "hash", "subject_id", "type", "value"]
        )
        await conn.copy_records_to_table(
            "subject_identifier_history", records=history, columns=["tenant_id", "subject_id", "hash", "type"]
        )
        await conn.copy_records_to_table(
            "suppressions",
            records=suppressions,
            columns=[
                "tenant_id",
                "id",
                "ident_hash",
                "ident_type",
                "scope",
                "channel",
                "reason",
                "created_at",
                "lifted_at",
                "change_seq",
            ],
        )
        await conn.executemany(
            "INSERT INTO signups (tenant_id, id, ident_hash, purposes, language, proof, status, created_at,"
            " expires_at, delivery) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)",
            [(*s[:5], {}, *s[6:]) for s in signups],
        )
        for name, channel, ident_type, in_force in registers:
            register_id = uuid4()
            await conn.execute(
                "INSERT INTO registers (tenant_id, id, name, channel, ident_type) VALUES ($1, $2, $3, $4, $5)",
                tenant_id, register_id, name, channel, ident_type,
            )  # fmt: skip
            if in_force is not None:
                await conn.execute(
                    "INSERT INTO register_snapshots (tenant_id, id, register_id, version_date, entries, lines,"
                    " imported_at) VALUES ($1, $2, $3, $4, 0, 0, $5)",
                    tenant_id, in_force, register_id, NOW.date(), NOW,
                )  # fmt: skip
                await conn.execute(
                    "UPDATE registers SET snapshot_id = $3 WHERE tenant_id = $1 AND id = $2",
                    tenant_id, register_id, in_force,
                )  # fmt: skip
        await conn.copy_records_to_table(
            "register_entries", records=entries, columns=["tenant_id", "snapshot_id", "hash"]
        )
    unknown = [pop.hash() for _ in range(20)]
    keys = known + unknown
    keys += [rnd.choice(keys) for _ in range(40)]  # the same key more than once in a chunk
    rnd.shuffle(keys)
    pop.keys = keys
    return pop


def _chunks(keys: list[bytes]) -> list[list[bytes]]:
    """The keys in chunks of uneven sizes (one key alone, and none at all, among them)."""
    out: list[list[bytes]] = [[], keys[:1]]
    start = 1
    for size in (7, 150, 10_000):
        out.append(keys[start : start + size])
        start += size
    out.append(keys)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_set_based_lookup_matches_the_per_key_one(ctx: Context, tenant: Tenant, seed: int) -> None:
    async with ctx.pool.acquire() as conn:
        pop = await _seed(conn, tenant.id, seed)
        s = pop.snapshots
        searched: list[list[UUID] | None] = [None, [], [s["a"]], [s["a"], s["b"], s["c"]], [s["d"]], [uuid4()]]
        compared = 0
        for purpose in ("newsletter", "offers", "unknown"):
            for snapshots in searched:
                for chunk in _chunks(pop.keys):
                    old = await _old_lookup(conn, tenant.id, purpose, chunk, snapshots)
                    if snapshots is None:
                        new = await store.lookup(conn, tenant.id, purpose, chunk)
                    else:  # the register query, even with no snapshot to search (as lookup_one may)
                        rows = await conn.fetch(store._LOOKUP_MANY, tenant.id, chunk, purpose, snapshots)
                        new = [store.DecisionRow(*r) for r in rows]
                        if snapshots:
                            assert new == await store.lookup(conn, tenant.id, purpose, chunk, snapshots)
                    assert len(new) == len(old) == len(chunk)
                    for key, o, n in zip(chunk, old, new, strict=True):
                        assert _normal(n) == _normal(o), (purpose, snapshots, key.hex())
                    compared += len(chunk)
        # The population is not degenerate: the old query found each kind of thing for some key.
        rows = await _old_lookup(conn, tenant.id, "newsletter", pop.keys, [s["a"], s["b"], s["c"]])
        assert sum(r.subject_id is None for r in rows) >= 20
        assert sum(bool(r.sup_ids) for r in rows) >= 50
        assert sum(bool(r.signup_ids) for r in rows) >= 20
        assert sum(bool(r.register_snapshots) for r in rows) >= 20
        assert compared > 10_000


@pytest.mark.parametrize("seed", [4])
async def test_the_single_lookup_matches_the_per_key_one(ctx: Context, tenant: Tenant, seed: int) -> None:
    async with ctx.pool.acquire() as conn:
        pop = await _seed(conn, tenant.id, seed)
        for channel in ("sms", "phone", "post", "email"):
            for key in pop.keys:
                old = await conn.fetchrow(_OLD_WITH_PURPOSE, tenant.id, [key], "newsletter", channel)
                assert old is not None
                config, states, row = await store.lookup_one(conn, tenant.id, "newsletter", key, channel)
                assert config == old[0]
                assert sorted(states, key=repr) == sorted(store._states.decode(old[1]), key=repr)
                assert _normal(row) == _normal(store.DecisionRow(*tuple(old)[2:])), (channel, key.hex())


async def test_what_follows_a_person_past_a_rectification(ctx: Context, tenant: Tenant) -> None:
    """The cases spelled out: an old address's unsubscribe follows the person, its hard bounce and
    register entry do not; another identifier's entry counts; a lifted one does not; the sign-up
    made with the person's email counts when asked by their phone, one for another purpose or made
    with someone else's address does not."""
    rnd = random.Random(9)
    sid, email, phone, old_email, other_email = uuid4(), *(rnd.randbytes(32) for _ in range(4))
    unsubscribe, bounce, register, on_phone, lifted = (uuid4() for _ in range(5))
    signup, other_purpose = uuid4(), uuid4()
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO subjects (tenant_id, id) VALUES ($1, $2)", tenant.id, sid)
        await conn.executemany(
            "INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value) VALUES ($1, $2, $3, $4, 'x')",
            [(tenant.id, email, sid, "email"), (tenant.id, phone, sid, "phone")],
        )
        await conn.execute(
            "INSERT INTO subject_identifier_history (tenant_id, subject_id, hash, type) VALUES ($1, $2, $3, 'email')",
            tenant.id, sid, old_email,
        )  # fmt: skip
        await conn.executemany(
            "INSERT INTO suppressions (tenant_id, id, ident_hash, ident_type, scope, reason, lifted_at, change_seq)"
            " VALUES ($1, $2, $3, 'email', 'all', $4, $5, $6)",
            [
                (tenant.id, unsubscribe, old_email, "unsubscribe", None, 1),
                (tenant.id, bounce, old_email, "hard_bounce", None, 2),
                (tenant.id, register, old_email, "register", None, 3),
                (tenant.id, on_phone, phone, "objection", None, 4),
                (tenant.id, lifted, email, "unsubscribe", NOW, 5),
            ],
        )
        await conn.executemany(
            "INSERT INTO signups (tenant_id, id, ident_hash, purposes, language, proof, created_at, expires_at,"
            " delivery) VALUES ($1, $2, $3, $4, 'sv', '{}'::jsonb, $5, $6, 'none')",
            [
                (tenant.id, signup, email, ["newsletter"], NOW, NOW + timedelta(days=1)),
                (tenant.id, other_purpose, email, ["offers"], NOW, NOW + timedelta(days=1)),
                (tenant.id, uuid4(), other_email, ["newsletter"], NOW, NOW + timedelta(days=1)),
            ],
        )
        someone = uuid4()
        await conn.execute("INSERT INTO subjects (tenant_id, id) VALUES ($1, $2)", tenant.id, someone)
        await conn.execute(
            "INSERT INTO subject_identifiers (tenant_id, hash, subject_id, type, value)"
            " VALUES ($1, $2, $3, 'email', 'y')",
            tenant.id, other_email, someone,
        )  # fmt: skip
        [by_email, by_phone, by_old] = await store.lookup(conn, tenant.id, "newsletter", [email, phone, old_email])
    assert sorted(by_email.sup_ids or []) == sorted([unsubscribe, on_phone])
    assert sorted(by_phone.sup_ids or []) == sorted([unsubscribe, on_phone])
    assert by_email.signup_ids == [signup]
    assert by_phone.signup_ids == [signup]
    # Asked by the old address nobody has now: every entry on it, the bounce and register included.
    assert by_old.subject_id is None
    assert sorted(by_old.sup_ids or []) == sorted([unsubscribe, bounce, register])


async def test_a_chunk_is_judged_as_each_row_alone(ctx: Context, tenant: Tenant) -> None:
    """judge_rows reads the driver's records and answers the rows of nobody with nothing found
    once per kind of identifier: every answer is the one the row gets judged on its own."""
    purpose = PurposeConfig(
        key="newsletter",
        legal_basis="consent",
        direct_marketing=True,
        channels=("email", "sms"),
        notice_version="1",
        title={"en": "News"},
        description={"en": "News"},
        registers=("nix-sms",),
    )
    async with ctx.pool.acquire() as conn:
        pop = await _seed(conn, tenant.id, 5)
        registers = decisions.register_facts(await store.register_states(conn, tenant.id))
        snapshots = decisions.snapshots_to_check(purpose, "sms", registers)
        assert snapshots == [pop.snapshots["a"]]
        for searched in (snapshots, []):
            rows = await store.lookup_values(conn, tenant.id, "newsletter", pop.keys, searched)
            asked = [random.Random(n).choice(("email", "phone")) for n in range(len(rows))]
            answers = decisions.judge_rows(purpose, rows, "sms", NOW, registers, asked)
            alone = [
                decisions._judge(purpose, store.DecisionRow(*row), "sms", NOW, registers, kind)
                for row, kind in zip(rows, asked, strict=True)
            ]
            assert answers == alone
            assert {a.reason for a in answers} >= {"suppressed", "register_unverifiable"}
