"""Stock levels and allocation: pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

from rules import routing
from rules.network import Network
from runtime.consume import Unprocessable

# Rough centres of the countries the default network serves, to find the nearest location.
COUNTRY_CENTRES = {
    "DE": (51.2, 10.4), "NL": (52.1, 5.3), "FR": (46.6, 2.4), "BE": (50.6, 4.6), "AT": (47.6, 14.1),
    "IT": (42.8, 12.6), "ES": (40.2, -3.6), "PL": (52.1, 19.4), "DK": (56.0, 10.0), "GB": (54.0, -2.0),
}


class Standing(NamedTuple):
    """What a location's scorecard weighs in allocation."""

    failure_rate: float  # 0 until it rests on enough requests
    open_requests: int


@dataclass(frozen=True)
class Level:
    sku: str
    location_id: str
    on_hand: int = 0
    reserved: int = 0
    inbound: int = 0

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)


def counted(level: Level, on_hand: int) -> Level:
    return replace(level, on_hand=on_hand)


def adjusted(level: Level, delta: int) -> Level:
    if level.on_hand + delta < 0:
        raise Unprocessable(f"adjustment {delta} would make on-hand of {level.sku} at {level.location_id} negative")
    return replace(level, on_hand=level.on_hand + delta)


def inbound_expected(level: Level, quantity: int) -> Level:
    return replace(level, inbound=level.inbound + quantity)


def received(level: Level, quantity: int) -> Level:
    return replace(level, on_hand=level.on_hand + quantity, inbound=max(level.inbound - quantity, 0))


def transfer_refusal(network: Network, from_location_id: str, to_location_id: str, sku: str, quantity: int,
                     source: Level | None) -> str | None:
    """Why a transfer cannot be asked for (None: it can): both ends warehouses or stores (a drop-ship supplier ships
    to customers only), two of them, and that many available at the source (`source`, its level)."""
    if why := network.not_a_site(from_location_id, to_location_id):
        return why
    if from_location_id == to_location_id:
        return "the same location"
    available = source.available if source is not None else 0
    if available < quantity:
        return f"{from_location_id} has {available} of {sku} available, not {quantity}"
    return None


def newly_low(before: Level, after: Level, reorder_point: int) -> bool:
    return after.available <= reorder_point < before.available or (
        before.on_hand == 0 and before.reserved == 0 and after.available <= reorder_point < after.on_hand)


def channel_available(network: Network, channel: str, sku: str, levels: Mapping[str, Level]) -> int:
    """What `channel` may sell of `sku` (`Network.sellable`), from its levels by location id."""
    return network.sellable(channel, sku, {location: level.available for location, level in levels.items()})


def channel_inbound(network: Network, channel: str, levels: Mapping[str, Level]) -> int:
    """Units on their way to the locations that serve `channel`: what it may sell as pre-orders."""
    serving = {loc.id for loc in network.serving(channel)}
    return sum(level.inbound for location, level in levels.items() if location in serving)


def distance_km(lat: float, lon: float, country: str) -> float:
    """Great-circle distance from a location to the centre of the destination country."""
    return great_circle_km(lat, lon, *COUNTRY_CENTRES.get(country, (50.0, 10.0)))


def great_circle_km(lat: float, lon: float, clat: float, clon: float) -> float:
    p1, p2, dl = math.radians(lat), math.radians(clat), math.radians(clon - lon)
    cos = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6371.0 * math.acos(max(-1.0, min(1.0, cos)))


def available_part(lines: Mapping[str, int], available: Mapping[tuple[str, str], int],
                   sites: Iterable[routing.Site]) -> dict[str, int]:
    """Of each line, what the sites have (less their safety stock): what ship_available ships now."""
    sites = list(sites)
    part = {sku: min(qty, sum(max(available.get((s.location_id, sku), 0) - s.safety_stock, 0) for s in sites))
            for sku, qty in lines.items()}
    return {sku: qty for sku, qty in part.items() if qty > 0}
