"""Carrier choice: the cheapest lane that keeps the service level's promise. Pure."""

from __future__ import annotations

from enum import StrEnum

from rules.promise import PROMISE_DAYS, choose_carrier, transit_days

__all__ = ["PROMISE_DAYS", "RANK", "ShipmentStatus", "choose_carrier", "moves_on", "tells_the_order", "transit_days"]


class ShipmentStatus(StrEnum):
    """Every status a shipment is stored with (`shipments.status`); `exception` is reported, never stored."""

    BOOKING = "booking"
    BOOKED = "booked"
    BOOKING_FAILED = "booking_failed"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


# How far a shipment has come; an update that is not further along changes nothing.
RANK: dict[str, int] = {ShipmentStatus.BOOKING: 0, ShipmentStatus.BOOKED: 1, ShipmentStatus.PICKED_UP: 2,
                        ShipmentStatus.IN_TRANSIT: 3, ShipmentStatus.DELIVERED: 4}
UPDATE_STATUS = {
    "shipment.booked": ShipmentStatus.BOOKED, "shipment.booking_failed": ShipmentStatus.BOOKING_FAILED,
    "shipment.picked_up": ShipmentStatus.PICKED_UP, "shipment.in_transit": ShipmentStatus.IN_TRANSIT,
    "shipment.delivered": ShipmentStatus.DELIVERED, "shipment.exception": ShipmentStatus.EXCEPTION}


def tells_the_order(before: str, new: str) -> bool:
    """Whether the saga hears of it: only what the customer sees. `booked` does not (the order is `ready_to_ship`
    from packing until the carrier has it: the saga learns the carrier, tracking and estimate with `picked_up`), nor
    `in_transit` once picked up (the order is `shipped` either way): only an `in_transit` that comes first goes on."""
    if new == ShipmentStatus.BOOKED:
        return False
    return new != ShipmentStatus.IN_TRANSIT or RANK.get(before, -1) < RANK[ShipmentStatus.PICKED_UP]


def moves_on(current: str, new: str) -> bool:
    return RANK.get(new, -1) > RANK.get(current, -1)
