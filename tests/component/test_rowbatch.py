"""A batch's new rows: seen by the handlers that follow at once, written in one statement when the batch ends, with
the outbox rows the batch queued."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from contracts.base import Message
from shared import outbox, rowbatch
from shared.settings import get_settings

pytestmark = pytest.mark.component

STATUS = {"status": "text", "tried": "text[]"}
NEW = {"id": "text", "note": "jsonb", **STATUS}


@pytest.fixture
async def table(test_db: asyncpg.Pool) -> str:
    name = f"rows_{uuid.uuid4().hex[:8]}"
    await test_db.execute(f"CREATE TABLE {name} (id text PRIMARY KEY, note jsonb, status text NOT NULL, "
                          "tried text[] NOT NULL DEFAULT '{}', updated_at timestamptz NOT NULL DEFAULT now())")
    return name


async def inserts_made(conn: asyncpg.Connection, table: str) -> int:
    return int(await conn.fetchval("SELECT n_tup_ins FROM pg_stat_xact_user_tables WHERE relname = $1", table))


async def test_new_rows_are_read_back_updated_and_written_once(test_db: asyncpg.Pool, table: str):
    await test_db.execute(f"INSERT INTO {table} (id, status) VALUES ('old', 'open')")
    async with test_db.acquire() as conn, conn.transaction():
        before = await inserts_made(conn, table)
        async with rowbatch.locked(conn, table, "id", "*", STATUS, ["a", "b", "old"], inserts=NEW) as rows:
            assert await rows.insert({"id": "a", "note": '{"n": 1}', "status": "new", "tried": ["x, \"y\""]})
            assert await rows.insert({"id": "b", "note": None, "status": "new", "tried": []})
            assert not await rows.insert({"id": "a", "note": None, "status": "again", "tried": []}), "a twice"
            assert not await rows.insert({"id": "old", "note": None, "status": "again", "tried": []}), "exists"
            row = await rows.lock("a")
            assert row is not None and row["status"] == "new"
            rows.update("a", status="asked", tried=[*row["tried"], "z"])
            rows.update("old", status="closed", tried=["q"])
            assert await inserts_made(conn, table) == before, "nothing written before the batch ends"
        assert await inserts_made(conn, table) == before + 2
    found = {r["id"]: (r["status"], list(r["tried"]), r["note"])
             for r in await test_db.fetch(f"SELECT id, status, tried, note FROM {table}")}
    assert found == {"a": ("asked", ["x, \"y\"", "z"], '{"n": 1}'), "b": ("new", [], None),
                     "old": ("closed", ["q"], None)}


async def test_a_key_the_batch_did_not_look_for_is_inserted_at_once(test_db: asyncpg.Pool, table: str):
    await test_db.execute(f"INSERT INTO {table} (id, status) VALUES ('taken', 'open')")
    async with test_db.acquire() as conn, conn.transaction():
        before = await inserts_made(conn, table)
        async with rowbatch.locked(conn, table, "id", "*", STATUS, [], inserts=NEW) as rows:
            assert await rows.insert({"id": "c", "note": None, "status": "new", "tried": []})
            assert await inserts_made(conn, table) == before + 1
            assert not await rows.insert({"id": "taken", "note": None, "status": "new", "tried": []})
    assert await test_db.fetchval(f"SELECT status FROM {table} WHERE id = 'taken'") == "open"


async def test_a_row_inserted_meanwhile_fails_the_batch(test_db: asyncpg.Pool, table: str):
    """The batch acted as if its row were new: it must not commit (the consumer then handles one by one)."""
    with pytest.raises(RuntimeError, match="already existed"):
        async with test_db.acquire() as conn, conn.transaction():
            async with rowbatch.locked(conn, table, "id", "*", STATUS, ["d"], inserts=NEW) as rows:
                assert await rows.insert({"id": "d", "note": None, "status": "mine", "tried": []})
                await test_db.execute(f"INSERT INTO {table} (id, status) VALUES ('d', 'theirs')")
    assert await test_db.fetchval(f"SELECT status FROM {table} WHERE id = 'd'") == "theirs"


class Noted(Message):
    type: str = "test.noted"
    note: str


async def test_the_batch_statement_carries_the_outbox_rows_and_wakes_the_relay(test_db: asyncpg.Pool, table: str):
    await test_db.execute(f"INSERT INTO {table} (id, status) VALUES ('e', 'open')")
    listener = await asyncpg.connect(get_settings().database_for("test"))
    woken = asyncio.Event()
    await listener.add_listener(outbox.channel("rowbatch-test"), lambda *_: woken.set())
    message = Noted(note="e closed")
    try:
        async with test_db.acquire() as conn, conn.transaction(), outbox.one_insert(conn):
            async with rowbatch.locked(conn, table, "id", "*", STATUS, ["e", "f"], inserts=NEW) as rows:
                assert await rows.insert({"id": "f", "note": None, "status": "new", "tried": []})
                rows.update("e", status="closed", tried=[])
                await outbox.Outbox("rowbatch-test").add(conn, "test.noted", "e", message)
                assert await conn.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1", message.id) == 0
            # the batch has ended: its one statement wrote the rows and the outbox row (the unit of work goes on)
            assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = 'f'") == 1
            assert await conn.fetchval(f"SELECT status FROM {table} WHERE id = 'e'") == "closed"
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1", message.id) == 1
        assert await test_db.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1", message.id) == 1, "once"
        await asyncio.wait_for(woken.wait(), 30)  # the relay's wake-up, delivered at the commit
    finally:
        await test_db.execute("DELETE FROM outbox WHERE message_id = $1", message.id)
        await listener.close()
