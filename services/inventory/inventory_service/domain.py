"""Stock levels and allocation: pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import combinations

from shared.consume import Unprocessable
from shared.network import Network

# Rough centres of the countries the default network serves, to find the nearest location.
COUNTRY_CENTRES = {
    "DE": (51.2, 10.4), "NL": (52.1, 5.3), "FR": (46.6, 2.4), "BE": (50.6, 4.6), "AT": (47.6, 14.1),
    "IT": (42.8, 12.6), "ES": (40.2, -3.6), "PL": (52.1, 19.4), "DK": (56.0, 10.0), "GB": (54.0, -2.0),
}


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


def newly_low(before: Level, after: Level, reorder_point: int) -> bool:
    return after.available <= reorder_point < before.available or (
        before.on_hand == 0 and before.reserved == 0 and after.available <= reorder_point < after.on_hand)


def channel_available(network: Network, channel: str, sku: str, levels: Mapping[str, Level]) -> int:
    """What `channel` may sell of `sku` (`Network.sellable`), from its levels by location id."""
    return network.sellable(channel, sku, {location: level.available for location, level in levels.items()})


@dataclass(frozen=True)
class Site:
    """A location as allocation sees it: how far from the customer, what it must keep back."""

    location_id: str
    distance_km: float
    safety_stock: int = 0


def distance_km(lat: float, lon: float, country: str) -> float:
    """Great-circle distance from a location to the centre of the destination country."""
    return great_circle_km(lat, lon, *COUNTRY_CENTRES.get(country, (50.0, 10.0)))


def great_circle_km(lat: float, lon: float, clat: float, clon: float) -> float:
    p1, p2, dl = math.radians(lat), math.radians(clat), math.radians(clon - lon)
    cos = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6371.0 * math.acos(max(-1.0, min(1.0, cos)))


Allocation = list[tuple[str, dict[str, int]]]


def allocate(lines: Mapping[str, int], available: Mapping[tuple[str, str], int], sites: Iterable[Site]) -> Allocation | None:
    """Fewest locations that can ship the lines, nearest first; None when no combination can.

    `available` is keyed by (location_id, sku); a site's safety stock is kept back from every SKU.
    """
    ranked = sorted(sites, key=lambda s: (s.distance_km, s.location_id))
    usable = {(s.location_id, sku): max(available.get((s.location_id, sku), 0) - s.safety_stock, 0)
              for s in ranked for sku in lines}
    for size in range(1, len(ranked) + 1):
        candidates = sorted(combinations(ranked, size), key=lambda c: sum(s.distance_km for s in c))
        for combo in candidates:
            if all(sum(usable[(s.location_id, sku)] for s in combo) >= qty for sku, qty in lines.items()):
                return _split(lines, usable, combo)
    return None


def available_part(lines: Mapping[str, int], available: Mapping[tuple[str, str], int],
                   sites: Iterable[Site]) -> dict[str, int]:
    """Of each line, what the sites have (less their safety stock): what ship_available ships now."""
    sites = list(sites)
    part = {sku: min(qty, sum(max(available.get((s.location_id, sku), 0) - s.safety_stock, 0) for s in sites))
            for sku, qty in lines.items()}
    return {sku: qty for sku, qty in part.items() if qty > 0}


def _split(lines: Mapping[str, int], usable: Mapping[tuple[str, str], int], combo: tuple[Site, ...]) -> Allocation:
    """Fills each line from the nearest site of the combination first."""
    plan: dict[str, dict[str, int]] = {}
    for sku, qty in lines.items():
        left = qty
        for site in combo:
            take = min(left, usable[(site.location_id, sku)])
            if take:
                plan.setdefault(site.location_id, {})[sku] = take
                left -= take
    return [(s.location_id, plan[s.location_id]) for s in combo if s.location_id in plan]
