"""Carrier choice: the cheapest lane that keeps the service level's promise. Pure."""

from __future__ import annotations

from decimal import Decimal

from shared.network import Carrier

PROMISE_DAYS = {"standard": 3, "express": 2}
RANK = {"booking": 0, "booked": 1, "picked_up": 2, "in_transit": 3, "delivered": 4}
UPDATE_STATUS = {
    "shipment.booked": "booked", "shipment.booking_failed": "booking_failed", "shipment.picked_up": "picked_up",
    "shipment.in_transit": "in_transit", "shipment.delivered": "delivered", "shipment.exception": "exception"}


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
