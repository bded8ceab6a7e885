"""Hostile input never costs a good message: poison records beside good ones on one partition, records the
dead-letter topic refuses, numbers past the bounds."""

from __future__ import annotations

import re
import uuid

import asyncpg
import orjson
import pytest

from contracts import topics
from contracts.examples import example
from order_service.domain import order_id_for
from runtime.settings import get_settings
from tests.conftest import service_process
from tests.e2e.test_operator_tools import oms_cli
from tests.support.kafka import Producer, read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.component

INBOUND = topics.ORDERS_INBOUND.name


def order(external_id: str, **fields: object) -> dict[str, object]:
    return {**example("order.submitted"), "id": str(uuid.uuid4()), "channel": "web", "external_id": external_id,
            **fields}


@pytest.fixture
async def order_db(stack) -> asyncpg.Connection:
    conn = await asyncpg.connect(get_settings().database_for("order"))
    yield conn
    await conn.close()


async def rejected_events(order_ids: set[str]) -> dict[str, dict]:
    found = {}
    for record in await read_topic(topics.ORDERS_EVENTS.name, timeout=30):
        if record.key is not None and record.key.decode() in order_ids:
            event = orjson.loads(record.value)
            if event["status"] == "rejected":
                found[event["order_id"]] = event
    return found


async def test_good_orders_beside_poison_on_one_partition_all_arrive(request, processes, order_db):
    """Invalid orders whose ids PostgreSQL refuses (a NUL character; 3,000 characters, past an index row's limit)
    in the same fetches as good ones: every good order is recorded, every bad one answered with `rejected`."""
    run = uuid.uuid4().hex[:8]
    good, bad = [], []
    async with Producer() as producer:  # queued before the service starts: they come in the same fetches
        for n in range(40):
            good.append(f"G-{run}-{n}")
            await producer.send(INBOUND, orjson.dumps(order(good[-1])), key=f"web:{good[-1]}", partition=0)
            poison = f"P-{run}-{n}\x00" if n % 2 else f"P-{run}-{n}-" + "x" * 3000
            bad.append(poison)
            await producer.send(INBOUND, orjson.dumps(order(poison, lines=[])), key=f"web:P-{run}", partition=0)
    service = service_process(processes, request, "order", "order_service")
    service.wait_for_log("service.started")

    recorded = await eventually(
        lambda: order_db.fetch("SELECT external_id FROM orders WHERE external_id = ANY($1::text[])", good),
        lambda rows: len(rows) == len(good), "every good order recorded", timeout=90)
    assert {r["external_id"] for r in recorded} == set(good)
    wanted = {order_id_for("web", external_id) for external_id in bad}
    answered = await eventually(lambda: rejected_events(wanted), lambda found: len(found) == len(bad),
                                "every poison order answered with rejected", timeout=90)
    assert {e["external_id"] for e in answered.values()} == set(bad)
    assert all(e["reason"]["code"] == "invalid_message" and "lines" in e["reason"]["message"]
               for e in answered.values())


async def test_numbers_past_the_bounds_are_rejected_at_once_with_the_reason(request, processes, order_db):
    run = uuid.uuid4().hex[:8]
    too_many = order(f"Q-{run}", lines=[{"sku": "SKU-1", "quantity": 2**31, "unit_price": "1.00"}])
    async with Producer() as producer:
        await producer.send(INBOUND, orjson.dumps(too_many), key=f"web:Q-{run}")
    service = service_process(processes, request, "order", "order_service")
    service.wait_for_log("service.started")
    order_id = order_id_for("web", f"Q-{run}")
    [event] = (await eventually(lambda: rejected_events({order_id}), lambda found: len(found) == 1,
                                "the order rejected")).values()
    assert "lines.0.quantity" in event["reason"]["message"] and "100000" in event["reason"]["message"]
    assert await order_db.fetchval("SELECT status FROM orders WHERE order_id = $1", order_id) == "rejected"


async def test_a_record_its_dead_letter_topic_refuses_is_parked_and_the_partition_goes_on(request, processes):
    """A record of 1 MiB less a little: the broker took it, but with the dead-letter headers it is over the limit
    of a request. It is parked with its bytes and the reason; the good message behind it is applied."""
    sku = f"SKU-BIG-{uuid.uuid4().hex[:6]}"
    adjustments = topics.INVENTORY_ADJUSTMENTS.name
    huge = b'{"type": "stock.counted", "padding": "' + b"x" * (1024 * 1024 - 200) + b'"}'
    good = {"type": "stock.counted", "id": str(uuid.uuid4()), "sku": sku, "location_id": "dc-rotterdam",
            "on_hand": 9}
    async with Producer(max_request_size=2 * 1024 * 1024) as producer:
        await producer.send(adjustments, huge, key=sku)
        await producer.send(adjustments, orjson.dumps(good), key=sku)
    service = service_process(processes, request, "inventory", "inventory_service")
    service.wait_for_log("service.started")
    conn = await asyncpg.connect(get_settings().database_for("inventory"))
    try:
        await eventually(lambda: conn.fetchval("SELECT on_hand FROM stock WHERE sku = $1", sku), lambda n: n == 9,
                         "the good count behind the big record")
        parked = await eventually(
            lambda: conn.fetch("SELECT * FROM parked_messages WHERE key = $1", sku.encode()), lambda rows: len(rows) == 1,
            "the big record parked")
        assert parked[0]["value"] == huge and parked[0]["topic"] == adjustments
        assert "dead-letter topic refused it" in parked[0]["reason"] and "id: Field required" in parked[0]["reason"]

        listed = await oms_cli("dlq", "list")
        assert re.search(rf"inventory\s*│\s*{parked[0]['id']}\s*│\s*consume\s*│\s*{re.escape(adjustments)}", listed), listed
        assert "replayed 1 parked message(s) of inventory" in await oms_cli(
            "dlq", "replay", "--parked", str(parked[0]["id"]), "--service", "inventory")
        again = await eventually(  # still too large for its dead-letter topic: parked once more, the first replayed
            lambda: conn.fetch("SELECT * FROM parked_messages WHERE key = $1 ORDER BY id", sku.encode()),
            lambda rows: len(rows) == 2, "the replayed record parked again")
        assert again[0]["replayed_at"] is not None and again[1]["replayed_at"] is None and again[1]["value"] == huge
    finally:
        await conn.close()
