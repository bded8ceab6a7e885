"""The outbox relay publishes every committed row once, in per-key order, through kill -9 and a broker outage."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict

import asyncpg
import orjson
import pytest

from contracts.base import Message
from contracts.inventory import StockLevelChanged
from devstack.stack import Stack
from runtime import inbox
from runtime.outbox import TAKE, OutboxRelay, relay_session
from runtime.parking import OversizedMessage
from runtime.postgres import Postgres
from runtime.security import ADMIN, client_options
from runtime.settings import get_settings
from tests.conftest import service_process
from tests.support.kafka import create_topic, read_topic
from tests.support.poll import eventually

pytestmark = [pytest.mark.component, pytest.mark.chaos]

KEYS = 40


class Numbered(Message):
    type: str = "test.numbered"
    key: str
    seq: int


async def add(conn: asyncpg.Connection, items: list[tuple[str, str, Message]]) -> None:
    """Outbox rows as a unit of work of the `test` service writes them."""
    await Postgres(conn).write([], [("test", item) for item in items])


async def write_rows(pool: asyncpg.Pool, topic: str, first: int, count: int, per_tx: int = 250) -> None:
    for start in range(first, first + count, per_tx):
        async with pool.acquire() as conn, conn.transaction():
            await add(conn, [(topic, f"k{i % KEYS}", Numbered(key=f"k{i % KEYS}", seq=i))
                             for i in range(start, min(start + per_tx, first + count))])


async def outbox_rows(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE message_type = 'test.numbered'"))


async def apply_once(pool: asyncpg.Pool, topic: str) -> tuple[dict[str, list[int]], int]:
    """Reads the topic as a consumer with an inbox would: the effect (appending seq) happens once per id."""
    effects: dict[str, list[int]] = defaultdict(list)
    duplicates = 0
    consumer = f"relay-test-{uuid.uuid4().hex[:8]}"
    records = await read_topic(topic, timeout=60)
    async with pool.acquire() as conn:
        for record in records:
            body = orjson.loads(record.value)
            async with conn.transaction():
                if await inbox.claim_many(conn, consumer, [body["id"]]):
                    effects[body["key"]].append(body["seq"])
                else:
                    duplicates += 1
    return effects, duplicates


async def test_relay_survives_kill_and_broker_outage(request, processes, stack: Stack, test_db: asyncpg.Pool):
    topic = f"test.relay.{uuid.uuid4().hex[:8]}"
    await create_topic(topic, partitions=12)
    await test_db.execute("DELETE FROM outbox")
    await write_rows(test_db, topic, 0, 20_000)
    env = {"OMS_RELAY_BATCH_SIZE": "200"}
    relay = service_process(processes, request, "relay", "runtime.relay_process", "test",
                            get_settings().database_for("test"), env=env)

    # kill -9 in the middle: some rows sent, some not
    await eventually(lambda: outbox_rows(test_db), lambda n: n < 16_000, "relay sending", timeout=60)
    relay.kill()
    left_at_kill = await outbox_rows(test_db)
    assert 0 < left_at_kill < 20_000, f"the kill was not mid-flow: {left_at_kill} rows left"
    relay.start()

    # the broker goes away for a while, rows keep being committed, then it comes back
    stack.kafka.stop()
    try:
        await write_rows(test_db, topic, 20_000, 2_000)
        relay.wait_for_log("outbox.relay_failed", timeout=60)
    finally:  # never leave the shared broker down for the tests after this one
        stack.kafka.start()

    await eventually(lambda: outbox_rows(test_db), lambda n: n == 0, "outbox drained", timeout=120)
    effects, duplicates = await apply_once(test_db, topic)

    applied = sorted(seq for seqs in effects.values() for seq in seqs)
    assert applied == list(range(22_000)), f"{len(applied)} effects for 22000 rows"
    for key, seqs in effects.items():
        assert seqs == sorted(seqs), f"key {key} out of order: {seqs[:20]}"
    print(f"rows left at kill: {left_at_kill}; duplicates on the wire absorbed by the inbox: {duplicates}")


async def test_the_claim_walks_the_id_index_when_the_outbox_looks_empty(test_db: asyncpg.Pool) -> None:
    """A vacuumed or analysed outbox full of taken rows looks empty to the planner; the claim must still use the
    id index (a whole-heap read and sort under load cost 9 ms a claim instead of 0.5)."""
    async with test_db.acquire() as conn:
        await conn.execute("DELETE FROM outbox")
        await write_rows(test_db, "test.claim-plan", 0, 3000)
        await conn.execute("DELETE FROM outbox")
        await conn.execute("ANALYZE outbox")
        await relay_session(conn)
        plan = "\n".join(r[0] for r in await conn.fetch(
            f"EXPLAIN {TAKE.replace('$1', '500').replace('$2::bigint[]', 'ARRAY[1, 2]::bigint[]')}"))
        await conn.execute("RESET ALL")
    assert "Index Scan using outbox_pkey" in plan and "Seq Scan on outbox " not in plan and "Sort" not in plan, plan


async def test_held_state_messages_are_released_as_the_latest_of_each_in_the_order_written(test_db: asyncpg.Pool):
    """Stock levels written by ten transactions (five for each of two locations) are one message per location once
    released: the last levels, in the order they were written; nothing stays held."""
    topic = f"test.held.{uuid.uuid4().hex[:8]}"
    await test_db.execute("DELETE FROM outbox_held")
    for reserved in range(5):
        for location in ("loc-a", "loc-b"):
            level = StockLevelChanged(sku="SKU-1", location_id=location, on_hand=10, reserved=reserved,
                                      available=10 - reserved, inbound=0)
            async with test_db.acquire() as conn, conn.transaction():
                await Postgres(conn).write([], [], None, [("test", (topic, "SKU-1", level))])
    relay = OutboxRelay(get_settings().database_for("test"), "test", client_options(who=ADMIN))
    async with test_db.acquire() as conn:
        await relay_session(conn)
        moved = await relay.release_held(conn)
        await conn.execute("RESET ALL")
    rows = await test_db.fetch("DELETE FROM outbox WHERE topic = $1 RETURNING id, payload", topic)
    released = [(body["location_id"], body["reserved"]) for body in
                (orjson.loads(r["payload"]) for r in sorted(rows, key=lambda r: r["id"]))]
    assert moved == 2 and released == [("loc-a", 4), ("loc-b", 4)], released
    assert await test_db.fetchval("SELECT count(*) FROM outbox_held") == 0


class Padded(Numbered):
    type: str = "test.padded"
    pad: str


async def test_a_round_larger_than_a_producer_batch_goes_in_several_in_order(stack: Stack, test_db: asyncpg.Pool):
    """500 rows of 2 KB for one key: one partition, four times a producer batch (256 KB); all sent, in id order."""
    topic = f"test.relay.big.{uuid.uuid4().hex[:8]}"
    await create_topic(topic, partitions=3)
    await test_db.execute("DELETE FROM outbox")
    async with test_db.acquire() as conn, conn.transaction():
        await add(conn, [(topic, "k", Padded(key="k", seq=i, pad="x" * 2000)) for i in range(500)])
    relay = OutboxRelay(get_settings().database_for("test"), "test", client_options(who=ADMIN), batch_size=500)
    try:
        async with test_db.acquire() as conn:
            assert await relay.relay_once(conn) == 500
            assert await relay.relay_once(conn, read=False) == 0  # the round's rows deleted
    finally:
        await relay.close()
    records = await read_topic(topic, timeout=60)
    assert len({r.partition for r in records}) == 1
    assert [orjson.loads(r.value)["seq"] for r in records] == list(range(500))
    assert await test_db.fetchval("SELECT count(*) FROM outbox WHERE message_type = 'test.padded'") == 0


async def test_a_row_the_broker_refuses_is_parked_and_the_rows_behind_it_flow(stack: Stack, test_db: asyncpg.Pool):
    """A row over the broker's limit (written past the outbox's own size check, as an older version could) is moved
    to parked_messages with the reason; the rows of the same key behind it are sent, in order."""
    topic = f"test.relay.refused.{uuid.uuid4().hex[:8]}"
    await create_topic(topic, partitions=3)
    await test_db.execute("DELETE FROM outbox")
    async with test_db.acquire() as conn, conn.transaction():
        await add(conn, [(topic, "k", Numbered(key="k", seq=0))])
        await conn.execute("INSERT INTO outbox (topic, key, message_id, message_type, payload, headers) "
                           "VALUES ($1, 'k', 'too-big', 'test.padded', $2, '{}')", topic, b"x" * (1100 * 1024))
        await add(conn, [(topic, "k", Numbered(key="k", seq=i)) for i in (1, 2)])
    relay = OutboxRelay(get_settings().database_for("test"), "test", client_options(who=ADMIN), batch_size=500)
    try:
        async with test_db.acquire() as conn:
            assert await relay.relay_once(conn) == 4
            assert await relay.relay_once(conn, read=False) == 0
    finally:
        await relay.close()
    records = await read_topic(topic, timeout=60)
    assert [orjson.loads(r.value)["seq"] for r in records] == [0, 1, 2]
    assert await test_db.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic) == 0
    parked = await test_db.fetchrow("SELECT * FROM parked_messages WHERE topic = $1", topic)
    assert parked["origin"] == "outbox" and parked["key"] == b"k" and len(parked["value"]) == 1100 * 1024
    assert "MessageSizeTooLarge" in parked["reason"]


async def test_a_message_over_the_size_limit_is_refused_when_it_is_written(test_db: asyncpg.Pool):
    with pytest.raises(OversizedMessage):
        async with test_db.acquire() as conn, conn.transaction():
            await add(conn, [("t", "k", Padded(key="k", seq=0, pad="x" * 1_100_000))])


async def test_a_leader_that_hangs_loses_the_lead_and_another_relay_sends(stack: Stack, test_db: asyncpg.Pool):
    """The leading relay stops talking to the database (hung, its connection still open): the server ends its
    session after the quiet time, the advisory lock passes on, and a second relay sends what was written."""
    topic = f"test.relay.hang.{uuid.uuid4().hex[:8]}"
    await create_topic(topic, partitions=3)
    await test_db.execute("DELETE FROM outbox")
    settings = get_settings()
    hung = OutboxRelay(settings.database_for("test"), "test", client_options(settings, ADMIN), poll_interval=0.1,
                       lead_idle_timeout=2.0)
    leading = asyncio.Event()

    async def hang(conn: asyncpg.Connection, read: bool = True) -> int:
        leading.set()
        await asyncio.Event().wait()  # never returns, never talks to the database again
        return 0
    hung.relay_once = hang  # type: ignore[method-assign]
    second = OutboxRelay(settings.database_for("test"), "test", client_options(settings, ADMIN), poll_interval=0.1)
    tasks = [asyncio.create_task(hung.run())]
    try:
        await asyncio.wait_for(leading.wait(), 30)
        tasks.append(asyncio.create_task(second.run()))
        await write_rows(test_db, topic, 0, 10)
        records = await eventually(lambda: read_topic(topic), lambda rs: len(rs) == 10,
                                   "the second relay sent every row", timeout=60)
        assert sorted(orjson.loads(r.value)["seq"] for r in records) == list(range(10))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hung.close()
        await second.close()


async def test_rows_for_a_topic_the_relay_may_not_write_are_parked_and_the_others_flow(stack: Stack,
                                                                                       test_db: asyncpg.Pool):
    """A topic the service's principal may not write (an ACL missing, say for a partner added to the network before
    its topic and ACL): only those rows are parked, with the reason; the rows around them are sent, in order."""
    from contracts import topics
    from runtime.security import principal

    allowed, refused, key = topics.INVENTORY_EVENTS.name, topics.ORDERS_EVENTS.name, f"k-{uuid.uuid4().hex[:8]}"
    await test_db.execute("DELETE FROM outbox")
    async with test_db.acquire() as conn, conn.transaction():
        await add(conn, [(allowed, key, Numbered(key=key, seq=0)), (refused, key, Numbered(key=key, seq=1)),
                         (allowed, key, Numbered(key=key, seq=2))])
    relay = OutboxRelay(get_settings().database_for("test"), "test",
                        client_options(who=principal("service", "inventory")), batch_size=500)
    try:
        async with test_db.acquire() as conn:
            assert await relay.relay_once(conn) == 3
            assert await relay.relay_once(conn, read=False) == 0
    finally:
        await relay.close()
    records = [r for r in await read_topic(allowed, timeout=60) if r.key == key.encode()]
    assert [orjson.loads(r.value)["seq"] for r in records] == [0, 2]
    parked = await test_db.fetchrow("SELECT * FROM parked_messages WHERE topic = $1 AND key = $2", refused,
                                    key.encode())
    assert parked["origin"] == "outbox" and "TopicAuthorizationFailed" in parked["reason"]
    assert await test_db.fetchval("SELECT count(*) FROM outbox") == 0


async def test_rows_for_a_topic_the_broker_does_not_have_are_parked_and_the_others_flow(stack: Stack,
                                                                                        test_db: asyncpg.Pool):
    """A location added to the network file before its topic exists: its rows are parked at once (not waited for
    round after round), the rows around them are sent, and a later round with such rows does not wait again."""
    from contracts import topics
    from devstack.access import Acl, create_acls
    from runtime.security import principal

    allowed, key = topics.INVENTORY_EVENTS.name, f"k-{uuid.uuid4().hex[:8]}"
    missing = f"partners.location.nowhere-{uuid.uuid4().hex[:6]}.requests.v1"
    await test_db.execute("DELETE FROM outbox")
    async with test_db.acquire() as conn, conn.transaction():
        await add(conn, [(allowed, key, Numbered(key=key, seq=0)), (missing, key, Numbered(key=key, seq=1)),
                         (allowed, key, Numbered(key=key, seq=2))])
    inventory = principal("service", "inventory")  # allowed to write the topic, which is not there
    await create_acls(client_options(who=ADMIN), [Acl(inventory, op, "Topic", missing) for op in ("Write", "Describe")])
    relay = OutboxRelay(get_settings().database_for("test"), "test", client_options(who=inventory), batch_size=500)
    try:
        async with test_db.acquire() as conn:
            assert await relay.relay_once(conn) == 3
            async with conn.transaction():
                await add(conn, [(missing, key, Numbered(key=key, seq=3)), (allowed, key, Numbered(key=key, seq=4))])
            again = time.monotonic()
            assert await relay.relay_once(conn) == 2
            assert time.monotonic() - again < relay.metadata_wait  # known missing: not waited for a second time
            assert await relay.relay_once(conn, read=False) == 0
    finally:
        await relay.close()
    records = [r for r in await read_topic(allowed, timeout=60) if r.key == key.encode()]
    assert [orjson.loads(r.value)["seq"] for r in records] == [0, 2, 4]
    parked = await test_db.fetch("SELECT * FROM parked_messages WHERE topic = $1 ORDER BY id", missing)
    assert [orjson.loads(p["value"])["seq"] for p in parked] == [1, 3]
    assert all(p["origin"] == "outbox" and "does not exist" in p["reason"] for p in parked), [p["reason"] for p in parked]
    assert await test_db.fetchval("SELECT count(*) FROM outbox") == 0
