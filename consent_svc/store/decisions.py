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


_LOOKUP = """
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

_LOOKUP_MANY = _LOOKUP.format(snapshots="$4::uuid[]")
# Without registers to search (every email decision, every tenant without registers): the same
# query without the register join, so those decisions cost what they did before registers.
_REGISTER_JOIN = _LOOKUP[_LOOKUP.index("-- Opt-out registers") : _LOOKUP.index("ORDER BY r.i")]
_LOOKUP_PLAIN = _LOOKUP.replace(_REGISTER_JOIN, "").replace(
    ", rg.ids,\n       rg.types\n", ", NULL::uuid[], NULL::text[]\n"
)

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
FROM ({_LOOKUP.format(snapshots=_CHANNEL_SNAPSHOTS)}) AS q
"""


class RegisterState(msgspec.Struct, frozen=True):
    """A register of the tenant: its snapshot in force (None: never imported)."""

    name: str
    channel: str
    snapshot_id: UUID | None
    version_date: date | None
    ident_type: str | None = None


_states = msgspec.json.Decoder(list[RegisterState])


async def lookup(
    conn: asyncpg.Connection, tenant_id: UUID, purpose: str, hashes: Sequence[bytes], snapshots: Sequence[UUID] = ()
) -> list[DecisionRow]:
    """``snapshots``: the register snapshots to look the subjects up in (none: no register)."""
    if not snapshots:
        rows = await conn.fetch(_LOOKUP_PLAIN, tenant_id, list(hashes), purpose)
        return [DecisionRow(*r) for r in rows]
    rows = await conn.fetch(_LOOKUP_MANY, tenant_id, list(hashes), purpose, list(snapshots))
    return [DecisionRow(*r) for r in rows]


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
