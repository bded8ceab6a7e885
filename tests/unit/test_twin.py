"""The in-memory twin refuses what PostgreSQL refuses: a second row under a unique constraint, unless a NULL is in
it; and a look-up by NULL finds nothing, as `= ANY(...)` does."""

from __future__ import annotations

import asyncpg
import pytest

from runtime.tables import Changes, Table, by
from tests.support.memory_database import MemoryDatabase

pytestmark = pytest.mark.unit

ORDERS = Table("orders", ("order_id",), {"order_id": "text", "channel": "text", "external_id": "text"},
               unique=(("channel", "external_id"),))


async def test_a_second_row_under_a_unique_constraint_fails_the_unit_and_is_undone():
    db = MemoryDatabase()
    async with db.transaction():
        await db.write([Changes(ORDERS, inserted=[{"order_id": "o1", "channel": "web", "external_id": "A"}])], [])
    with pytest.raises(asyncpg.UniqueViolationError, match=r"orders \(channel, external_id\)"):
        async with db.transaction():
            await db.write([Changes(ORDERS, inserted=[{"order_id": "o2", "channel": "web", "external_id": "A"}])], [])
    assert list(db.table("orders")) == [("o1",)]


async def test_rows_with_a_null_in_the_constraint_never_conflict_and_null_matches_nothing():
    db = MemoryDatabase()
    rows = [{"order_id": f"o{n}", "channel": "web", "external_id": None} for n in range(2)]
    await db.write([Changes(ORDERS, inserted=rows)], [])
    assert len(db.table("orders")) == 2
    assert await db.read(ORDERS, by("external_id", [None, "A"])) == []
