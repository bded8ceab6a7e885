"""Bad input is dead-lettered with its reason and the consumer goes on; a duplicate has one effect."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import pytest

from contracts import topics
from runtime.settings import get_settings
from tests.conftest import service_process
from tests.support.kafka import Producer, read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.component

ADJUSTMENTS = topics.INVENTORY_ADJUSTMENTS.name


@pytest.fixture
async def inventory_db(stack) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(get_settings().database_for("inventory"), min_size=1, max_size=2)
    yield pool
    await pool.close()


def stock_message(kind: str, sku: str, **fields: object) -> dict[str, object]:
    return {"type": kind, "id": str(uuid.uuid4()), "sku": sku, "location_id": "dc-rotterdam", **fields}


async def on_hand(pool: asyncpg.Pool, sku: str) -> int | None:
    return await pool.fetchval("SELECT on_hand FROM stock WHERE sku = $1 AND location_id = 'dc-rotterdam'", sku)


async def test_bad_messages_go_to_dlq_and_the_flow_goes_on(request, processes, inventory_db):
    sku = f"SKU-DLQ-{uuid.uuid4().hex[:6]}"
    service = service_process(processes, request, "inventory", "inventory_service")
    service.wait_for_log("service.started")
    bad = {
        b"{not json": "not valid JSON",
        orjson.dumps(stock_message("stock.counted", sku)): "on_hand: Field required",
        orjson.dumps(stock_message("stock.teleported", sku, on_hand=3)): "unknown type 'stock.teleported'",
    }
    async with Producer() as producer:
        for value in bad:
            await producer.send(ADJUSTMENTS, value, key=sku)
        await producer.send(ADJUSTMENTS, orjson.dumps(stock_message("stock.counted", sku, on_hand=7)), key=sku)

    await eventually(lambda: on_hand(inventory_db, sku), lambda n: n == 7, "the good message after the bad ones")

    async def dead_letters() -> list:
        return [r for r in await read_topic(f"{ADJUSTMENTS}.dlq") if r.key == sku.encode()]

    found = await eventually(dead_letters, lambda rs: len(rs) == 3, "three dead letters")
    by_value = {r.value: dict((k, v.decode()) for k, v in r.headers) for r in found}
    for value, reason in bad.items():
        headers = by_value[value]
        assert reason in headers["dlq_reason"], headers["dlq_reason"]
        assert headers["dlq_source_topic"] == ADJUSTMENTS
        assert headers["dlq_attempts"] == "1"
        assert int(headers["dlq_source_offset"]) >= 0 and headers["dlq_source_partition"].isdigit()


async def test_the_same_message_twice_has_one_effect(request, processes, inventory_db):
    sku = f"SKU-DUP-{uuid.uuid4().hex[:6]}"
    service = service_process(processes, request, "inventory", "inventory_service")
    service.wait_for_log("service.started")
    counted = stock_message("stock.counted", sku, on_hand=10)
    adjusted = orjson.dumps(stock_message("stock.adjusted", sku, delta=5))
    async with Producer() as producer:
        await producer.send(ADJUSTMENTS, orjson.dumps(counted), key=sku)
        await producer.send(ADJUSTMENTS, adjusted, key=sku)
        await producer.send(ADJUSTMENTS, adjusted, key=sku)
        marker = stock_message("stock.adjusted", sku, delta=1)
        await producer.send(ADJUSTMENTS, orjson.dumps(marker), key=sku)

    # the marker comes after the duplicate on the same partition: once it is applied, so is the duplicate
    assert await eventually(lambda: on_hand(inventory_db, sku), lambda n: n is not None and n >= 16,
                            "adjustments applied") == 16

    async def level_events() -> list[dict]:
        return [orjson.loads(r.value) for r in await read_topic(topics.INVENTORY_EVENTS.name)
                if r.key == sku.encode()]

    # one level event per transaction that changed the level (a batch sends its last levels): never the 20 or 21 a
    # duplicate applied twice would show, and the last one is 16
    events = await eventually(level_events, lambda es: bool(es) and es[-1]["on_hand"] == 16,
                              "stock.level_changed of 16")
    levels = [e["on_hand"] for e in events if e["type"] == "stock.level_changed"]
    assert levels == sorted(set(levels)) and set(levels) <= {10, 15, 16}, levels


async def test_a_message_that_cannot_apply_is_dead_lettered_alone_and_its_batch_goes_on(request, processes,
                                                                                       inventory_db):
    sku = f"SKU-NEG-{uuid.uuid4().hex[:6]}"
    async with Producer() as producer:  # queued before the service starts, so they arrive as one batch
        await producer.send(ADJUSTMENTS, orjson.dumps(stock_message("stock.counted", sku, on_hand=3)), key=sku)
        negative = orjson.dumps(stock_message("stock.adjusted", sku, delta=-5))
        await producer.send(ADJUSTMENTS, negative, key=sku)
        await producer.send(ADJUSTMENTS, orjson.dumps(stock_message("stock.adjusted", sku, delta=2)), key=sku)
    service = service_process(processes, request, "inventory", "inventory_service")
    service.wait_for_log("service.started")

    assert await eventually(lambda: on_hand(inventory_db, sku), lambda n: n == 5, "the good adjustments") == 5

    async def dead_letters() -> list:
        return [r for r in await read_topic(f"{ADJUSTMENTS}.dlq") if r.key == sku.encode()]

    [letter] = await eventually(dead_letters, lambda rs: len(rs) >= 1, "the negative adjustment dead-lettered")
    headers = {k: v.decode() for k, v in letter.headers}
    assert letter.value == negative
    assert "would make on-hand" in headers["dlq_reason"] and "negative" in headers["dlq_reason"]
