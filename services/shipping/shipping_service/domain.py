"""Carrier choice: the cheapest lane that keeps the service level's promise. Pure."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from shared.network import Carrier


class ShipmentStatus(StrEnum):
    """Every status a shipment is stored with (`shipments.status`); `exception` is reported, never stored."""

    BOOKING = "booking"
    BOOKED = "booked"
    BOOKING_FAILED = "booking_failed"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


PROMISE_DAYS = {"standard": 3, "express": 2}
# How far a shipment has come; an update that is not further along changes nothing.
RANK: dict[str, int] = {ShipmentStatus.BOOKING: 0, ShipmentStatus.BOOKED: 1, ShipmentStatus.PICKED_UP: 2,
                        ShipmentStatus.IN_TRANSIT: 3, ShipmentStatus.DELIVERED: 4}
UPDATE_STATUS = {
    "shipment.booked": ShipmentStatus.BOOKED, "shipment.booking_failed": ShipmentStatus.BOOKING_FAILED,
    "shipment.picked_up": ShipmentStatus.PICKED_UP, "shipment.in_transit": ShipmentStatus.IN_TRANSIT,
    "shipment.delivered": ShipmentStatus.DELIVERED, "shipment.exception": ShipmentStatus.EXCEPTION}


def transit_days(lane_days: int, origin: str, destination: str) -> int:
    """Crossing a border costs a day."""
    return lane_days + (0 if origin == destination else 1)


def choose_carrier(carriers: list[Carrier], origin: str, destination: str, service_level: str,
                   excluded: list[str]) -> tuple[str, Decimal, int] | None:
    """(carrier id, rate, days) of the cheapest carrier that meets the promise, faster first on a tie."""
    promise = PROMISE_DAYS.get(service_level, PROMISE_DAYS["standard"])
    options = [(lane.rate, transit_days(lane.transit_days, origin, destination), carrier.id)
               for carrier in carriers if carrier.id not in excluded for lane in carrier.lanes
               if lane.service_level == service_level and destination in lane.countries
               and transit_days(lane.transit_days, origin, destination) <= promise]
    if not options:
        return None
    rate, days, carrier_id = min(options)
    return carrier_id, rate, days


def moves_on(current: str, new: str) -> bool:
    return RANK.get(new, -1) > RANK.get(current, -1)
