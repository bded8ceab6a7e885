"""Ship what is available, on the real stack: a channel with the ship_available policy gets what is in stock now
and the rest of the line when stock comes, both parts delivered; a warehouse that could not find units corrects
its stock, so the shortfall is not allocated there again."""

from __future__ import annotations

import pytest

from contracts.partners import FulfillmentRejected
from tests.e2e.conftest import derived_network, everyone_but
from tests.e2e.test_when_things_go_wrong import oid, reasons, until_status
from tests.support.checks import stock_levels, stock_problems
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

AVAILABLE = derived_network("ship-available", tables='\n[availability."app"]\npolicy = "ship_available"\n')


@pytest.mark.oms_env(OMS_NETWORK_FILE=str(AVAILABLE))
async def test_ship_available_ships_what_there_is_and_the_rest_when_it_comes(oms):
    await oms.stock({"SOME": {"dc-rotterdam": 2}})
    watch = await oms.watch()
    try:
        order = oms.order(1, {"SOME": 3}, channel="app")
        await oms.send(order)
        first = await until_status(watch, order, "backordered", timeout=90)  # two delivered, one to come
        assert [(s["status"], s["lines"][0]["quantity"]) for s in first["shipments"]] == [("delivered", 2)]
        assert "partially_backordered" in reasons(watch, order)

        await oms.adjust({"type": "stock.received", "sku": f"{oms.run}-SOME", "location_id": "3pl-berlin",
                          "quantity": 1})
        done = await until_status(watch, order, "delivered", timeout=90)
        assert sorted((s["location_id"], s["lines"][0]["quantity"]) for s in done["shipments"]) == [
            ("3pl-berlin", 1), ("dc-rotterdam", 2)]
        assert await stock_problems(oms.inventory, oms.run) == []

        web = oms.order(2, {"SOME": 1})  # the web ships complete: nothing left, it waits whole
        await oms.send(web)
        await until_status(watch, web, "backordered")
        assert watch.latest()[oid(web)]["shipments"] == []
    finally:
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_a_short_pick_corrects_the_stock_and_the_order_goes_elsewhere(oms):
    await oms.stock({"SHORT": {"3pl-berlin": 5, "dc-rotterdam": 5}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        order = oms.order(1, {"SHORT": 2})  # nearest: Berlin
        await oms.send(order)
        request = await berlin.wait_for(oid(order), "fulfillment.requested")
        await berlin.answer(oid(order), FulfillmentRejected(
            fulfillment_id=request["fulfillment_id"], reason="only 3 on the shelf",
            short_lines=[{"sku": f"{oms.run}-SHORT", "quantity": 2}]))
        done = await until_status(watch, order, "delivered", timeout=90)
        assert [s["location_id"] for s in done["shipments"]] == ["dc-rotterdam"]

        async def levels() -> dict:
            return await stock_levels(oms.inventory, f"{oms.run}-SHORT")
        found = await eventually(levels, lambda s: s[(f"{oms.run}-SHORT", "3pl-berlin")]["reserved"] == 0,
                                 "Berlin's reservation released")
        assert found[(f"{oms.run}-SHORT", "3pl-berlin")]["on_hand"] == 3, "the two it could not find are gone"
        assert await stock_problems(oms.inventory, oms.run) == []
    finally:
        await berlin.stop()
        await watch.stop()
