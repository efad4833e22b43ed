"""The decision read path: one query for any number of recipients.

For each identifier hash (in request order) it returns the subject's kind
and folded facts, the active suppression entries that match the hash or
any other identifier of the same subject (email, phone, external id, and
identifiers replaced by a rectification) for the asked purpose, and the
sign-ups for the purpose that wait for their confirmation, and the opt-out
register snapshots (of those asked for) that list the hash or another current
identifier of the subject. Nothing is
read per recipient from Python; a 100,000-recipient batch is a few of these
queries over arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec


class DecisionRow(msgspec.Struct, frozen=True, array_like=True):
    subject_id: UUID | None
    kind: str | None
    facts: bytes | None
    sup_ids: list[UUID] | None
    sup_scopes: list[str] | None
    sup_channels: list[str | None] | None
    sup_reasons: list[str] | None
    sup_created: list[datetime] | None
    signup_ids: list[UUID] | None
    signup_expires: list[datetime] | None
    # The register snapshots (of those asked for) that list one of the subject's identifiers.
    register_snapshots: list[UUID] | None
    # The kinds of identifier the subject has (read only when registers are searched).
    identifier_types: list[str] | None = None


# One chunk of keys, set-based. k: each key's subject (one index probe per key). ids: every
# identifier of those subjects, current and replaced by a rectification, read once (= ANY of the
# chunk's subjects), and each unknown key's own hash. found: the suppression entries, pending
# sign-ups and register entries of each of those hashes (one index probe per hash; OFFSET 0 keeps
# each a probe whatever the planner estimates), grouped by owner: a key's subject (16 bytes) or,
# for a hash nobody has, the hash itself (32 bytes; the two never collide). What matches is
# exactly what the per-key form (_LOOKUP_ONE; tests/store/test_lookup_sql.py keeps the old one as
# the reference) matched:
# - suppressions: on the hash asked or any current identifier of the subject; on an identifier the
#   subject had before a rectification only when the reason is not hard_bounce or register (what
#   the person asked for, an unsubscribe, objection, complaint ..., still applies; facts about the
#   old address itself do not);
# - sign-ups for the purpose waiting for their confirmation, made with the hash asked or one of the
#   subject's email identifiers (a small partial index: only pending sign-ups are in it); a key that
#   is a subject's phone (or other non-email) identifier adds its own (sk);
# - opt-out registers: the snapshots asked for that list the hash asked or a current identifier of
#   the subject (not a replaced one: a register lists numbers, not people), and the kinds of
#   identifier the subject has (a register of another kind cannot be checked).
# Nothing joins the tenant's tables wholesale: as a plain join over the chunk the planner hashed
# every identifier of the tenant for each chunk of 5,000 keys. Checked in the generic plan
# (plan_cache_mode=force_generic_plan, as the pool runs) at 1,000,000 people.
_LOOKUP_SETS = """
WITH k AS MATERIALIZED (
    SELECT r.i, r.h, si.subject_id AS sid, si.id, si.kind, si.facts, si.type,
           coalesce(uuid_send(si.subject_id), r.h) AS owner
    FROM unnest($2::bytea[]) WITH ORDINALITY AS r(h, i)
    LEFT JOIN LATERAL (SELECT x.subject_id, x.type, s.id, s.kind, s.facts
                       FROM subject_identifiers x
                       LEFT JOIN subjects s ON s.tenant_id = $1 AND s.id = x.subject_id
                       WHERE x.tenant_id = $1 AND x.hash = r.h LIMIT 1) si ON true
),
ids AS MATERIALIZED (
    SELECT uuid_send(o.subject_id) AS owner, o.hash, o.type, false AS replaced
    FROM subject_identifiers o
    WHERE o.tenant_id = $1 AND o.subject_id = ANY (ARRAY(SELECT k.sid FROM k WHERE k.sid IS NOT NULL))
    UNION ALL
    SELECT uuid_send(hh.subject_id), hh.hash, NULL, true
    FROM subject_identifier_history hh
    WHERE hh.tenant_id = $1 AND hh.subject_id = ANY (ARRAY(SELECT k.sid FROM k WHERE k.sid IS NOT NULL))
    UNION ALL
    SELECT DISTINCT k.h, k.h, NULL, false FROM k WHERE k.sid IS NULL
),
found AS (
    SELECT DISTINCT ON (d.owner, x.id) d.owner, 1 AS tag, x.id, x.scope, x.channel, x.reason, x.created_at AS at
    FROM ids d
    JOIN LATERAL (SELECT x.id, x.scope, x.channel, x.reason, x.created_at
                  FROM suppressions x
                  WHERE x.tenant_id = $1 AND x.ident_hash = d.hash AND x.lifted_at IS NULL
                    AND x.scope IN ('all', $3)
                    AND (NOT d.replaced OR x.reason NOT IN ('hard_bounce', 'register'))
                  OFFSET 0) x ON true
    UNION ALL
    SELECT d.owner, 2, g.id, NULL, NULL, NULL, g.expires_at
    FROM ids d
    JOIN LATERAL (SELECT g.id, g.expires_at FROM signups g
                  WHERE g.tenant_id = $1 AND g.ident_hash = d.hash AND g.status = 'pending'
                    AND $3 = ANY (g.purposes)
                  OFFSET 0) g ON true
    WHERE d.type = 'email' OR (d.type IS NULL AND NOT d.replaced){register_found}
),
agg AS (
    SELECT f.owner,
           array_agg(f.id) FILTER (WHERE f.tag = 1) AS sup_ids,
           array_agg(f.scope) FILTER (WHERE f.tag = 1) AS sup_scopes,
           array_agg(f.channel) FILTER (WHERE f.tag = 1) AS sup_channels,
           array_agg(f.reason) FILTER (WHERE f.tag = 1) AS sup_reasons,
           array_agg(f.at) FILTER (WHERE f.tag = 1) AS sup_created,
           array_agg(f.id) FILTER (WHERE f.tag = 2) AS signup_ids,
           array_agg(f.at) FILTER (WHERE f.tag = 2) AS signup_expires{register_agg}
    FROM found f
    GROUP BY f.owner
)
SELECT k.id, k.kind, k.facts, a.sup_ids, a.sup_scopes, a.sup_channels, a.sup_reasons, a.sup_created,
       CASE WHEN k.type = 'email' OR k.sid IS NULL THEN a.signup_ids ELSE a.signup_ids || sk.ids END,
       CASE WHEN k.type = 'email' OR k.sid IS NULL THEN a.signup_expires ELSE a.signup_expires || sk.expires END,
       {register_columns}
FROM k
LEFT JOIN agg a ON a.owner = k.owner
-- A key that is a subject's phone (or other non-email) identifier: its own sign-ups too.
LEFT JOIN LATERAL (SELECT array_agg(g.id) AS ids, array_agg(g.expires_at) AS expires FROM signups g
                   WHERE k.sid IS NOT NULL AND k.type <> 'email' AND g.tenant_id = $1 AND g.ident_hash = k.h
                     AND g.status = 'pending' AND $3 = ANY (g.purposes)) sk ON true
ORDER BY k.i
"""

_REGISTER_FOUND = """
    UNION ALL
    SELECT d.owner, 3, e.snapshot_id, NULL, NULL, NULL, NULL
    FROM ids d
    JOIN LATERAL (SELECT DISTINCT e.snapshot_id FROM register_entries e
                  WHERE e.snapshot_id = ANY ({snapshots}) AND e.hash = d.hash AND e.tenant_id = $1) e ON true
    WHERE cardinality({snapshots}) > 0 AND NOT d.replaced
    UNION ALL
    SELECT DISTINCT d.owner, 4, NULL::uuid, d.type, NULL, NULL, NULL::timestamptz FROM ids d WHERE d.type IS NOT NULL"""

_REGISTER_AGG = """,
           array_agg(DISTINCT f.id) FILTER (WHERE f.tag = 3) AS snapshots,
           array_agg(f.scope ORDER BY f.scope) FILTER (WHERE f.tag = 4) AS types"""

_LOOKUP_PLAIN = _LOOKUP_SETS.format(register_found="", register_agg="", register_columns="NULL::uuid[], NULL::text[]")


def _lookup_registers(snapshots: str) -> str:
    """The look-up that also searches the register ``snapshots`` (an SQL uuid[] expression)."""
    return _LOOKUP_SETS.format(
        register_found=_REGISTER_FOUND.format(snapshots=snapshots),
        register_agg=_REGISTER_AGG,
        register_columns="a.snapshots, coalesce(a.types, '{}'::text[])",
    )


_LOOKUP_MANY = _lookup_registers("$4::uuid[]")

# The single look-up (GET /v1/decisions): the per-key form, faster than the set-based one for one key
# (EXPLAIN ANALYZE ~0.15 against ~0.23 ms).
_LOOKUP_ONE = """
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
-- subject's email (a small partial index: only pending sign-ups are in it). One array of hashes,
-- not an OR: with the OR the planner read every sign-up of every tenant for each key.
LEFT JOIN LATERAL (
    SELECT array_agg(g.id) AS ids, array_agg(g.expires_at) AS expires
    FROM signups g
    WHERE g.tenant_id = $1 AND g.status = 'pending' AND $3 = ANY (g.purposes)
      AND g.ident_hash = ANY (CASE WHEN si.subject_id IS NULL THEN ARRAY[r.h]
                                   ELSE ARRAY(SELECT e.hash FROM subject_identifiers e
                                              WHERE e.tenant_id = $1 AND e.subject_id = si.subject_id
                                                AND e.type = 'email') || r.h
                              END)
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

_REGISTERS = """
SELECT r.name, r.channel, r.snapshot_id, s.version_date, r.ident_type
FROM registers r LEFT JOIN register_snapshots s ON s.tenant_id = r.tenant_id AND s.id = r.snapshot_id
WHERE r.tenant_id = $1
"""

# The snapshots in force of the tenant's registers on the channel asked ($4).
_CHANNEL_SNAPSHOTS = "ARRAY(SELECT reg.snapshot_id FROM reg WHERE reg.channel = $4 AND reg.snapshot_id IS NOT NULL)"

_LOOKUP_WITH_PURPOSE = f"""
WITH p AS (SELECT config FROM purposes WHERE tenant_id = $1 AND key = $3),
     reg AS ({_REGISTERS})
SELECT (SELECT config FROM p) AS purpose_config,
       (SELECT coalesce(json_agg(reg), '[]') FROM reg)::text AS registers, q.*
FROM ({_LOOKUP_ONE.format(snapshots=_CHANNEL_SNAPSHOTS)}) AS q
"""


class RegisterState(msgspec.Struct, frozen=True):
    """A register of the tenant: its snapshot in force (None: never imported)."""

    name: str
    channel: str
    snapshot_id: UUID | None
    version_date: date | None
    ident_type: str | None = None


_states = msgspec.json.Decoder(list[RegisterState])


async def lookup_values(
    conn: asyncpg.Connection, tenant_id: UUID, purpose: str, hashes: Sequence[bytes], snapshots: Sequence[UUID] = ()
) -> list[Sequence[Any]]:
    """One row per hash, in order, with :class:`DecisionRow`'s fields in its order (the driver's
    records, for a batch to read without building a struct per row). ``snapshots``: the register
    snapshots to look the subjects up in (none: no register)."""
    if not snapshots:
        return await conn.fetch(_LOOKUP_PLAIN, tenant_id, list(hashes), purpose)  # type: ignore[no-any-return]
    return await conn.fetch(_LOOKUP_MANY, tenant_id, list(hashes), purpose, list(snapshots))  # type: ignore[no-any-return]


async def lookup(
    conn: asyncpg.Connection, tenant_id: UUID, purpose: str, hashes: Sequence[bytes], snapshots: Sequence[UUID] = ()
) -> list[DecisionRow]:
    """``snapshots``: the register snapshots to look the subjects up in (none: no register)."""
    return [DecisionRow(*r) for r in await lookup_values(conn, tenant_id, purpose, hashes, snapshots)]


async def lookup_one(
    conn: asyncpg.Connection, tenant_id: UUID, purpose: str, hash_: bytes, channel: str
) -> tuple[dict[str, Any] | None, list[RegisterState], DecisionRow]:
    """One round trip for a single decision: the purpose configuration, the tenant's registers,
    and the subject (looked up in the snapshots of the registers on ``channel``)."""
    row = await conn.fetchrow(_LOOKUP_WITH_PURPOSE, tenant_id, [hash_], purpose, channel)
    assert row is not None
    return row[0], _states.decode(row[1]), DecisionRow(*tuple(row)[2:])


async def register_states(conn: asyncpg.Connection, tenant_id: UUID) -> list[RegisterState]:
    rows = await conn.fetch(_REGISTERS, tenant_id)
    return [RegisterState(*r) for r in rows]
