"""Defence in depth, on the real stack: what a partner or a channel sends on its own topic about what is not its own
changes nothing and is dead-lettered with the reason."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import pytest

from contracts import topics
from contracts.examples import example
from order_service.domain import order_id_for
from runtime.security import principal
from runtime.settings import get_settings
from tests.conftest import service_process
from tests.support.kafka import Producer, read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.component


def message(kind: str, **fields: object) -> bytes:
    return orjson.dumps({**example(kind), "id": str(uuid.uuid4()), **fields})


async def dead_letters(topic: str, key: str) -> list[dict[str, str]]:
    return [{k: v.decode() for k, v in r.headers} for r in await read_topic(f"{topic}.dlq", timeout=60)
            if r.key == key.encode()]


async def test_a_warehouse_cannot_reject_what_was_handed_to_another(request, processes, stack):
    service_process(processes, request, "fulfillment", "fulfillment_service").wait_for_log("service.started")
    run = uuid.uuid4().hex[:8]
    fulfillment_id, order_id = f"ful-{run}", f"ord-{run}"
    async with Producer() as saga:  # the saga's command, as the order service would send it
        await saga.send(topics.FULFILLMENT_COMMANDS.name, message(
            "fulfillment.request_fulfillment", fulfillment_id=fulfillment_id, order_id=order_id), key=order_id)
    db = await asyncpg.connect(get_settings().database_for("fulfillment"))
    try:
        await eventually(lambda: db.fetchval("SELECT status FROM fulfillments WHERE fulfillment_id = $1",
                                             fulfillment_id), lambda s: s == "requested", "the fulfillment requested")
        berlin = topics.WAREHOUSE_UPDATES.for_partner("3pl-berlin")
        async with Producer(who=principal("warehouse", "3pl-berlin")) as other:
            await other.send(berlin, message("fulfillment.rejected", fulfillment_id=fulfillment_id), key=order_id)
        [letter] = await eventually(lambda: dead_letters(berlin, order_id), lambda found: len(found) == 1,
                                    "berlin's reject dead-lettered")
        assert "was handed to dc-rotterdam, not to 3pl-berlin" in letter["dlq_reason"]
        assert await db.fetchval("SELECT status FROM fulfillments WHERE fulfillment_id = $1", fulfillment_id) == \
            "requested"
    finally:
        await db.close()


async def test_a_channel_cannot_cancel_another_channels_order(request, processes, stack):
    service_process(processes, request, "order", "order_service").wait_for_log("service.started")
    external_id = f"OWN-{uuid.uuid4().hex[:8]}"
    web, amazon = topics.channel_topic("web"), topics.channel_topic("marketplace:amazon")
    async with Producer(who=principal("channel", "web")) as channel:
        await channel.send(web, message("order.submitted", channel="web", external_id=external_id),
                           key=f"web:{external_id}")
    db = await asyncpg.connect(get_settings().database_for("order"))
    order_id = order_id_for("web", external_id)
    try:
        await eventually(lambda: db.fetchval("SELECT status FROM orders WHERE order_id = $1", order_id),
                         lambda s: s is not None, "the web order placed")
        async with Producer(who=principal("channel", "marketplace:amazon")) as other:
            await other.send(amazon, message("order.cancel_requested", channel="web", external_id=external_id),
                             key=f"web:{external_id}")
        [letter] = await eventually(lambda: dead_letters(amazon, f"web:{external_id}"),
                                    lambda found: len(found) == 1, "amazon's cancel dead-lettered")
        assert "names channel web" in letter["dlq_reason"]
        assert await db.fetchval("SELECT status FROM orders WHERE order_id = $1", order_id) != "cancelled"
    finally:
        await db.close()
