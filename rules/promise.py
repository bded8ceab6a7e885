"""Promises: when a shipment must leave its location and when it must arrive, and the carrier choice they rest
on. Pure.

Ship-by: the location's next cut-off (its own time zone) on a working day, after its handling days; a location
with `ship_within_s` promises that many seconds after the reservation instead (a partner's SLA). Deliver-by: the
ship-by time plus the transit days of the carrier that would be booked (the cheapest that keeps the service
level's promise), or the service level's promise when no lane fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from rules.network import Carrier, Location

PROMISE_DAYS = {"standard": 3, "express": 2}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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


def _working(location: Location, day: date) -> bool:
    return WEEKDAYS[day.weekday()] in location.working_days


def ship_by(location: Location, reserved_at: datetime) -> datetime:
    """When a shipment reserved at `reserved_at` must have left `location`."""
    if location.ship_within_s is not None:
        return reserved_at + timedelta(seconds=location.ship_within_s)
    zone = ZoneInfo(location.timezone)
    local = reserved_at.astimezone(zone)
    cutoff = time.fromisoformat(location.cutoff)
    day = local.date()
    if not _working(location, day) or local.time() >= cutoff:
        day = _next_working(location, day)
    for _ in range(location.handling_days + location.lead_days):
        day = _next_working(location, day)
    return datetime.combine(day, cutoff, zone).astimezone(reserved_at.tzinfo)


def _next_working(location: Location, day: date) -> date:
    for _ in range(7):
        day += timedelta(days=1)
        if _working(location, day):
            return day
    return day  # a location that never works: the next day, so a promise is still made (and broken in the open)


def deliver_by(carriers: list[Carrier], location: Location, destination: str, service_level: str,
               leaves: datetime) -> datetime:
    """When a shipment leaving `location` at `leaves` for `destination` must have arrived."""
    chosen = choose_carrier(carriers, location.country, destination, service_level, [])
    days = chosen[2] if chosen else PROMISE_DAYS.get(service_level, PROMISE_DAYS["standard"])
    return leaves + timedelta(days=days)


def shipment(location: Location, carriers: list[Carrier], destination: str, service_level: str,
             reserved_at: datetime) -> tuple[datetime, datetime]:
    """(ship-by, deliver-by) of a shipment reserved at `location` at `reserved_at`: the promise an order's saga makes
    and a quote gives (the same function, so the quote is the promise)."""
    leaves = ship_by(location, reserved_at)
    return leaves, deliver_by(carriers, location, destination, service_level, leaves)


@dataclass(frozen=True)
class Leg:
    """One shipment of a plan, promised: where from, when it leaves and arrives, who carries it at what rate."""

    location_id: str
    ship_by: datetime
    deliver_by: datetime
    carrier_id: str | None
    rate: Decimal


def legs(locations: list[Location], carriers: list[Carrier], destination: str, service_level: str,
         at: datetime) -> list[Leg]:
    """The shipments of a plan over `locations`, each promised as if reserved `at`."""
    found = []
    for location in locations:
        leaves, arrives = shipment(location, carriers, destination, service_level, at)
        chosen = choose_carrier(carriers, location.country, destination, service_level, [])
        found.append(Leg(location.id, leaves, arrives, chosen[0] if chosen else None,
                         chosen[1] if chosen else Decimal("0")))
    return found
