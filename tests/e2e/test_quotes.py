"""Promises before the order on the real stack: a channel asks what would be promised (over HTTP, and on its own
topic as a channel writing to Kafka), places the order on a quote and gets that promise; a quote whose stock went
is planned anew and the channel told why, with the new date."""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson
import pytest

from contracts import topics
from runtime.security import client_options, principal
from runtime.settings import get_settings
from tests.e2e.test_when_things_go_wrong import oid, reached, until_reached
from tests.support.kafka import Producer, read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

TO_MUNICH = {"country": "DE", "postal_code": "80331"}


async def test_a_quote_asked_over_http_is_the_promise_the_order_placed_on_it_gets(oms, gateway):
    await oms.stock({"QUOTED": {"3pl-berlin": 3}})
    asked = await gateway.post("web", "/promises", {"lines": [{"sku": f"{oms.run}-QUOTED", "quantity": 1}],
                                                    "destination": TO_MUNICH})
    assert asked.status_code == 200, asked.text
    quoted = asked.json()
    options = {(o["method"], o["shipping_speed"], o.get("pickup_location_id")): o for o in quoted["options"]}
    assert {("ship", "standard", None), ("ship", "express", None), ("pickup", "standard", "store-munich")} <= \
        options.keys(), quoted
    standard = options[("ship", "standard", None)]
    assert standard["location_ids"] == ["3pl-berlin"]

    order = oms.order(1, {"QUOTED": 1}, channel="web", quote_id=standard["quote_id"])
    answer = await gateway.post("web", "/orders", {k: v for k, v in order.items() if k != "id"})
    assert answer.status_code == 202, answer.text
    released = await gateway.reached("web", order["external_id"], "released")
    [shipment] = released["shipments"]
    assert (shipment["location_id"], shipment["promised_by"]) == ("3pl-berlin", standard["promised_by"])
    assert not any((step.get("reason") or {}).get("code", "").startswith("quote_") for step in released["timeline"])


async def test_a_quote_asked_on_kafka_whose_stock_went_is_planned_anew_and_the_channel_told_why(oms):
    await oms.stock({"GONE": {"3pl-berlin": 1, "dc-rotterdam": 4}})
    channel = principal("channel", "app")
    request = {"type": "promise.requested", "id": str(uuid.uuid4()), "channel": "app", "shipping_speed": "standard",
               "lines": [{"sku": f"{oms.run}-GONE", "quantity": 1}], "destination": TO_MUNICH}
    async with Producer(who=channel) as producer:
        await producer.send(topics.channel_topic("app"), orjson.dumps(request), key=f"app:{request['id']}")

    async def answers() -> list[dict]:
        found = [orjson.loads(r.value) for r in await read_topic(
            topics.channel_events_topic("app"), 5, kafka=client_options(get_settings(), channel))]
        return [m for m in found if m["type"] == "promise.quoted" and m["request_id"] == request["id"]]
    [quoted] = await eventually(answers, lambda found: len(found) == 1, "the quote on the channel's events topic")
    ship = next(o for o in quoted["options"] if o["method"] == "ship")
    assert ship["location_ids"] == ["3pl-berlin"], quoted

    await oms.adjust({"type": "stock.adjusted", "sku": f"{oms.run}-GONE", "location_id": "3pl-berlin", "delta": -1})

    async def berlin() -> int:  # the adjustment and the order travel on different topics: the order waits for it
        return int(await oms.inventory.fetchval("SELECT on_hand FROM stock WHERE sku = $1 AND location_id = $2",
                                                f"{oms.run}-GONE", "3pl-berlin"))
    await eventually(berlin, lambda on_hand: on_hand == 0, "the stock at Berlin gone")
    watch = await oms.watch()
    try:
        order = oms.order(2, {"GONE": 1}, channel="app", quote_id=ship["quote_id"])
        await oms.send(order)
        await until_reached(watch, order, "released", timeout=90)
        [reserved] = [e for e in watch.events[oid(order)] if e["status"] == "reserved"]
        assert reserved["reason"]["code"] == "quote_changed", reserved
        [shipment] = reserved["shipments"]
        assert shipment["location_id"] == "dc-rotterdam" and shipment["promised_by"]
        assert "the stock it planned at 3pl-berlin went" in reserved["reason"]["message"]
        assert reserved["reason"]["message"].endswith(" instead")  # the new promise, in words and on the shipment
    finally:
        await watch.stop()


async def test_fifty_orders_racing_for_a_window_of_ten_get_ten_and_forty_are_held_with_the_free_ones(oms, gateway):
    await oms.stock({"SLOT": {"3pl-berlin": 60}})
    asked = await gateway.post("web", "/promises", {"lines": [{"sku": f"{oms.run}-SLOT", "quantity": 1}],
                                                    "destination": TO_MUNICH, "shipping_speed": "standard"})
    ship = next(o for o in asked.json()["options"] if o["method"] == "ship")
    given = {row["starts_at"] for row in await oms.inventory.fetch("SELECT starts_at FROM delivery_slots")}
    window, later = [w for w in ship["slots"] if datetime.fromisoformat(w["from"]) not in given][:2]
    capacity = next(c for c in oms.network.carriers if c.id == ship["carrier_id"]).slots[0].capacity
    assert capacity == 10

    watch = await oms.watch()
    try:
        orders = [oms.order(n, {"SLOT": 1}, delivery={"method": "ship", "window": window}) for n in range(50)]
        await oms.send(*orders)

        async def outcomes() -> list[str]:  # released (whatever came after it) or where it stopped
            latest = watch.latest()
            return ["released" if reached(watch, o, "released") else (latest.get(oid(o)) or {}).get("status", "")
                    for o in orders]
        done = await eventually(outcomes, lambda found: all(s in ("released", "on_hold") for s in found) and
                                found.count("released") + found.count("on_hold") == 50, "every order placed or held",
                                timeout=120)
        assert (done.count("released"), done.count("on_hold")) == (10, 40)
        held = [o for o, status in zip(orders, done, strict=True) if status == "on_hold"]
        reason = watch.latest()[oid(held[0])]["reason"]
        assert reason["code"] == "slot_full" and "free windows" in reason["message"], reason
        assert await oms.inventory.fetchval("SELECT claimed FROM delivery_slots WHERE starts_at = $1",
                                            datetime.fromisoformat(window["from"])) == 10

        await oms.send(oms.request("order.change_requested", held[0], delivery={"window": later}))
        moved = await until_reached(watch, held[0], "released", timeout=90)
        promised_by = datetime.fromisoformat(moved["shipments"][0]["promised_by"])
        assert promised_by == datetime.fromisoformat(later["to"]), "the new window's end is the promise"
    finally:
        await watch.stop()
