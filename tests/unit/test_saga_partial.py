"""Ship what is available: the saga hands off the part inventory reserved, waits for the rest under the same
request, and is complete only when every line was delivered."""

from __future__ import annotations

import pytest

from contracts.base import Message
from contracts.fulfillment import FulfillmentProgressed, ShipmentProgressed
from contracts.inventory import Allocation, StockReserved
from order_service.saga import Saga, SagaState, apply_changes, decide, start
from tests.unit.test_saga import LINES, saga

pytestmark = pytest.mark.unit


def moved(current: Saga, message: Message) -> Saga:
    decision = decide(current, message)
    return apply_changes(decision.saga, decision.changes)


def test_the_part_in_stock_ships_now_and_the_rest_when_it_comes() -> None:
    begun = start(saga("new", None), "authorized", None)
    request = begun.commands[0]
    current = apply_changes(begun.saga, begun.changes)
    first = decide(current, StockReserved(order_id="o", request_id=request.id, allocations=[
        Allocation(reservation_id="r1", location_id="loc1", lines=[LINES[0]])], backordered=[LINES[1]]))
    assert [c.type for c in first.commands] == ["fulfillment.request_fulfillment"]
    assert [(c.status, c.reason.code if c.reason else None) for c in first.changes] == [
        ("reserved", None), ("released", "partially_backordered")]
    current = apply_changes(first.saga, first.changes)
    assert current.reserving and current.reservation_request.id == request.id  # type: ignore[union-attr]
    assert current.reservation_request.lines == [LINES[1]]  # type: ignore[union-attr]
    assert first.deadline_in is None, "a backorder may wait long: no reservation deadline"

    for status in ("accepted", "picked", "packed"):
        current = moved(current, FulfillmentProgressed(order_id="o", fulfillment_id="o-F1", location_id="loc1",
                                                       status=status))
    for status in ("booked", "picked_up", "delivered"):
        current = moved(current, ShipmentProgressed(order_id="o", shipment_id="o-S1", status=status))
    assert current.status == "backordered" and current.state == SagaState.FULFILLING, "the rest still waits"

    rest = decide(current, StockReserved(order_id="o", request_id=request.id, allocations=[
        Allocation(reservation_id="r2", location_id="loc2", lines=[LINES[1]])]))
    current = apply_changes(rest.saga, rest.changes)
    assert not current.reserving and current.status == "released" and len(current.fulfillments) == 2
    for status in ("accepted", "picked", "packed"):
        current = moved(current, FulfillmentProgressed(order_id="o", fulfillment_id="o-F2", location_id="loc2",
                                                       status=status))
    for status in ("booked", "picked_up", "delivered"):
        current = moved(current, ShipmentProgressed(order_id="o", shipment_id="o-S2", status=status))
    assert current.state == SagaState.COMPLETED and current.status == "delivered"


def test_a_rejection_while_lines_wait_asks_for_both_at_once() -> None:
    waiting = saga("fulfilling", "released", ("accepted",), reserving=True, backordered_lines=[LINES[1]])
    request = start(saga("new", None), None, None).commands[0]
    waiting = waiting.model_copy(update={"reservation_request": request.model_copy(update={"lines": [LINES[1]]})})
    decision = decide(waiting, FulfillmentProgressed(order_id="o", fulfillment_id="o-F1", location_id="loc1",
                                                     status="rejected"))
    [_release, again] = decision.commands
    assert sorted((line.sku, line.quantity) for line in again.lines) == [("A", 2), ("B", 1)]  # type: ignore[attr-defined]
