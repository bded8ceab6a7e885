"""The saga as a table: given a state, when a message arrives, then these commands, this state, these statuses."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from contracts.base import Address, Message, SkuQuantity
from contracts.channels import OrderCancelRequested, OrderHoldReleased
from contracts.fulfillment import FulfillmentProgressed, ShipmentProgressed
from contracts.inventory import Allocation, StockReleased, StockReservationFailed, StockReserved
from contracts.order import Destination, ReserveStock
from contracts.partners import Parcel
from order_service.saga import Fulfillment, Saga, StepTimedOut, apply_changes, decide, start

pytestmark = pytest.mark.unit

ADDRESS = Address(name="A", line1="Street 1", city="Berlin", postal_code="10115", country="DE")
LINES = [SkuQuantity(sku="A", quantity=2), SkuQuantity(sku="B", quantity=1)]
PARCEL = Parcel(parcel_id="p1", weight_grams=500)
REQUEST = ReserveStock(order_id="o", lines=LINES, destination=Destination(country=ADDRESS.country))


def saga(state: str, status: str | None, steps: tuple[str, ...] = (), cancel: bool = False, inactive: int = 0,
         **extra: object) -> Saga:
    fulfillments = [Fulfillment(fulfillment_id=f"o-F{n}", shipment_id=f"o-S{n}", reservation_id=f"r{n}",
                                location_id=f"loc{n}", lines=[LINES[n - 1]], step=step, cancel_requested=cancel,
                                active=n != inactive, parcels=[PARCEL.model_dump()])
                    for n, step in enumerate(steps, 1)]
    return Saga(order_id="o", channel="web", external_id="1", state=state, status=status, lines=LINES,
                ship_to=ADDRESS, fulfillments=fulfillments, next_fulfillment=len(steps) + 1, **extra)


def reserved(*locations: str) -> StockReserved:
    return StockReserved(order_id="o", allocations=[
        Allocation(reservation_id=f"r-{loc}", location_id=loc, lines=[LINES[n]]) for n, loc in enumerate(locations)])


def progressed(n: int, status: str, **kw: object) -> FulfillmentProgressed:
    return FulfillmentProgressed(order_id="o", fulfillment_id=f"o-F{n}", location_id=f"loc{n}", status=status, **kw)


def shipment(n: int, status: str, **kw: object) -> ShipmentProgressed:
    return ShipmentProgressed(order_id="o", shipment_id=f"o-S{n}", status=status, **kw)


@dataclass
class Row:
    name: str
    given: Saga
    when: Message
    then_state: str
    then_commands: list[str] = field(default_factory=list)
    then_statuses: list[str] = field(default_factory=list)


TABLE = [
    Row("stock reserved at one location: released", saga("awaiting_stock", "accepted", reserving=True),
        reserved("loc1"), "fulfilling", ["fulfillment.request_fulfillment"], ["reserved", "released"]),
    Row("stock reserved at two locations: two fulfillments", saga("awaiting_stock", "accepted", reserving=True),
        reserved("loc1", "loc2"), "fulfilling", ["fulfillment.request_fulfillment"] * 2, ["reserved", "released"]),
    Row("unknown SKU: rejected", saga("awaiting_stock", "accepted", reserving=True),
        StockReservationFailed(order_id="o", reason="unknown_sku", unknown_skus=["Z"]), "rejected", [], ["rejected"]),
    Row("not enough stock: backordered", saga("awaiting_stock", "accepted", reserving=True),
        StockReservationFailed(order_id="o", reason="insufficient_stock"), "backordered", [], ["backordered"]),
    Row("backorder served later: released", saga("backordered", "backordered", reserving=True),
        reserved("loc1"), "fulfilling", ["fulfillment.request_fulfillment"], ["reserved", "released"]),
    Row("packed, cancel refused later: the held booking goes out", saga("cancelling", "ready_to_ship", ("packed",),
        cancel=True), progressed(1, "cancel_refused"), "fulfilling", ["shipping.book_shipment"], ["ready_to_ship"]),
    Row("a reservation nobody waits for is given back", saga("fulfilling", "released", ("requested",)),
        reserved("loc9"), "fulfilling", ["inventory.release_stock"]),
    Row("warehouse accepted: in fulfillment", saga("fulfilling", "released", ("requested",)),
        progressed(1, "accepted"), "fulfilling", [], ["in_fulfillment"]),
    Row("picked: no new status", saga("fulfilling", "in_fulfillment", ("accepted",)),
        progressed(1, "picked"), "fulfilling"),
    Row("packed: book a carrier", saga("fulfilling", "in_fulfillment", ("picked",)),
        progressed(1, "packed", parcels=[PARCEL]), "fulfilling", ["shipping.book_shipment"], ["ready_to_ship"]),
    Row("packed before accepted: still booked", saga("fulfilling", "released", ("requested",)),
        progressed(1, "packed", parcels=[PARCEL]), "fulfilling", ["shipping.book_shipment"], ["ready_to_ship"]),
    Row("accepted after packed: nothing", saga("fulfilling", "ready_to_ship", ("booking",)),
        progressed(1, "accepted"), "fulfilling"),
    Row("one of two shipments moves on: reported", saga("fulfilling", "released", ("requested", "requested")),
        progressed(2, "accepted"), "fulfilling", [], ["released"]),
    Row("warehouse rejects: release and reserve elsewhere", saga("fulfilling", "released", ("requested",)),
        progressed(1, "rejected", reason="short"), "awaiting_stock",
        ["inventory.release_stock", "inventory.reserve_stock"]),
    Row("booked: same status", saga("fulfilling", "ready_to_ship", ("booking",)),
        shipment(1, "booked", carrier_id="dhl", tracking_number="T1"), "fulfilling"),
    Row("picked up: shipped, stock committed", saga("fulfilling", "ready_to_ship", ("booked",)),
        shipment(1, "picked_up"), "fulfilling", ["inventory.commit_stock"], ["shipped"]),
    Row("delivered: completed", saga("fulfilling", "shipped", ("in_transit",)),
        shipment(1, "delivered"), "completed", [], ["delivered"]),
    Row("delivered without picked up: stock still committed", saga("fulfilling", "ready_to_ship", ("booked",)),
        shipment(1, "delivered"), "completed", ["inventory.commit_stock"], ["delivered"]),
    Row("one of two delivered: not yet completed", saga("fulfilling", "shipped", ("in_transit", "in_transit")),
        shipment(1, "delivered"), "fulfilling", [], ["shipped"]),
    Row("no carrier left: on hold", saga("fulfilling", "ready_to_ship", ("booking",)),
        shipment(1, "booking_failed", reason="none"), "on_hold", [], ["on_hold"]),
    Row("delivery exception: visible, same status", saga("fulfilling", "shipped", ("in_transit",)),
        shipment(1, "exception", reason="dog"), "fulfilling", [], ["shipped"]),
    Row("cancel before reservation", saga("awaiting_stock", "accepted", reserving=True),
        OrderCancelRequested(channel="web", external_id="1"), "cancelled", ["inventory.release_stock"], ["cancelled"]),
    Row("cancel after handoff: every warehouse asked", saga("fulfilling", "in_fulfillment", ("accepted", "requested")),
        OrderCancelRequested(channel="web", external_id="1"), "cancelling",
        ["fulfillment.cancel_fulfillment"] * 2, ["in_fulfillment"]),
    Row("warehouse confirms the cancel: its stock released, order cancelled",
        saga("cancelling", "in_fulfillment", ("accepted",), cancel=True),
        progressed(1, "cancelled"), "cancelled", ["inventory.release_stock"], ["cancelled"]),
    Row("one of two warehouses confirms: wait for the other",
        saga("cancelling", "in_fulfillment", ("accepted", "accepted"), cancel=True),
        progressed(1, "cancelled"), "cancelling", ["inventory.release_stock"]),
    Row("warehouse refuses the cancel: the order carries on", saga("cancelling", "in_fulfillment", ("accepted",),
        cancel=True), progressed(1, "cancel_refused", reason="packed"), "fulfilling", [], ["in_fulfillment"]),
    Row("packed while cancelling: no carrier booked", saga("cancelling", "in_fulfillment", ("picked",), cancel=True),
        progressed(1, "packed", parcels=[PARCEL]), "cancelling", [], ["ready_to_ship"]),
    Row("warehouse silent past its deadline: reroute", saga("fulfilling", "released", ("requested",)),
        progressed(1, "timed_out"), "awaiting_stock", ["inventory.release_stock", "inventory.reserve_stock"]),
    Row("QC failed once: visible, the warehouse repacks", saga("fulfilling", "in_fulfillment", ("picked",)),
        progressed(1, "qc_failed"), "fulfilling", [], ["in_fulfillment"]),
    Row("a late answer from a warehouse the order left: nothing",
        saga("fulfilling", "released", ("requested",), inactive=1), progressed(1, "accepted"), "fulfilling"),
    Row("cancel once picked up: refused", saga("fulfilling", "shipped", ("picked_up",)),
        OrderCancelRequested(channel="web", external_id="1"), "fulfilling", [], ["shipped"]),
    Row("hold released: reserve", saga("on_hold", "on_hold", hold_reason="payment_pending"),
        OrderHoldReleased(channel="web", external_id="1"), "awaiting_stock", ["inventory.reserve_stock"], ["accepted"]),
    Row("payment hold released: reserve", saga("on_hold", "on_hold", hold_reason="payment_failed"),
        OrderHoldReleased(channel="web", external_id="1"), "awaiting_stock", ["inventory.reserve_stock"], ["accepted"]),
    Row("address hold released: reserve", saga("on_hold", "on_hold", hold_reason="address_incomplete"),
        OrderHoldReleased(channel="web", external_id="1"), "awaiting_stock", ["inventory.reserve_stock"], ["accepted"]),
    Row("no_carrier hold released: a carrier booked again for the packed shipment, nothing reserved again",
        saga("on_hold", "on_hold", ("booking", "delivered"), hold_reason="no_carrier"),
        OrderHoldReleased(channel="web", external_id="1"), "fulfilling", ["shipping.book_shipment"],
        ["ready_to_ship"]),
    Row("hold released while a reroute is being reserved: wait for it, nothing sent twice",
        saga("on_hold", "on_hold", ("requested",), inactive=1, reserving=True, hold_reason="operator"),
        OrderHoldReleased(channel="web", external_id="1"), "awaiting_stock"),
    Row("hold released when not on hold: nothing", saga("fulfilling", "released", ("requested",)),
        OrderHoldReleased(channel="web", external_id="1"), "fulfilling"),
    Row("reservation after cancel: given back", saga("cancelled", "cancelled"), reserved("loc1"), "cancelled",
        ["inventory.release_stock"]),
    Row("cancel after delivery: refused, visibly", saga("completed", "delivered", ("delivered",)),
        OrderCancelRequested(channel="web", external_id="1"), "completed", [], ["delivered"]),
    Row("anything after completion: nothing", saga("completed", "delivered", ("delivered",)),
        progressed(1, "accepted"), "completed"),
    Row("release confirmation: nothing", saga("cancelled", "cancelled"),
        StockReleased(order_id="o", reservation_ids=["r1"]), "cancelled"),
    Row("inventory silent past the deadline: the same request once more",
        saga("awaiting_stock", "accepted", reserving=True, reservation_request=REQUEST),
        StepTimedOut(order_id="o", state="awaiting_stock"), "awaiting_stock", ["inventory.reserve_stock"]),
    Row("silent again: held for a person, with the reason",
        saga("awaiting_stock", "accepted", reserving=True, reservation_request=REQUEST, reservation_retried=True),
        StepTimedOut(order_id="o", state="awaiting_stock"), "on_hold", [], ["on_hold"]),
    Row("backordered: waiting for stock has no deadline", saga("backordered", "backordered", reserving=True),
        StepTimedOut(order_id="o", state="backordered"), "backordered"),
    Row("a reservation that arrives after the order stopped waiting: given back",
        saga("on_hold", "on_hold", hold_reason="step_timed_out", reservation_request=REQUEST), reserved("loc1"),
        "on_hold", ["inventory.release_stock"]),
    Row("timed-out hold released: the reservation asked for anew",
        saga("on_hold", "on_hold", hold_reason="step_timed_out", reservation_request=REQUEST),
        OrderHoldReleased(channel="web", external_id="1"), "awaiting_stock", ["inventory.reserve_stock"], ["accepted"]),
    Row("timed-out reroute released: its lines asked for anew, the rest carries on",
        saga("on_hold", "on_hold", ("accepted",), hold_reason="step_timed_out", reservation_request=REQUEST),
        OrderHoldReleased(channel="web", external_id="1"), "fulfilling", ["inventory.reserve_stock"],
        ["in_fulfillment"]),
]


def holds(row: Row) -> None:
    """Given the row's saga, when its message arrives, then its state, commands and statuses."""
    decision = decide(row.given, row.when)
    assert decision.saga.state == row.then_state
    assert [c.type for c in decision.commands] == row.then_commands
    assert [c.status for c in decision.changes] == row.then_statuses


@pytest.mark.parametrize("row", TABLE, ids=[r.name for r in TABLE])
def test_saga_table(row: Row) -> None:
    holds(row)


@pytest.mark.parametrize(("payment", "address", "statuses", "commands"), [
    ("authorized", None, ["received", "accepted"], ["inventory.reserve_stock"]),
    (None, None, ["received", "accepted"], ["inventory.reserve_stock"]),
    ("pending", None, ["received", "on_hold"], []),
    ("failed", None, ["received", "on_hold"], []),
    ("authorized", "postal code does not fit DE", ["received", "on_hold"], []),
])
def test_a_new_order_is_accepted_or_held(payment, address, statuses, commands) -> None:
    decision = start(saga("new", None), payment, address)
    assert [c.status for c in decision.changes] == statuses
    assert [c.type for c in decision.commands] == commands


def test_the_order_reports_its_least_advanced_shipment() -> None:
    given = saga("fulfilling", "released", ("requested", "requested"))
    for message, status in [(progressed(1, "accepted"), "released"), (progressed(2, "accepted"), "in_fulfillment"),
                            (progressed(1, "packed", parcels=[PARCEL]), "in_fulfillment"),
                            (progressed(2, "packed", parcels=[PARCEL]), "ready_to_ship")]:
        decision = decide(given, message)
        given = apply_changes(decision.saga, decision.changes)
        assert given.status == status


def test_a_request_sent_again_keeps_its_id_so_an_inventory_that_handled_it_ignores_the_copy() -> None:
    asked = start(saga("new", None), "authorized", None)
    again = decide(apply_changes(asked.saga, asked.changes), StepTimedOut(order_id="o", state="awaiting_stock"))
    assert [c.id for c in again.commands] == [c.id for c in asked.commands]


def test_a_duplicate_update_changes_nothing() -> None:
    given = saga("fulfilling", "released", ("requested",))
    once = decide(given, progressed(1, "accepted"))
    twice = decide(apply_changes(once.saga, once.changes), progressed(1, "accepted"))
    assert twice.commands == [] and twice.changes == []
