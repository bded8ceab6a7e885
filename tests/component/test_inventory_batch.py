"""Reservations in one batch of commands: each sees the levels the ones before it left."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from contracts import topics
from contracts.base import SkuQuantity
from contracts.order import Destination, ReserveStock
from runtime.messaging import encode
from runtime.security import ADMIN, client_options
from runtime.settings import get_settings
from tests.conftest import service_process
from tests.support.kafka import read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.component



async def test_reservations_in_one_batch_leave_their_latest_level_told(request, processes, stack):
    service = service_process(processes, request, "inventory", "inventory_service")
    service.wait_for_log("service.started")
    sku = f"SKU-BATCH-{uuid.uuid4().hex[:6]}"
    db = await asyncpg.connect(get_settings().database_for("inventory"))
    producer = AIOKafkaProducer(**client_options(who=ADMIN), linger_ms=20)
    await producer.start()
    try:
        counted = {"type": "stock.counted", "id": str(uuid.uuid4()), "sku": sku, "location_id": "dc-rotterdam",
                   "on_hand": 3}
        await producer.send_and_wait(topics.INVENTORY_ADJUSTMENTS.name, orjson.dumps(counted), key=sku.encode())
        await eventually(lambda: db.fetchval("SELECT on_hand FROM stock WHERE sku = $1", sku), lambda n: n == 3,
                         "the count taken")
        # three orders for the same SKU sent together, keyed alike so they share a partition and a batch
        futures = [await producer.send(topics.INVENTORY_COMMANDS.name, encode(ReserveStock(
            order_id=f"o-{sku}-{n}", lines=[SkuQuantity(sku=sku, quantity=1)], destination=Destination(country="FR"))),
            key=sku.encode())
            for n in range(3)]
        for future in futures:
            await future

        async def replies() -> list[dict]:  # other tests leave bad messages there on purpose: no order id
            return [body for r in await read_topic(topics.INVENTORY_REPLIES.name, timeout=120)
                    if str((body := orjson.loads(r.value)).get("order_id")).startswith(f"o-{sku}-")]
        found = await eventually(replies, lambda rs: len(rs) == 3, "three replies")
        assert sorted(r["type"] for r in found) == ["inventory.stock_reserved"] * 3
        assert await db.fetchval("SELECT reserved FROM stock WHERE sku = $1", sku) == 3
        async def levels_told() -> list[dict]:  # held back and sent as the latest, within OMS_HOLD_STATE_MS
            return [body for r in await read_topic(topics.INVENTORY_EVENTS.name, timeout=120)
                    if (body := orjson.loads(r.value)).get("sku") == sku and body.get("type") == "stock.level_changed"]
        levels = await eventually(levels_told, lambda found: bool(found) and found[-1]["reserved"] == 3,
                                  "the levels after the three reservations told")
        assert [(lv["reserved"], lv["available"]) for lv in levels][-1] == (3, 0), levels
        assert [lv["reserved"] for lv in levels] == sorted(lv["reserved"] for lv in levels), levels
    finally:
        await producer.stop()
        await db.close()
