"""The unit of work on PostgreSQL: rows read once, seen by the handlers that follow as they left them, written in
one statement with the outbox rows at the flush; a row added meanwhile fails the unit."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import asyncpg
import pytest

from contracts.base import Message
from runtime import outbox
from runtime.postgres import Postgres
from runtime.repository import Rows
from runtime.settings import get_settings
from runtime.tables import Table
from runtime.unit import UnitOfWork
from tests.support.memory import deps_of

pytestmark = pytest.mark.component


@pytest.fixture
async def table(test_db: asyncpg.Pool) -> Table:
    name = f"rows_{uuid.uuid4().hex[:8]}"
    await test_db.execute(f"CREATE TABLE {name} (id text PRIMARY KEY, note jsonb, status text NOT NULL, "
                          "tried text[] NOT NULL DEFAULT '{}', updated_at timestamptz NOT NULL DEFAULT now())")
    return Table(name, ("id",), {"id": "text", "note": "jsonb", "status": "text", "tried": "text[]"},
                 updates=("status", "tried"))


def unit_for(conn: asyncpg.Connection, service: str = "test") -> UnitOfWork:
    return UnitOfWork(deps_of(service), Postgres(conn))


async def statements(conn: asyncpg.Connection, table: Table) -> tuple[int, int]:
    """Rows this transaction inserted and updated in the table so far."""
    found = await conn.fetchrow("SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = $1",
                                table.name)
    return (found[0], found[1]) if found else (0, 0)


async def test_rows_are_read_once_changed_in_memory_and_written_at_the_flush(test_db: asyncpg.Pool, table: Table):
    await test_db.execute(f"INSERT INTO {table.name} (id, status) VALUES ('old', 'open')")
    async with test_db.acquire() as conn, conn.transaction():
        unit = unit_for(conn)
        rows = unit.repository(Rows(unit.db, table))
        await rows.load_keys(["a", "b", "old"])
        before = await statements(conn, table)
        assert rows.add({"id": "a", "note": '{"n": 1}', "status": "new", "tried": ["x, \"y\""]})
        assert rows.add({"id": "b", "note": None, "status": "new", "tried": []})
        assert not rows.add({"id": "a", "note": None, "status": "again", "tried": []}), "a twice"
        assert not rows.add({"id": "old", "note": None, "status": "again", "tried": []}), "exists"
        row = await rows.get("a")
        assert row is not None and row["status"] == "new"
        rows.save("a", status="asked", tried=[*row["tried"], "z"])
        rows.save("old", status="closed", tried=["q"])
        assert await statements(conn, table) == before, "nothing written before the flush"
        await unit.flush()
        assert await statements(conn, table) == (before[0] + 2, before[1] + 1)
    found = {r["id"]: (r["status"], list(r["tried"]), r["note"])
             for r in await test_db.fetch(f"SELECT id, status, tried, note FROM {table.name}")}
    assert found == {"a": ("asked", ["x, \"y\"", "z"], '{"n": 1}'), "b": ("new", [], None),
                     "old": ("closed", ["q"], None)}


async def test_a_key_not_looked_for_is_read_when_asked_for(test_db: asyncpg.Pool, table: Table):
    await test_db.execute(f"INSERT INTO {table.name} (id, status) VALUES ('taken', 'open')")
    async with test_db.acquire() as conn, conn.transaction():
        unit = unit_for(conn)
        rows = unit.repository(Rows(unit.db, table))
        found = await rows.get("taken")
        assert found is not None and found["status"] == "open"
        assert not rows.add({"id": "taken", "note": None, "status": "new", "tried": []})
        await unit.flush()
    assert await test_db.fetchval(f"SELECT status FROM {table.name} WHERE id = 'taken'") == "open"


async def test_a_row_added_meanwhile_fails_the_unit(test_db: asyncpg.Pool, table: Table):
    """The unit acted as if its row were new: it must not commit (the consumer then runs its messages one by one)."""
    with pytest.raises(RuntimeError, match="exist already"):
        async with test_db.acquire() as conn, conn.transaction():
            unit = unit_for(conn)
            rows = unit.repository(Rows(unit.db, table))
            await rows.load_keys(["d"])
            assert rows.add({"id": "d", "note": None, "status": "mine", "tried": []})
            await test_db.execute(f"INSERT INTO {table.name} (id, status) VALUES ('d', 'theirs')")
            await unit.flush()
    assert await test_db.fetchval(f"SELECT status FROM {table.name} WHERE id = 'd'") == "theirs"


class Noted(Message):
    type: str = "test.noted"
    note: str


async def test_the_flush_carries_the_outbox_rows_and_wakes_the_relay(test_db: asyncpg.Pool, table: Table):
    await test_db.execute(f"INSERT INTO {table.name} (id, status) VALUES ('e', 'open')")
    listener = await asyncpg.connect(get_settings().database_for("test"))
    woken = asyncio.Event()
    await listener.add_listener(outbox.channel("unit-test"), lambda *_: woken.set())
    message = Noted(note="e closed")
    try:
        async with test_db.acquire() as conn, conn.transaction():
            unit = unit_for(conn, "unit-test")
            rows = unit.repository(Rows(unit.db, table))
            await rows.load_keys(["e", "f"])
            assert rows.add({"id": "f", "note": None, "status": "new", "tried": []})
            rows.save("e", status="closed", tried=[])
            unit.send("test.noted", "e", message)
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1", message.id) == 0
            await unit.flush()  # one statement: the rows and the outbox row
            assert await conn.fetchval(f"SELECT count(*) FROM {table.name} WHERE id = 'f'") == 1
            assert await conn.fetchval(f"SELECT status FROM {table.name} WHERE id = 'e'") == "closed"
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1", message.id) == 1
        assert await test_db.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1", message.id) == 1, "once"
        await asyncio.wait_for(woken.wait(), 30)  # the relay's wake-up, delivered at the commit
    finally:
        await test_db.execute("DELETE FROM outbox WHERE message_id = $1", message.id)
        await listener.close()


async def test_a_checked_column_that_was_null_is_still_null_and_the_update_applies(test_db: asyncpg.Pool):
    name = f"checked_{uuid.uuid4().hex[:8]}"
    await test_db.execute(f"CREATE TABLE {name} (id text PRIMARY KEY, day date, n int NOT NULL DEFAULT 0)")
    await test_db.execute(f"INSERT INTO {name} (id) VALUES ('a')")
    checked = Table(name, ("id",), {"id": "text", "day": "date", "n": "int"}, updates=("day", "n"),
                    checked=("day", "n"), touch=False)
    async with test_db.acquire() as conn, conn.transaction():
        unit = unit_for(conn)
        rows = unit.repository(Rows(unit.db, checked))
        await rows.load_keys(["a"])
        rows.save("a", day=datetime.date(2026, 11, 29), n=1)
        await unit.flush()  # `day = NULL` would match nothing and fail the unit
    assert await test_db.fetchval(f"SELECT n FROM {name} WHERE id = 'a'") == 1
