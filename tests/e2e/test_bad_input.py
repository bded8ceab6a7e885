"""Scenario 10: a thousand malformed messages on every public topic the OMS reads, while good orders flow."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
import pytest

from contracts import topics
from oms_cli import demo, workload
from runtime.security import ADMIN
from runtime.settings import get_settings
from tests.support.kafka import read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

FLOOD = 1000


def malformed(run: str, n: int, topic: str) -> tuple[str, bytes]:
    """One bad message of five kinds; the key carries the run so its dead letter can be found."""
    key = f"{run}-bad-{n}"
    kind = n % 5
    bodies: list[Any]
    base: dict[str, Any]
    if topic == topics.ORDERS_INBOUND.name:
        good = workload.order(run, 90_000 + n, workload.random.Random(n), workload.Mix())
        good["external_id"] = key
        bodies = [b"\x00not json", {**good, "customer": None}, {**good, "type": "order.teleported"},
                  {**good, "lines": [{"sku": "X", "quantity": -1, "unit_price": "1.00"}]},
                  {**good, "placed_at": 12}]
    elif topic == topics.INVENTORY_ADJUSTMENTS.name:
        base = {"id": str(uuid.uuid4()), "type": "stock.counted", "sku": key, "location_id": "dc-rotterdam"}
        bodies = [b"{{{", base, {**base, "type": "stock.stolen", "on_hand": 1}, {**base, "type": "stock.received",
                  "quantity": -3}, {**base, "on_hand": "ten"}]
    else:
        base = {"id": str(uuid.uuid4()), "type": "fulfillment.packed" if ".warehouse." in topic else "shipment.booked"}
        bodies = [b"[1, 2", base, {**base, "type": "fulfillment.lost"}, {**base, "fulfillment_id": key,
                  "shipment_id": key, "parcels": [{"parcel_id": "p", "weight_grams": -5}], "tracking_number": ""},
                  {**base, "fulfillment_id": 7, "shipment_id": 7}]
    body = bodies[kind]
    return key, body if isinstance(body, bytes) else orjson.dumps(body)


@dataclass
class Progress:
    delivered: int
    statuses: dict[str, int]
    waiting: list[str]  # a few of those not delivered, with their latest reason


async def test_a_flood_of_bad_input_is_dead_lettered_and_good_orders_flow(oms):
    network = oms.network
    targets = [topics.ORDERS_INBOUND.name, topics.INVENTORY_ADJUSTMENTS.name,
               *(topics.WAREHOUSE_UPDATES.for_partner(i) for i in network.sites),
               *(topics.CARRIER_UPDATES.for_partner(c.id) for c in network.carriers)]
    flood = [(targets[n % len(targets)], *malformed(oms.run, n, targets[n % len(targets)])) for n in range(FLOOD)]
    await oms.seed(400)
    good = workload.orders(oms.run, 200, workload.Mix(split=0.1))
    watch = await oms.watch()
    try:
        async def delivered(batch: list[dict]) -> Progress:
            """How many of the batch are delivered, and where the others stand (shown if the wait fails)."""
            latest = {e["external_id"]: e for e in watch.latest().values()}
            where = Counter(latest[o["external_id"]]["status"] if o["external_id"] in latest else "not seen"
                            for o in batch)
            return Progress(where["delivered"], dict(where),
                            [f"{o['external_id']}: {latest.get(o['external_id'], {}).get('reason')}" for o in batch
                             if o["external_id"] not in latest or latest[o["external_id"]]["status"] != "delivered"][:5])

        started = time.monotonic()  # the same number of good orders, first alone (for the record), then in the flood
        await oms.submit(good[:100])
        await eventually(partial(delivered, good[:100]), lambda p: p.delivered == 100, "good orders alone delivered",
                         timeout=180)
        alone_s = time.monotonic() - started
        started = time.monotonic()
        await oms.submit(good[100:150])
        await demo.send_all(get_settings(), flood, who=ADMIN)  # garbage on every topic, partners' too
        await oms.submit(good[150:])
        await eventually(partial(delivered, good[100:]), lambda p: p.delivered == 100,
                         "good orders in the flood delivered", timeout=180)
        flowing_s = time.monotonic() - started

        async def dead_letters() -> int:
            found = 0
            for topic in set(targets):
                found += sum(1 for r in await read_topic(f"{topic}.dlq", timeout=60)
                             if r.key and r.key.decode().startswith(f"{oms.run}-bad-"))
            return found
        assert await eventually(dead_letters, lambda n: n >= FLOOD, "every bad message dead-lettered",
                                timeout=120, interval=1.0) == FLOOD

        bad_orders = [key for topic, key, body in flood if topic == topics.ORDERS_INBOUND.name and
                      b"order.teleported" not in body and not body.startswith(b"\x00")]

        async def rejected() -> int:
            return sum(1 for e in watch.latest().values() if e["external_id"].startswith(f"{oms.run}-bad-")
                       and e["status"] == "rejected" and e["reason"]["code"] == "invalid_message")
        assert await eventually(rejected, lambda n: n >= len(bad_orders), "bad orders answered with rejected") == len(
            bad_orders)
        print(f"{FLOOD} malformed messages across {len(targets)} topics; 100 good orders delivered in {flowing_s:.1f}s "
              f"in the flood, {alone_s:.1f}s alone; "
              f"{len(bad_orders)} bad order.submitted answered with rejected")
    finally:
        await watch.stop()
