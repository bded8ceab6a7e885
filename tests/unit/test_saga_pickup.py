"""Click and collect in the saga: picked at the store itself, or shipped there and handed over; ready, reminded,
collected, or cancelled when nobody comes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.base import Message
from contracts.fulfillment import FulfillmentProgressed, ShipmentProgressed
from contracts.inventory import Allocation, StockReserved
from contracts.order import BookShipment, CommitStock, ReleaseStock, RequestFulfillment, Restock
from contracts.payments import RefundRequested
from order_service.saga import Decision, PromisesDue, Saga, SagaState, apply_changes, decide, promise_due, promised, start
from rules.network import load_network
from runtime.settings import get_settings
from tests.unit.test_saga import ADDRESS, LINES

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
NETWORK = load_network(get_settings().network_file)
STORE = "store-munich"
HOLD = timedelta(days=NETWORK.location(STORE).pickup_hold_days)


def pickup_order(**extra: object) -> Saga:
    fields: dict[str, object] = {"order_id": "o", "channel": "web", "external_id": "1", "lines": LINES,
                                 "ship_to": ADDRESS, "pickup_location_id": STORE,
                                 "unit_prices": {"A": "10.00", "B": "5.00"}}
    return Saga.model_validate({**fields, **extra})


def step(saga: Saga, message: Message, now: datetime = NOW) -> tuple[Saga, Decision]:
    """One message through the saga as the order service applies it (promises and pickup times from `now`)."""
    decision = decide(saga, message)
    return apply_changes(promised(decision.saga, NETWORK, now), decision.changes), decision


def reserved_at(*locations: str) -> StockReserved:
    return StockReserved(order_id="o", allocations=[
        Allocation(reservation_id=f"r{n}", location_id=loc, lines=[LINES[n - 1]])
        for n, loc in enumerate(locations, 1)])


def progressed(n: int, status: str, location: str = STORE) -> FulfillmentProgressed:
    return FulfillmentProgressed(order_id="o", fulfillment_id=f"o-F{n}", location_id=location, status=status)


def statuses(decision: Decision) -> list[tuple[str, str | None]]:
    return [(c.status, c.reason.code if c.reason else None) for c in decision.changes]


def test_a_pickup_asks_stock_near_the_store_and_an_unknown_store_is_rejected() -> None:
    decision = start(pickup_order(), "authorized", None)
    [reserve] = decision.commands
    assert reserve.pickup_location_id == STORE  # type: ignore[attr-defined]
    refused = start(pickup_order(), "authorized", None, "no location store-nowhere to collect from")
    assert refused.saga.state == SagaState.REJECTED
    assert statuses(refused) == [("received", None), ("rejected", "unknown_pickup_location")]


def test_picked_in_the_store_it_waits_at_the_counter_then_is_collected() -> None:
    saga, decision = step(start(pickup_order(), "authorized", None).saga, reserved_at(STORE))
    assert statuses(decision) == [("reserved", None), ("released", None)], "handed to the store as to any location"
    [f] = saga.fulfillments
    assert f.pickup and not f.to_store
    for status in ("accepted", "picked"):
        saga, decision = step(saga, progressed(1, status))
    saga, decision = step(saga, progressed(1, "packed"))
    assert decision.commands == [], "nothing to book: the customer comes"
    assert saga.status == "in_fulfillment", "packed in the store is not ready to ship: no carrier comes"
    saga, decision = step(saga, progressed(1, "ready_for_pickup"))
    assert statuses(decision) == [("ready_for_pickup", "ready_for_pickup")]
    assert "Street 1" in decision.changes[0].reason.message  # type: ignore[union-attr]
    assert (saga.pickup_expires_at, saga.pickup_remind_at) == (NOW + HOLD, NOW + HOLD / 2)
    assert promise_due(saga) == NOW + HOLD / 2
    saga, decision = step(saga, progressed(1, "collected"))
    assert statuses(decision) == [("collected", None)] and saga.state == SagaState.COMPLETED
    assert [type(c) for c in decision.commands] == [CommitStock], "the units leave the store's stock"


def test_a_till_order_collected_at_once_is_done() -> None:
    saga, _ = step(start(pickup_order(channel="store:store-munich"), "authorized", None).saga, reserved_at(STORE))
    saga, decision = step(saga, progressed(1, "collected"))
    assert saga.state == SagaState.COMPLETED and statuses(decision) == [("collected", None)]
    assert [type(c) for c in decision.commands] == [CommitStock]


def test_shipped_to_the_store_it_is_handed_over_there() -> None:
    saga, decision = step(start(pickup_order(), "authorized", None).saga, reserved_at("dc-rotterdam"))
    [f] = saga.fulfillments
    assert f.to_store and not f.pickup
    [request] = decision.commands
    assert isinstance(request, RequestFulfillment) and not request.pickup
    for status in ("accepted", "picked"):
        saga, _ = step(saga, progressed(1, status, "dc-rotterdam"))
    saga, decision = step(saga, FulfillmentProgressed(order_id="o", fulfillment_id="o-F1", location_id="dc-rotterdam",
                                                      status="packed"))
    [book] = decision.commands
    assert isinstance(book, BookShipment) and book.ship_to == ADDRESS, "booked to the store's address"
    for status in ("booked", "picked_up", "in_transit"):
        saga, decision = step(saga, ShipmentProgressed(order_id="o", shipment_id="o-S1", status=status))
    assert saga.status == "shipped"
    saga, decision = step(saga, ShipmentProgressed(order_id="o", shipment_id="o-S1", status="delivered"))
    [collection] = [c for c in decision.commands if isinstance(c, RequestFulfillment)]
    assert (collection.location_id, collection.pickup, collection.collection) == (STORE, True, True)
    assert saga.state == SagaState.FULFILLING and saga.status == "in_fulfillment", "with the store, not the customer"
    saga, decision = step(saga, progressed(2, "ready_for_pickup"))
    assert saga.status == "ready_for_pickup"
    saga, decision = step(saga, progressed(2, "collected"))
    assert saga.state == SagaState.COMPLETED and decision.commands == [], "committed when it left the DC"


def ready(*locations: str, paid: bool = True) -> Saga:
    saga, _ = step(start(pickup_order(paid=paid), "authorized", None).saga, reserved_at(*locations))
    for n, location in enumerate(locations, 1):
        if location != STORE:  # shipped there first
            saga, _ = step(saga, ShipmentProgressed(order_id="o", shipment_id=f"o-S{n}", status="delivered"))
    for f in [f for f in saga.fulfillments if f.pickup]:
        saga, _ = step(saga, progressed(int(f.fulfillment_id.rsplit("F", 1)[1]), "ready_for_pickup"))
    assert saga.status == "ready_for_pickup", saga.status
    return saga


def test_nobody_comes_one_reminder_then_cancelled_with_the_stock_back_in_the_store() -> None:
    saga = ready(STORE, "dc-rotterdam")
    saga, decision = step(saga, PromisesDue(order_id="o", at=NOW + HOLD / 2))
    assert statuses(decision) == [("ready_for_pickup", "pickup_reminder")]
    _, again = step(saga, PromisesDue(order_id="o", at=NOW + HOLD / 2 + timedelta(hours=1)))
    assert again.changes == [], "reminded once"
    saga, decision = step(saga, PromisesDue(order_id="o", at=NOW + HOLD))
    assert saga.state == SagaState.CANCELLED and statuses(decision) == [("cancelled", "not_collected")]
    kinds = [c.type for c in decision.commands]
    assert kinds.count("fulfillment.cancel_fulfillment") == 2, "the store puts both back on its shelf"
    [release] = [c for c in decision.commands if isinstance(c, ReleaseStock)]
    assert release.reservation_id == "r1", "reserved in the store: available there again"
    [restock] = [c for c in decision.commands if isinstance(c, Restock)]
    assert restock.location_id == STORE and [(line.sku, line.quantity) for line in restock.lines] == [("B", 1)]
    [refund] = [c for c in decision.commands if isinstance(c, RefundRequested)]
    assert refund.amount == "25.00"
    assert promise_due(saga) is None


def test_an_order_still_on_its_way_to_the_store_has_no_pickup_clock() -> None:
    saga, _ = step(start(pickup_order(), "authorized", None).saga, reserved_at("dc-rotterdam"))
    assert saga.pickup_expires_at is None
