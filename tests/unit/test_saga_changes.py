"""Partial cancellation and changes in the saga: at once before the hand-off, through the warehouse after it,
refused once a carrier has the units; the order's lines, refunds and status follow."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.base import Address, SkuQuantity
from contracts.channels import OrderCancelRequested, OrderChangeRequested
from contracts.fulfillment import FulfillmentProgressed
from contracts.inventory import Allocation, StockReserved
from contracts.order import CancelFulfillment, ChangeFulfillment, ReleaseStock, ReserveStock
from contracts.payments import RefundRequested
from order_service.saga import Saga, SagaState, change, decide
from tests.unit.test_saga import ADDRESS, LINES, REQUEST, saga

pytestmark = pytest.mark.unit

PRICES = {"A": "10.00", "B": "25.50"}


def paid(state: str, status: str, steps: tuple[str, ...] = (), **extra: Any) -> Saga:
    return saga(state, status, steps, unit_prices=PRICES, paid=True, payment_reference="psp-1", **extra)


def cancel(*lines: tuple[str, int]) -> OrderCancelRequested:
    return OrderCancelRequested(channel="web", external_id="1", reason="changed mind",
                                lines=[SkuQuantity(sku=s, quantity=q) for s, q in lines])


def progressed(n: int, status: str, *lines: tuple[str, int]) -> FulfillmentProgressed:
    return FulfillmentProgressed(order_id="o", fulfillment_id=f"o-F{n}", location_id=f"loc{n}", status=status,
                                 lines=[SkuQuantity(sku=s, quantity=q) for s, q in lines])


def test_before_the_hand_off_units_go_at_once_and_the_reservation_is_asked_for_again_without_them() -> None:
    given = paid("awaiting_stock", "accepted", reserving=True, reservation_request=REQUEST)
    decision = decide(given, cancel(("A", 1)))
    release, reserve, refund = decision.commands
    assert isinstance(release, ReleaseStock) and release.reservation_id is None
    assert isinstance(reserve, ReserveStock) and [(x.sku, x.quantity) for x in reserve.lines] == [("A", 1), ("B", 1)]
    assert isinstance(refund, RefundRequested) and (refund.amount, refund.reason, refund.return_id) == \
        ("10.00", "cancelled", None)
    assert [(c.status, c.reason.code if c.reason else None) for c in decision.changes] == \
        [("accepted", "lines_cancelled")]
    # the answer to the replaced request is given back, the answer to the new one taken
    stale = StockReserved(order_id="o", request_id=REQUEST.id, allocations=[
        Allocation(reservation_id="r-old", location_id="loc1", lines=LINES)])
    late = decide(decision.saga, stale)
    assert [c.type for c in late.commands] == ["inventory.release_stock"] and late.saga == decision.saga
    fresh = StockReserved(order_id="o", request_id=reserve.id, allocations=[
        Allocation(reservation_id="r-new", location_id="loc1", lines=reserve.lines)])
    assert decide(decision.saga, fresh).saga.state == SagaState.FULFILLING


def test_an_unpaid_order_gets_no_refund_and_every_unit_cancelled_is_the_whole_order_cancelled() -> None:
    given = saga("awaiting_stock", "accepted", reserving=True, reservation_request=REQUEST)
    assert "refund.requested" not in [c.type for c in decide(given, cancel(("A", 1))).commands]
    whole = decide(given, cancel(("A", 2), ("B", 1)))
    assert whole.saga.state == SagaState.CANCELLED and [c.status for c in whole.changes] == ["cancelled"]


def test_after_the_hand_off_the_warehouse_holding_the_units_is_asked_and_its_answer_decides() -> None:
    given = paid("fulfilling", "in_fulfillment", ("accepted", "accepted"))
    asked = decide(given, cancel(("A", 1)))
    [command] = asked.commands
    assert isinstance(command, CancelFulfillment) and command.fulfillment_id == "o-F1"
    assert [(x.sku, x.quantity) for x in command.lines or []] == [("A", 1)]
    assert asked.changes[0].reason and asked.changes[0].reason.code == "cancel_requested"

    done = decide(asked.saga, progressed(1, "lines_cancelled", ("A", 1)))
    release, refund = done.commands
    assert isinstance(release, ReleaseStock) and release.reservation_id == "r1"
    assert [(x.sku, x.quantity) for x in release.lines or []] == [("A", 1)]
    assert isinstance(refund, RefundRequested) and refund.amount == "10.00"
    assert [(x.sku, x.quantity) for x in done.saga.lines] == [("A", 1), ("B", 1)]
    assert [(x.sku, x.quantity) for x in done.saga.fulfillments[0].lines] == [("A", 1)]
    assert done.changes[0].reason and done.changes[0].reason.code == "lines_cancelled"

    refused = decide(asked.saga, progressed(1, "cancel_refused"))
    assert refused.commands == [] and refused.saga.fulfillments[0].cancel_lines == []
    assert refused.changes[0].reason and refused.changes[0].reason.code == "cancel_refused"


def test_a_shipment_cancelled_whole_by_a_partial_cancel_goes_and_the_rest_carries_on() -> None:
    given = paid("fulfilling", "in_fulfillment", ("accepted", "accepted"))
    asked = decide(given, cancel(("B", 1)))
    [command] = asked.commands
    assert isinstance(command, CancelFulfillment) and command.fulfillment_id == "o-F2"
    done = decide(asked.saga, progressed(2, "cancelled"))
    release, _refund = done.commands
    assert isinstance(release, ReleaseStock) and (release.reservation_id, release.lines) == ("r2", None)
    assert [f.active for f in done.saga.fulfillments] == [True, False]
    assert [(x.sku, x.quantity) for x in done.saga.lines] == [("A", 2)]


@pytest.mark.parametrize(("given", "lines", "why"), [
    (paid("fulfilling", "shipped", ("picked_up", "accepted")), (("A", 1),), "already with the carrier"),
    (paid("fulfilling", "released", ("requested", "requested")), (("A", 3),), "more than the order has"),
    (paid("completed", "delivered", ("delivered", "delivered")), (("A", 1),), "request a return"),
])
def test_a_partial_cancel_is_refused_where_it_cannot_be_done(given, lines, why) -> None:
    decision = decide(given, cancel(*lines))
    assert decision.commands == [] and decision.saga == given
    [change_] = decision.changes
    assert change_.reason and change_.reason.code == "cancel_refused" and why in change_.reason.message


NEW_ADDRESS = Address(name="A", line1="New Street 2", city="Paris", postal_code="75002", country="FR")


def changed(address: Address | None = NEW_ADDRESS, speed: str | None = None) -> OrderChangeRequested:
    return OrderChangeRequested(channel="web", external_id="1", shipping_address=address,
                                shipping_speed=speed)  # type: ignore[arg-type]


def test_a_change_before_booking_is_kept_and_the_warehouses_are_told() -> None:
    given = saga("fulfilling", "in_fulfillment", ("accepted", "picked"))
    decision = change(given, changed(speed="express"), None)
    assert decision.saga.ship_to == NEW_ADDRESS and decision.saga.service_level == "express"
    assert [c.fulfillment_id for c in decision.commands if isinstance(c, ChangeFulfillment)] == ["o-F1", "o-F2"]
    assert decision.changes[0].reason and decision.changes[0].reason.code == "changed"
    packed = decide(decision.saga, FulfillmentProgressed(order_id="o", fulfillment_id="o-F1", location_id="loc1",
                                                         status="packed", parcels=[]))
    [booking] = [c for c in packed.commands if c.type == "shipping.book_shipment"]
    assert booking.ship_to == NEW_ADDRESS and booking.service_level == "express"  # type: ignore[attr-defined]


def test_an_address_that_does_not_fit_puts_the_order_on_hold_and_nothing_is_booked_until_it_is_released() -> None:
    given = saga("fulfilling", "in_fulfillment", ("accepted",))
    held = change(given, changed(), "postal code does not fit FR")
    assert held.saga.state == SagaState.ON_HOLD and [c.status for c in held.changes] == ["on_hold"]
    packed = decide(held.saga, FulfillmentProgressed(order_id="o", fulfillment_id="o-F1", location_id="loc1",
                                                     status="packed", parcels=[]))
    assert packed.commands == [], "no carrier while on hold"
    from contracts.channels import OrderHoldReleased
    released = decide(packed.saga, OrderHoldReleased(channel="web", external_id="1"))
    assert [c.type for c in released.commands] == ["shipping.book_shipment"]


@pytest.mark.parametrize("steps", [("booking",), ("booked",), ("in_transit",)])
def test_a_change_once_a_carrier_is_booked_is_refused(steps) -> None:
    given = saga("fulfilling", "ready_to_ship", steps)
    decision = change(given, changed(), None)
    assert decision.commands == [] and decision.saga == given
    assert decision.changes[0].reason and decision.changes[0].reason.code == "change_refused"
    assert ADDRESS != NEW_ADDRESS


def test_an_order_held_for_a_new_address_while_it_waits_for_stock_stays_held_until_released() -> None:
    from contracts.channels import OrderHoldReleased
    from contracts.inventory import StockReservationFailed

    waiting = saga("awaiting_stock", "accepted", reserving=True, reservation_request=REQUEST)
    held = change(waiting, changed(), "postal code does not fit FR").saga
    failed = decide(held, StockReservationFailed(order_id="o", reason="insufficient_stock", request_id=REQUEST.id))
    assert failed.changes == [] and failed.saga.state == SagaState.ON_HOLD
    released = decide(failed.saga, OrderHoldReleased(channel="web", external_id="1"))
    assert released.saga.state == SagaState.BACKORDERED and [c.status for c in released.changes] == ["backordered"]

    served = decide(held, StockReserved(order_id="o", request_id=REQUEST.id, allocations=[
        Allocation(reservation_id="r1", location_id="loc1", lines=LINES)]))
    assert served.changes == [] and served.saga.state == SagaState.ON_HOLD, "handed off, still held"
    assert [c.type for c in served.commands] == ["fulfillment.request_fulfillment"]
    resumed = decide(served.saga, OrderHoldReleased(channel="web", external_id="1"))
    assert resumed.saga.state == SagaState.FULFILLING and [c.status for c in resumed.changes] == ["released"]
