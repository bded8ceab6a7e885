"""The saga's own deadlines: a reservation inventory never answers is asked for again (the same message, so an
inventory that handled it would ignore the copy), then the order is held for a person with the reason."""

from __future__ import annotations

import time
import uuid

import asyncpg
import orjson
import pytest

from contracts import topics
from contracts.examples import example
from order_service.domain import order_id_for
from runtime.db import DatabaseClock
from runtime.settings import get_settings
from tests.conftest import service_process
from tests.support.kafka import Producer, read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.component


async def test_a_reservation_nobody_answers_is_asked_again_then_the_order_is_held(request, processes, stack):
    service = service_process(processes, request, "order", "order_service")  # no inventory runs: nobody answers
    service.wait_for_log("service.started")
    external_id = f"SILENT-{uuid.uuid4().hex[:8]}"
    order_id = order_id_for("web", external_id)
    body = {**example("order.submitted"), "id": str(uuid.uuid4()), "channel": "web", "external_id": external_id,
            "payment": {"status": "authorized", "reference": "psp-1"}}
    async with Producer() as producer:
        await producer.send(topics.ORDERS_INBOUND.name, orjson.dumps(body), key=f"web:{external_id}")
    conn = await asyncpg.connect(get_settings().database_for("order"))

    async def requests() -> list[dict]:
        return [orjson.loads(r.value) for r in await read_topic(topics.INVENTORY_COMMANDS.name)
                if r.key == order_id.encode()]

    async def past_deadline() -> None:  # as if five minutes went by
        await conn.execute("UPDATE orders SET deadline_at = now() - interval '1 second' WHERE order_id = $1", order_id)
    try:
        [asked] = await eventually(requests, lambda found: len(found) == 1, "the reservation asked for")
        assert await conn.fetchval("SELECT deadline_at > now() FROM orders WHERE order_id = $1", order_id)
        await past_deadline()
        again = await eventually(requests, lambda found: len(found) == 2, "the reservation asked for again")
        assert again[1] == asked  # the same message, id and all
        await past_deadline()
        held = await eventually(
            lambda: conn.fetchrow("SELECT status, deadline_at, (SELECT reason->>'code' FROM order_timeline t WHERE "
                                  "t.order_id = o.order_id ORDER BY sequence DESC LIMIT 1) AS code FROM orders o "
                                  "WHERE order_id = $1", order_id),
            lambda row: row["status"] == "on_hold", "the order held")
        assert held["code"] == "step_timed_out" and held["deadline_at"] is None
        assert len(await requests()) == 2
    finally:
        await conn.close()


async def test_deadlines_are_written_on_the_databases_clock_whatever_the_hosts_clock_says(test_db):
    clock = DatabaseClock(host=lambda: time.time() - 3600)  # a host an hour behind
    await clock.sync(test_db)
    database_now = await test_db.fetchval("SELECT clock_timestamp()")
    assert abs((clock.now() - database_now).total_seconds()) < 1.0, (clock.now(), database_now)
