"""The schema distributes by tenant (docs/operations.md, "Sharding by tenant").

Citus (or any tenant-sharded PostgreSQL) needs, for a table distributed by
``tenant_id``: the column on the table, every primary key and unique index
containing it, and every foreign key between distributed tables joining on
it. The few global tables are small and become reference tables (copied to
every node) or stay on the coordinator. This test reads the migrated schema's
catalog, so a future migration that breaks distribution fails here, not in a
production resharding. Citus itself is not installable on this machine
(no Debian package); what was and was not run is stated in the docs.
"""

from __future__ import annotations

from consent_svc.service.context import Context

# Looked up without a tenant (an API key by its hash, a site by its public key,
# a tenant by name) or not tenant data at all: reference tables / coordinator-local.
REFERENCE = {"tenants", "api_keys", "platform_keys", "sites", "forms"}
COORDINATOR_LOCAL = {"schema_migrations", "service_meta"}


async def test_every_table_distributes_by_tenant(ctx: Context) -> None:
    async with ctx.pool.acquire() as conn:
        tables = {
            r["relname"]: r["has_tenant"]
            for r in await conn.fetch(
                """
                SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                          AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                """
            )
        }
        uniques = await conn.fetch(
            """
            SELECT c.relname, i.indexrelid::regclass::text AS index,
                   array(SELECT a.attname FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum = ANY (i.indkey))::text[] AS columns
            FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND i.indisunique
            """
        )
        foreign = await conn.fetch(
            """
            SELECT k.conname, c.relname AS child, p.relname AS parent,
                   array(SELECT a.attname FROM pg_attribute a
                         WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey))::text[] AS child_columns,
                   array(SELECT a.attname FROM pg_attribute a
                         WHERE a.attrelid = k.confrelid AND a.attnum = ANY (k.confkey))::text[] AS parent_columns
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
            WHERE k.contype = 'f'
            """
        )
    distributed = set(tables) - REFERENCE - COORDINATOR_LOCAL
    assert set(tables) >= REFERENCE | COORDINATOR_LOCAL  # the lists name real tables
    assert len(distributed) >= 14
    assert [t for t in sorted(distributed) if not tables[t]] == []
    for row in uniques:
        if row["relname"] in distributed:
            assert "tenant_id" in row["columns"], f"{row['index']} would not be enforceable per shard"
    for row in foreign:
        if row["child"] in distributed and row["parent"] in distributed:
            assert "tenant_id" in row["child_columns"], row["conname"]
            assert "tenant_id" in row["parent_columns"], row["conname"]
        # A distributed table may reference a reference table; never the other way round.
        assert not (row["child"] in REFERENCE and row["parent"] in distributed), row["conname"]
