"""Inbound you can promise on the real stack: two orders wait for a SKU nobody has; a purchase order's line dates
the older one, the line sent again with a later ETA and more units dates both and tells each customer once per
change of date (each order's event shows the shipment to come with `expected_ship`); its arrival serves them as it
comes, the older first, and both are delivered."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_when_things_go_wrong import oid, until_status
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e


async def test_a_purchase_order_dates_the_waiting_orders_tells_them_when_it_moves_and_serves_them_oldest_first(oms):
    sku = f"{oms.run}-COMING"
    await oms.stock({"COMING": {"dc-rotterdam": 0}})
    watch = await oms.watch()
    try:
        older, newer = oms.order(1, {"COMING": 2}), oms.order(2, {"COMING": 2})
        for order in (older, newer):
            await oms.send(order)
            await until_status(watch, order, "backordered")
        first, later = datetime.now(UTC) + timedelta(days=3), datetime.now(UTC) + timedelta(days=8)
        line = {"type": "stock.inbound_expected", "sku": sku, "location_id": "dc-rotterdam", "po_id": f"PO-{oms.run}"}
        await oms.adjust({**line, "quantity": 3, "eta": first.isoformat()})

        def said(order: dict) -> list[str]:
            return [e["reason"]["message"] for e in watch.events.get(oid(order), [])
                    if (e.get("reason") or {}).get("code") == "eta_changed"]
        await eventually(lambda: _now(said(older)), lambda s: len(s) == 1, "the older order dated")
        assert said(older) == [f"{sku} now expected by {first:%a %d %b %Y}"]
        assert said(newer) == [], "3 units on their way: not all of the newer order's"

        await oms.adjust({**line, "quantity": 5, "eta": later.isoformat()})
        await eventually(lambda: _now(said(newer)), lambda s: len(s) == 1, "the newer order dated")
        await eventually(lambda: _now(said(older)), lambda s: len(s) == 2, "the older order's date moved")
        assert said(older)[1] == f"{sku} now expected by {later:%a %d %b %Y} (was {first:%a %d %b %Y})"
        [waiting] = watch.latest()[oid(older)]["shipments"]  # the shipment its units will leave as
        assert (waiting["status"], waiting["location_id"]) == ("backordered", "dc-rotterdam")
        assert datetime.fromisoformat(waiting["expected_ship"]) > later, "it leaves once they are there"

        received = {"type": "stock.received", "sku": sku, "location_id": "dc-rotterdam", "po_id": f"PO-{oms.run}"}
        await oms.adjust({**received, "quantity": 3})  # a first part: enough for one of them
        await until_status(watch, older, "delivered", timeout=90)
        assert watch.latest()[oid(newer)]["status"] == "backordered", "the older order is served first"
        await oms.adjust({**received, "quantity": 2})
        await until_status(watch, newer, "delivered", timeout=90)

        async def delays() -> Counter[str]:
            return Counter(call["order_id"] for call in oms.sent_notifications() if call["kind"] == "delay"
                           and call["order_id"] in (oid(older), oid(newer)))
        told = await eventually(delays, lambda c: c[oid(older)] >= 2 and c[oid(newer)] >= 1, "the delay notices")
        assert told == Counter({oid(older): 2, oid(newer): 1}), "one notice per change of date, none twice"
        expected = await oms.inventory.fetch("SELECT closed_at FROM inbound_expected WHERE sku = $1", sku)
        assert [row["closed_at"] is not None for row in expected] == [True], "the line closed when all arrived"
    finally:
        await watch.stop()


async def _now(value: list[str]) -> list[str]:
    return value
