"""The order service reads its inbound topic and the inventory's replies with one consumer: a bad order is answered
with `rejected` on the inbound topic only; the same bytes on a reply topic are only dead-lettered."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import pytest

from contracts import topics
from order_service.domain import order_id_for
from runtime.settings import get_settings
from tests.conftest import service_process
from tests.support.kafka import Producer, read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.component


async def test_a_bad_order_is_rejected_when_it_came_inbound_and_only_dead_lettered_on_a_reply_topic(
        request, processes, stack) -> None:
    service = service_process(processes, request, "order", "order_service")
    service.wait_for_log("service.started")
    run = uuid.uuid4().hex[:8]

    def bad_order(external_id: str) -> bytes:  # no lines, no customer: invalid, but channel and id are readable
        return orjson.dumps({"type": "order.submitted", "id": str(uuid.uuid4()), "channel": "web",
                             "external_id": external_id})

    replies = topics.INVENTORY_REPLIES.name
    async with Producer() as producer:
        await producer.send(replies, bad_order(f"R-{run}"), key=order_id_for("web", f"R-{run}"))
        await producer.send(topics.ORDERS_INBOUND.name, bad_order(f"I-{run}"), key=f"web:I-{run}")

    conn = await asyncpg.connect(get_settings().database_for("order"))
    try:
        status = await eventually(
            lambda: conn.fetchval("SELECT status FROM orders WHERE external_id = $1", f"I-{run}"),
            lambda s: s is not None, "the inbound bad order recorded")
        assert status == "rejected"
        dead = await eventually(lambda: read_topic(f"{replies}.dlq"),
                                lambda rs: any(orjson.loads(r.value).get("external_id") == f"R-{run}" for r in rs),
                                "the bad reply dead-lettered")
        assert dead
        assert await conn.fetchval("SELECT count(*) FROM orders WHERE external_id = $1", f"R-{run}") == 0
    finally:
        await conn.close()
