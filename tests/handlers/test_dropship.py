"""Drop-ship suppliers, in memory: a purchase order instead of a warehouse request, the supplier's answers, a
withdrawn or changed purchase order, and a shipment the supplier's own carrier carries (followed, not booked)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts import topics
from contracts.fulfillment import FulfillmentProgressed
from contracts.order import BookShipment, ReserveStock
from fulfillment_service.handlers import expire
from order_service.saga import decide
from runtime.consume import Unprocessable
from tests.support.memory import InMemory, body
from tests.unit.test_saga import saga

pytestmark = pytest.mark.unit

SUPPLIER = "supplier-hamburg"  # the default network's: cost_share 0.55
COMMANDS = topics.FULFILLMENT_COMMANDS.name
PO_REQUESTS = topics.SUPPLIER_REQUESTS.for_partner(SUPPLIER)
PO_UPDATES = topics.SUPPLIER_UPDATES.for_partner(SUPPLIER)
PO = "PO-ful-1"


async def ordered(**fields: object) -> InMemory:
    service = InMemory("fulfillment")
    await service.deliver(COMMANDS, body("fulfillment.request_fulfillment", location_id=SUPPLIER,
                                         unit_prices={"SKU-CHAIR-01": "89.90"}, shipment_id="ord-1-S1", **fields))
    return service


async def test_an_allocation_at_a_supplier_becomes_a_purchase_order_at_its_price_with_a_slip_without_prices():
    service = await ordered()
    [po] = service.sent(PO_REQUESTS)
    assert (po.type, po.po_id, po.order_id, po.shipment_id) == ("purchase_order.requested", PO, "ord-1", "ord-1-S1")
    assert [(line.sku, line.quantity, line.unit_cost) for line in po.lines] == [("SKU-CHAIR-01", 2, "49.44")]
    assert Decimal(po.lines[0].unit_cost) == (Decimal("89.90") * Decimal("0.55")).quantize(Decimal("0.01"))
    assert [(line.sku, line.quantity) for line in po.packing_slip] == [("SKU-CHAIR-01", 2)]
    assert "unit_price" not in po.packing_slip[0].model_dump() and po.ship_to.city == "Berlin"
    assert service.sent(topics.WAREHOUSE_REQUESTS.for_partner(SUPPLIER)) == [], "no warehouse topic for a supplier"
    assert service.row("fulfillments", "ful-1")["deadline_at"] is not None, "to acknowledge in time"


async def test_acknowledged_then_shipped_with_its_own_carrier_reports_the_carrier_and_tracking():
    service = await ordered()
    sent = await service.deliver(PO_UPDATES, body("purchase_order.acknowledged"), body("purchase_order.shipped"))
    assert [(m.status, m.carrier_id, m.tracking_number) for m in sent] == [
        ("accepted", None, None), ("packed", "dhl", "DHL0012345678")]
    assert sent[-1].parcels and sent[-1].parcels[0].weight_grams == 1600, "a parcel of the usual weight per unit"
    assert service.row("fulfillments", "ful-1")["status"] == "packed"


async def test_shipped_without_a_carrier_is_packed_for_the_oms_to_book():
    service = await ordered()
    [packed] = await service.deliver(PO_UPDATES, body("purchase_order.shipped", carrier_id=None, tracking_number=None))
    assert (packed.status, packed.carrier_id, packed.tracking_number) == ("packed", None, None)


async def test_a_rejection_is_reported_with_its_reason_for_the_saga_to_allocate_elsewhere():
    service = await ordered()
    [rejected] = await service.deliver(PO_UPDATES, body("purchase_order.rejected"))
    assert (rejected.status, rejected.reason, rejected.location_id) == ("rejected", "sold out", SUPPLIER)


@pytest.mark.parametrize("carrier, tracking", [("pigeon-post", "X1"), ("dhl", None)])
async def test_a_carrier_the_oms_cannot_follow_is_dead_lettered_with_why(carrier, tracking):
    service = await ordered()
    with pytest.raises(Unprocessable, match="only the network's carriers, by a tracking number"):
        await service.deliver(PO_UPDATES, body("purchase_order.shipped", carrier_id=carrier, tracking_number=tracking))
    assert service.row("fulfillments", "ful-1")["status"] == "requested"


async def test_only_the_supplier_answers_for_its_purchase_order():
    service = await ordered()
    with pytest.raises(Unprocessable, match=f"was handed to {SUPPLIER}, not to dc-rotterdam"):
        await service.deliver(topics.WAREHOUSE_UPDATES.for_partner("dc-rotterdam"), body("fulfillment.packed"))
    with pytest.raises(Unprocessable, match="no purchase order PO-nope"):
        await service.deliver(PO_UPDATES, body("purchase_order.acknowledged", po_id="PO-nope"))


async def test_the_oms_withdraws_a_purchase_order_until_it_ships_whole_and_answers_for_the_supplier():
    service = await ordered()
    sent = await service.deliver(COMMANDS, body("fulfillment.cancel_fulfillment", reason="changed mind"))
    assert [(m.type, getattr(m, "status", None)) for m in sent] == [
        ("purchase_order.cancelled", None), ("fulfillment.progressed", "cancelled")]
    assert sent[0].po_id == PO and service.row("fulfillments", "ful-1")["status"] == "cancelled"

    partly = await ordered()
    [refused] = await partly.deliver(COMMANDS, body("fulfillment.cancel_fulfillment",
                                                    lines=[{"sku": "SKU-CHAIR-01", "quantity": 1}]))
    assert (refused.status, refused.reason) == ("cancel_refused", "a drop-ship purchase order is withdrawn whole, "
                                                                  "not in part")
    shipped = await ordered()
    await shipped.deliver(PO_UPDATES, body("purchase_order.shipped"))
    [late] = await shipped.deliver(COMMANDS, body("fulfillment.cancel_fulfillment"))
    assert (late.status, late.reason) == ("cancel_refused", f"{SUPPLIER} already shipped it")


async def test_a_supplier_silent_past_its_deadline_has_the_purchase_order_withdrawn():
    service = InMemory("fulfillment")
    service.later(3600)
    await service.deliver(COMMANDS, body("fulfillment.request_fulfillment", location_id=SUPPLIER))
    sent = await service.tick(expire)
    assert [(m.type, getattr(m, "status", None)) for m in sent] == [
        ("purchase_order.cancelled", None), ("fulfillment.progressed", "timed_out")]


async def test_a_new_address_goes_to_the_supplier_as_a_changed_purchase_order():
    service = await ordered()
    [changed] = await service.deliver(COMMANDS, body("fulfillment.change_fulfillment"))
    assert (changed.type, changed.po_id, changed.service_level) == ("purchase_order.changed", PO, "express")


async def test_a_shipment_its_supplier_handed_to_its_own_carrier_has_left_and_that_carrier_is_asked_for_tracking():
    service = InMemory("shipping")
    sent = await service.deliver(topics.SHIPPING_COMMANDS.name, body(
        "shipping.book_shipment", location_id=SUPPLIER, carrier_id="ups", tracking_number="UPS77"))
    assert [(m.type, getattr(m, "status", None)) for m in sent] == [
        ("shipment.tracking_requested", None), ("shipping.shipment_progressed", "picked_up")], "it has left"
    assert service.sent(topics.CARRIER_REQUESTS.for_partner("ups"), "shipment.booking_requested") == []
    assert (sent[0].shipment_id, sent[0].tracking_number, sent[1].carrier_id) == ("shp-1", "UPS77", "ups")
    moved = await service.deliver(topics.CARRIER_UPDATES.for_partner("ups"), body("shipment.picked_up"),
                                  body("shipment.delivered"))
    assert [(m.status, m.tracking_number) for m in moved] == [("delivered", "UPS77")], "picked up: known already"
    with pytest.raises(Unprocessable, match="never handed to dhl"):
        await service.deliver(topics.CARRIER_UPDATES.for_partner("dhl"), body("shipment.delivered"))


def test_the_saga_follows_a_suppliers_carrier_and_reroutes_a_rejection_like_a_warehouses():
    handed = saga("fulfilling", "released", ("accepted",))
    packed = FulfillmentProgressed(order_id="o", fulfillment_id="o-F1", location_id="loc1", status="packed",
                                   carrier_id="dhl", tracking_number="DHL9", parcels=[{"parcel_id": "p", "weight_grams": 9}])
    [book] = decide(handed, packed).commands
    assert isinstance(book, BookShipment) and (book.carrier_id, book.tracking_number) == ("dhl", "DHL9")
    rejected = decide(handed, FulfillmentProgressed(order_id="o", fulfillment_id="o-F1", location_id="loc1",
                                                    status="rejected", reason="sold out"))
    release, reserve = rejected.commands
    assert (release.type, reserve.type) == ("inventory.release_stock", "inventory.reserve_stock")
    assert isinstance(reserve, ReserveStock) and reserve.excluded_locations == ["loc1"]
