"""Carrier pickups, in memory: each asked for once ahead of its time with the shipments booked there since the one
before; a missed one rolls what was not collected to the next, and the saga tells a shipment that will now leave
after its ship-by, once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from contracts import topics
from contracts.fulfillment import ShipmentProgressed
from order_service.saga import decide
from runtime.pollers import Tick
from shipping_service.handlers import request_pickups
from tests.handlers.test_shipping import booking, updates
from tests.support.memory import InMemory, body
from tests.unit.test_saga import saga

pytestmark = pytest.mark.unit

BEFORE_FIVE = datetime.fromisoformat("2026-12-07T15:50:00+00:00")  # a Monday, 16:50 in Rotterdam: DHL comes at 17:00
PICKUP = "dc-rotterdam.dhl.20261207T160000Z"


async def booked() -> tuple[InMemory, str]:
    service, carrier = await booking()
    assert carrier == "dhl"
    await service.deliver(updates(carrier), body("shipment.booked"))
    return service, carrier


async def test_a_pickup_is_asked_for_once_ahead_of_it_with_its_manifest():
    service, carrier = await booked()
    assert await service.handle(request_pickups, Tick(BEFORE_FIVE - timedelta(hours=1))) == [], "not due yet"

    [request] = await service.handle(request_pickups, Tick(BEFORE_FIVE))
    assert (request.type, request.pickup_id, request.shipment_ids, request.parcels) == (
        "pickup.requested", PICKUP, ["shp-1"], 1)
    assert request.weight_grams == 5400 and service.sent(topics.CARRIER_REQUESTS.for_partner(carrier))[-1] == request
    assert await service.handle(request_pickups, Tick(BEFORE_FIVE + timedelta(minutes=1))) == [], "asked once"
    assert service.row("shipments", "shp-1")["pickup_id"] == PICKUP


async def test_a_missed_pickup_rolls_what_was_not_collected_to_the_next_and_tells_the_saga_when():
    service, carrier = await booked()
    await service.handle(request_pickups, Tick(BEFORE_FIVE))
    [rolled] = await service.deliver(updates(carrier), body("pickup.missed", pickup_id=PICKUP))
    assert (rolled.status, rolled.shipment_id) == ("pickup_missed", "shp-1")
    assert rolled.next_pickup_at is not None and rolled.next_pickup_at > BEFORE_FIVE
    assert service.row("pickups", PICKUP)["status"] == "missed"
    assert service.row("shipments", "shp-1")["pickup_id"] is None, "free for the next pickup"
    [again] = await service.handle(request_pickups, Tick(rolled.next_pickup_at - timedelta(minutes=5)))
    assert again.shipment_ids == ["shp-1"]


async def test_a_confirmed_pickup_changes_nothing_else_and_an_unknown_one_is_refused():
    service, carrier = await booked()
    await service.handle(request_pickups, Tick(BEFORE_FIVE))
    assert await service.deliver(updates(carrier), body("pickup.confirmed", pickup_id=PICKUP)) == []
    assert service.row("pickups", PICKUP)["status"] == "confirmed"
    with pytest.raises(Exception, match="no pickup"):
        await service.deliver(updates(carrier), body("pickup.confirmed", pickup_id="made-up"))


def test_a_shipment_that_now_leaves_after_its_ship_by_is_told_late_once_and_one_still_on_time_is_not():
    booked_saga = saga("fulfilling", "ready_to_ship", ("booked",))
    shipment = booked_saga.fulfillments[0]
    ship_by = datetime.fromisoformat("2026-12-07T16:00:00+00:00")
    current = booked_saga.model_copy(update={"fulfillments": [shipment.model_copy(update={"ship_by": ship_by})]})

    def missed(next_at: datetime) -> Any:
        return ShipmentProgressed(order_id="o", shipment_id=shipment.shipment_id, status="pickup_missed",
                                  reason="dhl missed its pickup at loc1", next_pickup_at=next_at)
    assert decide(current, missed(ship_by - timedelta(minutes=30))).changes == [], "still leaves in time"
    late = decide(current, missed(ship_by + timedelta(hours=17)))
    [change] = late.changes
    assert change.status == "ready_to_ship" and cast(Any, change.reason).code == "late_to_ship"
    assert "next pickup is 2026-12-08 09:00 UTC" in cast(Any, change.reason).message
    assert decide(late.saga, missed(ship_by + timedelta(days=2))).changes == [], "told once"
