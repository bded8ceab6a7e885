"""Drop-ship on the real stack: what only a supplier has is sent to it as a purchase order (at its price, a packing
slip without prices) and delivered by the simulated supplier; played by the test, the supplier ships with a carrier
it booked itself (the OMS follows the carrier's tracking) or leaves the booking to the OMS, refuses a purchase order
(the units are allocated at a warehouse instead), and is told of a purchase order withdrawn or changed."""

from __future__ import annotations

import orjson
import pytest

from contracts import topics
from contracts.partners import (
    PurchaseOrderAcknowledged,
    PurchaseOrderRejected,
    PurchaseOrderShipped,
)
from tests.e2e.conftest import everyone_but
from tests.e2e.test_changes import change
from tests.e2e.test_when_things_go_wrong import oid, reasons, until_status
from tests.support.checks import event_problems, stock_problems
from tests.support.kafka import read_topic
from tests.support.partners import PlayedPartner

pytestmark = pytest.mark.e2e

SUPPLIER = "supplier-hamburg"


def to_hamburg(oms, number: int, skus: dict[str, int]) -> dict:
    """An order to Hamburg, where the supplier is: nearer than any warehouse."""
    order = oms.order(number, skus)
    order["shipping_address"] = {**order["shipping_address"], "city": "Hamburg", "postal_code": "20095"}
    return order


async def test_what_only_a_supplier_has_is_drop_shipped_and_delivered(oms):
    await oms.stock({"HAMMOCK": {SUPPLIER: 5}})
    order = to_hamburg(oms, 1, {"HAMMOCK": 2})
    watch = await oms.watch()
    try:
        await oms.send(order)
        final = await until_status(watch, order, "delivered", timeout=90)
        [shipment] = final["shipments"]
        assert shipment["location_id"] == SUPPLIER and shipment["carrier_id"] and shipment["tracking_number"]
        [po] = [orjson.loads(r.value) for r in await read_topic(topics.SUPPLIER_REQUESTS.for_partner(SUPPLIER))
                if orjson.loads(r.value)["order_id"] == oid(order)]
        assert po["type"] == "purchase_order.requested" and po["shipment_id"] == shipment["shipment_id"]
        assert [(x["quantity"], x["unit_cost"]) for x in po["lines"]] == [(2, "5.50")], "55% of the list price"
        assert "unit_price" not in orjson.dumps(po["packing_slip"]).decode()
        assert await stock_problems(oms.inventory, oms.run) == []
    finally:
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but(SUPPLIER))
async def test_a_played_supplier_ships_its_own_way_refuses_and_is_told_of_withdrawals_and_changes(oms):
    await oms.stock({"OWN": {SUPPLIER: 5}, "BOOKED": {SUPPLIER: 5}, "BOTH": {SUPPLIER: 5, "dc-rotterdam": 5},
                     "GONE": {SUPPLIER: 5}})
    supplier = await PlayedPartner("supplier", SUPPLIER).start()
    own, booked, refused, gone = (to_hamburg(oms, n, {name: 1}) for n, name in
                                  enumerate(("OWN", "BOOKED", "BOTH", "GONE"), 1))
    watch = await oms.watch()
    try:
        await oms.send(own, booked, refused, gone)
        po = {oid(o): (await supplier.wait_for(oid(o), "purchase_order.requested"))["po_id"]
              for o in (own, booked, refused, gone)}

        # its own carrier: the OMS asks DHL for the tracking of the shipment and follows it to the door
        address = {**own["shipping_address"], "line1": "9 Elbchaussee"}
        await supplier.answer(oid(own), PurchaseOrderAcknowledged(po_id=po[oid(own)]))
        await oms.send(change(own, shipping_address=address))
        told = await supplier.wait_for(oid(own), "purchase_order.changed")
        assert (told["po_id"], told["ship_to"]["line1"]) == (po[oid(own)], "9 Elbchaussee")
        await supplier.answer(oid(own), PurchaseOrderShipped(po_id=po[oid(own)], carrier_id="dhl",
                                                             tracking_number="DHL-SUPPLIER-1"))
        delivered = await until_status(watch, own, "delivered", timeout=90)
        assert [(s["location_id"], s["carrier_id"], s["tracking_number"]) for s in delivered["shipments"]] == [
            (SUPPLIER, "dhl", "DHL-SUPPLIER-1")]
        tracked = [orjson.loads(r.value) for r in await read_topic(topics.CARRIER_REQUESTS.for_partner("dhl"))]
        assert [(t["type"], t["tracking_number"]) for t in tracked if t["order_id"] == oid(own)] == [
            ("shipment.tracking_requested", "DHL-SUPPLIER-1")], "followed, never booked again"

        # ready, no carrier named: the OMS books one from the supplier's address
        await supplier.answer(oid(booked), PurchaseOrderShipped(po_id=po[oid(booked)]))
        delivered = await until_status(watch, booked, "delivered", timeout=90)
        assert [s["location_id"] for s in delivered["shipments"]] == [SUPPLIER]
        assert delivered["shipments"][0]["carrier_id"] and delivered["shipments"][0]["tracking_number"]

        # refused: allocated at the warehouse that has it, as for a warehouse's rejection
        await supplier.answer(oid(refused), PurchaseOrderRejected(po_id=po[oid(refused)], reason="sold out"))
        delivered = await until_status(watch, refused, "delivered", timeout=90)
        assert [s["location_id"] for s in delivered["shipments"]] == ["dc-rotterdam"]
        assert len(supplier.requests(oid(refused), "purchase_order.requested")) == 1

        # withdrawn before it shipped: the supplier is told, the order cancelled
        await oms.send(oms.request("order.cancel_requested", gone, reason="changed mind"))
        withdrawn = await supplier.wait_for(oid(gone), "purchase_order.cancelled")
        assert withdrawn["po_id"] == po[oid(gone)]
        await until_status(watch, gone, "cancelled")
        assert "rejected" not in reasons(watch, gone)
        assert await stock_problems(oms.inventory, oms.run) == []
        assert event_problems(dict(watch.events)) == []
    finally:
        await supplier.stop()
        await watch.stop()
