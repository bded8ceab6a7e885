"""Click and collect on the real stack: picked from the store's own shelf, or shipped there from another location
and handed over; collected, or cancelled when nobody comes (the stock back in the store); the customer told once at
each step."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import derived_network
from tests.e2e.test_when_things_go_wrong import oid, until_status
from tests.support.checks import stock_levels, stock_problems
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

QUICK = derived_network("pickup", "store-munich", pickup_hold_days=0.0001)  # about 9 s at the counter


def pickup(store: str) -> dict:
    return {"delivery": {"method": "pickup", "pickup_location_id": store}}


def statuses(watch, order: dict) -> list[str]:
    return [e["status"] for e in watch.events.get(oid(order), [])]


async def told(oms, order: dict, kinds: list[str]) -> None:
    async def sent() -> list[str]:
        return sorted(c["kind"] for c in oms.sent_notifications() if c["order_id"] == oid(order))
    await eventually(sent, lambda found: found == sorted(kinds), f"{order['external_id']} told {kinds}")


@pytest.mark.oms_env(OMS_SIM_NO_SHOW_RATE="0")
async def test_picked_from_the_store_shelf_and_collected(oms):
    await oms.stock({"SHELF": {"store-munich": 5, "3pl-berlin": 10}})  # Berlin is nearer to the customer
    watch = await oms.watch()
    try:
        order = oms.order(1, {"SHELF": 1}, **pickup("store-munich"))
        await oms.send(order)
        done = await until_status(watch, order, "collected", timeout=90)
        [shipment] = done["shipments"]
        assert (shipment["location_id"], shipment["pickup"], shipment["carrier_id"]) == ("store-munich", True, None)
        assert statuses(watch, order)[-2:] == ["ready_for_pickup", "collected"]
        await told(oms, order, ["confirmation", "ready_for_pickup"])
        levels = await stock_levels(oms.inventory, f"{oms.run}-SHELF")
        assert levels[(f"{oms.run}-SHELF", "store-munich")] == {"on_hand": 4, "reserved": 0}, "it left the shelf"
    finally:
        await watch.stop()


@pytest.mark.oms_env(OMS_SIM_NO_SHOW_RATE="0")
async def test_shipped_to_the_store_then_collected_there(oms):
    await oms.stock({"AWAY": {"dc-rotterdam": 5}})  # nothing in Paris
    watch = await oms.watch()
    try:
        order = oms.order(2, {"AWAY": 2}, **pickup("store-paris"))
        await oms.send(order)
        done = await until_status(watch, order, "collected", timeout=90)
        by_location = {s["location_id"]: s for s in done["shipments"]}
        assert by_location["dc-rotterdam"]["to_store"] and by_location["dc-rotterdam"]["status"] == "delivered"
        assert by_location["dc-rotterdam"]["carrier_id"], "a carrier took it to the store"
        assert by_location["store-paris"]["pickup"] and by_location["store-paris"]["status"] == "collected"
        assert "delivered" not in statuses(watch, order), "the customer never had it delivered"
        await told(oms, order, ["confirmation", "shipped", "ready_for_pickup"])
        assert await stock_problems(oms.inventory, oms.run) == []
    finally:
        await watch.stop()


@pytest.mark.oms_env(OMS_SIM_NO_SHOW_RATE="1", OMS_NETWORK_FILE=str(QUICK))
async def test_nobody_comes_reminded_once_then_cancelled_and_back_on_the_shelf(oms):
    await oms.stock({"WAIT": {"store-munich": 5}, "CAME": {"dc-rotterdam": 5}})
    watch = await oms.watch()
    try:
        orders = [oms.order(3, {"WAIT": 1}, **pickup("store-munich")),
                  oms.order(4, {"CAME": 1}, **pickup("store-munich"))]  # shipped there first
        await oms.send(*orders)
        for order in orders:
            final = await until_status(watch, order, "cancelled", timeout=120)
            assert final["reason"]["code"] == "not_collected"
            codes = [(e.get("reason") or {}).get("code") for e in watch.events[oid(order)]]
            assert codes.count("pickup_reminder") == 1
            await told(oms, order, ["confirmation", "ready_for_pickup", "pickup_reminder", "cancelled"]
                       + (["shipped"] if order is orders[1] else []))

        async def shelf() -> dict:
            return await stock_levels(oms.inventory, oms.run)
        levels = await eventually(shelf, lambda s: s.get((f"{oms.run}-CAME", "store-munich"), {}).get("on_hand") == 1,
                                  "the unit that came by carrier on the store's shelf")
        assert levels[(f"{oms.run}-WAIT", "store-munich")] == {"on_hand": 5, "reserved": 0}, "released there"
        assert levels[(f"{oms.run}-CAME", "dc-rotterdam")] == {"on_hand": 4, "reserved": 0}, "it left the DC"
        assert await stock_problems(oms.inventory, oms.run) == []
    finally:
        await watch.stop()
