"""The in-memory database behind the handler tests cannot drift from PostgreSQL's: every table a service's unit of
work writes has the same key and the same unique constraints in both (read from the migrated databases)."""

from __future__ import annotations

import importlib

import asyncpg
import pytest

from runtime.settings import SERVICES, get_settings
from runtime.tables import Table

pytestmark = pytest.mark.component

CONSTRAINTS = """
SELECT c.relname AS table_name, i.indisprimary AS primary_key, i.indpred IS NOT NULL AS partial,
       array_agg(a.attname ORDER BY k.n) AS columns
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indisunique AND ns.nspname = 'public'
GROUP BY c.relname, i.indexrelid, i.indisprimary, i.indpred"""


def declared(service: str) -> list[Table]:
    store = importlib.import_module(f"{service}_service.store")
    return [value for value in vars(store).values() if isinstance(value, Table)]


@pytest.mark.parametrize("service", [s for s in SERVICES if declared(s)])
async def test_each_tables_key_and_unique_constraints_match_the_database(stack, service: str):
    conn = await asyncpg.connect(get_settings().database_for(service))
    try:
        rows = await conn.fetch(CONSTRAINTS)
    finally:
        await conn.close()
    keys = {r["table_name"]: tuple(r["columns"]) for r in rows if r["primary_key"]}
    unique: dict[str, set[tuple[str, ...]]] = {}
    for r in rows:
        if not r["primary_key"]:
            assert not r["partial"], f"{r['table_name']}: a partial unique index the twin does not know"
            unique.setdefault(r["table_name"], set()).add(tuple(r["columns"]))
    for table in declared(service):
        assert table.key == keys[table.name], table.name
        assert set(table.unique) == unique.get(table.name, set()), table.name
