"""What each channel may sell, on the real stack: a marketplace's buffer keeps it from the last units, it is told
only when its number changes, and its orders go only to the locations that serve it."""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts import topics
from runtime.security import ADMIN, client_options
from tests.e2e.test_when_things_go_wrong import until_status
from tests.support.kafka import read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

CHANNELS = Path(__file__).parent / "network-channels.toml"


async def told(sku: str) -> list[tuple[str, int]]:
    """(channel, available) of every availability event of the SKU, in order."""
    return [(body["channel"], body["available"]) for body in
            (orjson.loads(r.value) for r in await read_topic(topics.AVAILABILITY.name, timeout=30))
            if body["sku"] == sku]


def last(events: list[tuple[str, int]], channel: str) -> int | None:
    return next((n for c, n in reversed(events) if c == channel), None)


@pytest.mark.oms_env(OMS_NETWORK_FILE=str(CHANNELS))
async def test_a_marketplace_buffer_keeps_the_last_units_and_only_changes_are_told(oms):
    sku = f"{oms.run}-LAST"
    await oms.stock({"LAST": {"3pl-berlin": 5, "dc-rotterdam": 4}})
    await eventually(lambda: told(sku), lambda e: last(e, "web") == 9 and last(e, "marketplace:amazon") == 2,
                             "web told 9, Amazon 2 (5 in Berlin less its buffer of 3)")
    await oms.adjust({"type": "stock.counted", "sku": sku, "location_id": "3pl-berlin", "on_hand": 5})  # no change

    order = oms.order(1, {"LAST": 2}, channel="web")  # nearest to Munich: Berlin
    watch = await oms.watch()
    try:
        await oms.send(order)
        await until_status(watch, order, "delivered", timeout=90)
        after = await eventually(lambda: told(sku), lambda e: last(e, "marketplace:amazon") == 0,
                                 "Amazon told it may sell nothing: 3 left in Berlin, all its buffer")
        assert last(after, "web") == 7
        shown = subprocess.run([sys.executable, "-m", "oms_cli.main", "availability", sku], capture_output=True,
                               text=True, timeout=60, env={**os.environ, "OMS_NETWORK_FILE": str(CHANNELS),
                                                           "COLUMNS": "200"})
        rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in shown.stdout.splitlines()
                if line.startswith("│")}
        assert (rows["web"], rows["marketplace:amazon"]) == ("7", "0"), shown.stdout  # what `oms availability` shows
        # the recount changed nothing: no channel was told twice in a row the same number
        for channel in {c for c, _ in after}:
            numbers = [n for c, n in after if c == channel]
            assert all(a != b for a, b in pairwise(numbers)), (channel, numbers)

        amazon = oms.order(2, {"LAST": 1}, channel="marketplace:amazon")
        await oms.send(amazon)
        served = await until_status(watch, amazon, "delivered", timeout=90)
        assert [s["location_id"] for s in served["shipments"]] == ["3pl-berlin"], "only Berlin serves Amazon"
    finally:
        await watch.stop()


async def test_the_availability_topic_keeps_the_latest_number_per_key(stack):
    admin = AIOKafkaAdminClient(**client_options(who=ADMIN))
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topics.AVAILABILITY.name)])
        configs = {entry[0]: entry[1] for entry in response.resources[0][4]}
    finally:
        await admin.close()
    assert configs["cleanup.policy"] == "compact"


async def test_stock_falling_to_its_reorder_point_is_told_once_to_buyers(oms):
    """`stock.low` (reorder point 5 in the test network): once when a location's available units fall to it, not
    again while they stay below."""
    sku = f"{oms.run}-LOW"
    await oms.stock({"LOW": {"dc-rotterdam": 8}})
    watch = await oms.watch()
    try:
        first, second = oms.order(1, {"LOW": 3}, channel="web"), oms.order(2, {"LOW": 1}, channel="web")
        await oms.send(first)
        await until_status(watch, first, "delivered", timeout=90)
        await oms.send(second)
        await until_status(watch, second, "delivered", timeout=90)
    finally:
        await watch.stop()

    async def events() -> list[dict]:
        return [body for r in await read_topic(topics.INVENTORY_EVENTS.name, timeout=30)
                if (body := orjson.loads(r.value))["sku"] == sku]
    seen = await eventually(events, lambda found: [e["available"] for e in found if e["type"] == "stock.level_changed"
                                                   ][-1:] == [4], "the last level change: 4 available")
    assert [(e["location_id"], e["available"], e["reorder_point"]) for e in seen if e["type"] == "stock.low"] == [
        ("dc-rotterdam", 5, 5)]
