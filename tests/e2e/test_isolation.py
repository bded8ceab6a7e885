"""Nobody acts for another, on the real stack: a channel cannot claim the id of a message another writer will send,
reads only its own orders, and a feed adjusts only its own locations."""

from __future__ import annotations

import uuid

import orjson
import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from contracts import topics
from order_service.domain import ORDER_NAMESPACE
from runtime.security import client_options, principal
from tests.e2e.conftest import RunningOms
from tests.e2e.test_returns import returning
from tests.e2e.test_when_things_go_wrong import oid, until_reached, until_status
from tests.support.kafka import Producer, read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

WEB, AMAZON, WAYFAIR = "web", "marketplace:amazon", "marketplace:wayfair"


async def as_channel(channel: str, topic: str, message: dict, key: str) -> None:
    async with Producer(who=principal("channel", channel)) as producer:
        await producer.send(topic, orjson.dumps(message), key=key)


def confirmations(oms: RunningOms, order: dict) -> list[dict]:
    return [n for n in oms.sent_notifications() if n["order_id"] == oid(order) and n["kind"] == "confirmation"]


@pytest.mark.oms_env(OMS_SIM_DAMAGED_RATE="0")
async def test_a_channel_that_takes_the_id_of_anothers_exchange_order_suppresses_nothing(oms):
    """Amazon sends, on its own topic, a valid order of its own, and Wayfair on its own one naming the web channel,
    both with the message id the OMS will give web's exchange order: web's exchange is placed all the same, its
    customer told, and notifications of later orders keep flowing."""
    await oms.stock({"SMALL": {"3pl-berlin": 5}, "LARGE": {"3pl-berlin": 5}})
    order = oms.order(1, {"SMALL": 1, "LARGE": 1}, channel=WEB)
    watch = await oms.watch()
    try:
        await as_channel(WEB, topics.channel_topic(WEB), order, f"{WEB}:{order['external_id']}")
        await until_status(watch, order, "delivered", timeout=90)
        taken = str(uuid.uuid5(ORDER_NAMESPACE, f"exchange:{oid(order)}-R1"))  # what the OMS derives for it
        own = oms.order(2, {"SMALL": 1}, channel=AMAZON, id=taken)
        naming_web = {**oms.order(3, {"SMALL": 1}, channel=WEB, id=taken), "external_id": f"{order['external_id']}-X1"}
        for channel, message in ((AMAZON, own), (WAYFAIR, naming_web)):
            await as_channel(channel, topics.channel_topic(channel), message,
                             f"{message['channel']}:{message['external_id']}")
        await until_status(watch, own, "delivered", timeout=90)  # amazon's own order is an order like any

        exchange = {**returning(order, "3pl-berlin", {"SMALL": 1}, oms.run), "reason": "exchange",
                    "replacement_lines": [{"sku": f"{oms.run}-LARGE", "quantity": 1}]}
        await as_channel(WEB, topics.channel_topic(WEB), exchange, f"{WEB}:{order['external_id']}")
        final = await until_status(watch, order, "returned", timeout=90)
        placed = {"channel": WEB, "external_id": final["returns"][0]["exchange_external_id"]}
        await until_status(watch, placed, "delivered", timeout=90)

        async def told() -> list[dict]:
            return confirmations(oms, placed)
        await eventually(told, lambda found: len(found) == 1, "web's customer told of the exchange order")

        later = oms.order(4, {"SMALL": 1}, channel=WEB)
        await as_channel(WEB, topics.channel_topic(WEB), later, f"{WEB}:{later['external_id']}")

        async def flowing() -> list[dict]:
            return confirmations(oms, later)
        await eventually(flowing, lambda found: len(found) == 1, "a later order's confirmation: notifications flow")
        dead = [orjson.loads(r.value) for r in await read_topic(f"{topics.channel_topic(WAYFAIR)}.dlq", timeout=30)]
        assert [m["external_id"] for m in dead if m.get("id") == taken] == [naming_web["external_id"]]
    finally:
        await watch.stop()


async def test_a_channel_reads_its_own_orders_on_its_events_topic_and_no_other_channels(oms):
    await oms.stock({"CHAIR": {"3pl-berlin": 5}})
    ours, theirs = oms.order(1, {"CHAIR": 1}, channel=WEB), oms.order(2, {"CHAIR": 1}, channel=AMAZON)
    watch = await oms.watch()
    try:
        await oms.send(ours, theirs)
        for order in (ours, theirs):
            await until_reached(watch, order, "released", timeout=90)
        web = client_options(who=principal("channel", WEB))

        async def seen_by_web() -> list[dict]:
            return [orjson.loads(r.value) for r in await read_topic(topics.channel_events_topic(WEB), 30, web)]
        events = await eventually(seen_by_web, lambda found: any(e.get("order_id") == oid(ours) and e.get("status") ==
                                                                 "released" for e in found), "web's own events")
        assert {e["channel"] for e in events if e["type"] == "order.status_changed"} == {WEB}, "nothing of others'"
        assert oid(theirs) not in {e.get("order_id") for e in events}
        for shared in (topics.ORDERS_EVENTS.name, topics.PAYMENTS.name, topics.channel_events_topic(AMAZON)):
            with pytest.raises(TopicAuthorizationFailedError):
                await read_topic(shared, 30, web)
    finally:
        await watch.stop()


async def test_a_feed_that_adjusts_a_location_not_its_own_is_dead_lettered_and_changes_nothing(oms):
    sku = f"{oms.run}-FEED"
    await oms.stock({"FEED": {"dc-rotterdam": 3, "store-munich": 4}})
    wms = topics.feed_topic("wms-rotterdam")
    async with Producer(who=principal("feed", "wms-rotterdam")) as feed:
        for location, count in (("store-munich", 99), ("dc-rotterdam", 7)):
            await feed.send(wms, orjson.dumps({"type": "stock.counted", "id": str(uuid.uuid4()), "sku": sku,
                                               "location_id": location, "on_hand": count}), key=sku)

    async def on_hand() -> dict[str, int]:
        rows = await oms.inventory.fetch("SELECT location_id, on_hand FROM stock WHERE sku = $1", sku)
        return {r["location_id"]: r["on_hand"] for r in rows}
    assert await eventually(on_hand, lambda found: found.get("dc-rotterdam") == 7, "its own location counted") == {
        "dc-rotterdam": 7, "store-munich": 4}

    async def dead() -> list[dict]:
        return [{k: v.decode() for k, v in r.headers} for r in await read_topic(f"{wms}.dlq", 30) if r.key == sku.encode()]
    [letter] = await eventually(dead, lambda found: len(found) == 1, "the other location's count dead-lettered")
    assert "may not change stock at store-munich" in letter["dlq_reason"]
