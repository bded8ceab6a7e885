"""Allocation as a scored decision. Every plan that can ship an order's lines (from one location, or split over a
few) is scored on what it costs and risks: the carriers' rates to the destination, days late against the service
level's promise, each shipment beyond the first, distance, and the locations' recent failures and open requests
(partner scorecards). The lowest score wins; the decision keeps its two best alternatives with their scores, so an
operator sees why an order went where it went, and `oms whatif` can score the same inputs with other weights.
Pure: the same inputs give the same decision.

The default weights are the rule the OMS always had: fewest locations first (a split costs more than any
distance), then the nearest. A channel's `[routing."<channel>"]` in the network file weighs cost and promise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from rules.network import Carrier, Weights
from rules.promise import PROMISE_DAYS, transit_days

Allocation = list[tuple[str, dict[str, int]]]
HEALTHY_FAILURE_RATE = 0.2  # failures up to this share of a partner's recent requests cost nothing
MOST_CANDIDATES = 8  # sites with stock considered, best first: plans are combinations of these


@dataclass(frozen=True)
class Site:
    """A location as allocation sees it."""

    location_id: str
    distance_km: float
    safety_stock: int = 0
    country: str = ""
    failure_rate: float = 0.0  # of its recent requests (its scorecard), 0 without one
    open_requests: int = 0  # its scorecard's requests not yet done: its load
    cost: float = 0.0  # a drop-ship supplier's charge per purchase order, weighed like a carrier's rate
    lead_days: int = 0  # a drop-ship supplier's days before it ships, counted against the promise


@dataclass(frozen=True)
class Scored:
    plan: Allocation
    total: float
    parts: dict[str, float]

    def describe(self) -> str:
        where = " + ".join(f"{loc} ({', '.join(f'{q} x {s}' for s, q in part.items())})" for loc, part in self.plan)
        why = ", ".join(f"{k} {v:.1f}" for k, v in self.parts.items() if v)
        return f"{where}: {self.total:.1f}" + (f" ({why})" if why else "")


@dataclass(frozen=True)
class Decision:
    chosen: Scored
    alternatives: list[Scored] = field(default_factory=list)  # the best two others, best first


@dataclass(frozen=True)
class Destination:
    country: str
    service_level: str = "standard"


def shipment_cost(carriers: Sequence[Carrier], origin: str, destination: str, service_level: str,
                  lead_days: int = 0) -> tuple[float, int]:
    """(rate, days late) of the cheapest lane from `origin` that keeps the promise, else of the fastest lane that
    serves the destination (late by its extra days); (0, promise) when no lane serves it. `lead_days`: days before
    the goods leave (a drop-ship supplier's)."""
    promise = PROMISE_DAYS.get(service_level, PROMISE_DAYS["standard"])
    lanes = [(transit_days(lane.transit_days, origin, destination) + lead_days, float(lane.rate))
             for carrier in carriers for lane in carrier.lanes
             if lane.service_level == service_level and destination in lane.countries]
    if not lanes:
        return 0.0, promise
    on_time = [rate for days, rate in lanes if days <= promise]
    if on_time:
        return min(on_time), 0
    days, rate = min(lanes)
    return rate, days - promise


def score(plan: Allocation, sites: Mapping[str, Site], carriers: Sequence[Carrier], to: Destination,
          weights: Weights) -> Scored:
    parts = {"shipping": 0.0, "late": 0.0, "split": weights.split * (len(plan) - 1), "distance": 0.0,
             "reliability": 0.0, "workload": 0.0}
    for location_id, _ in plan:
        site = sites[location_id]
        rate, late = shipment_cost(carriers, site.country, to.country, to.service_level, site.lead_days)
        parts["shipping"] += weights.shipping * (rate + site.cost)
        parts["late"] += weights.late * late
        parts["distance"] += weights.distance * site.distance_km
        parts["reliability"] += weights.reliability * max(site.failure_rate - HEALTHY_FAILURE_RATE, 0.0)
        parts["workload"] += weights.workload * site.open_requests
    return Scored(plan, sum(parts.values()), {k: round(v, 3) for k, v in parts.items()})


def own_cost(site: Site, weights: Weights) -> float:
    """What a site adds to any plan it is in, whatever it ships: its distance, failures and load."""
    return (weights.distance * site.distance_km + weights.workload * site.open_requests + weights.shipping * site.cost
            + weights.reliability * max(site.failure_rate - HEALTHY_FAILURE_RATE, 0.0))


def decide(lines: Mapping[str, int], available: Mapping[tuple[str, str], int], sites: Sequence[Site],
           carriers: Sequence[Carrier], to: Destination, weights: Weights) -> Decision | None:
    """The best plan that ships every line (with the two best others), or None when no combination can."""
    by_id = {s.location_id: s for s in sites}
    usable = {(s.location_id, sku): max(available.get((s.location_id, sku), 0) - s.safety_stock, 0)
              for s in sites for sku in lines}
    holding = [s for s in sites if any(usable[(s.location_id, sku)] for sku in lines)]
    ranked = sorted(holding, key=lambda s: (own_cost(s, weights), s.distance_km, s.location_id))
    ranked = ranked[:MOST_CANDIDATES]
    scored: list[Scored] = []
    for size in range(1, len(ranked) + 1):
        combos = sorted(combinations(ranked, size), key=lambda c: sum(s.distance_km for s in c))
        for combo in combos:
            if all(sum(usable[(s.location_id, sku)] for s in combo) >= qty for sku, qty in lines.items()):
                plan = split(lines, usable, combo)
                if len(plan) == size:  # else a smaller combination is the same plan
                    scored.append(score(plan, by_id, carriers, to, weights))
        if scored and size >= 3:  # beyond three shipments a split never wins: stop looking
            break
    if not scored:
        return None
    ordered = sorted(enumerate(scored), key=lambda item: (item[1].total, item[0]))  # ties: the earlier plan
    return Decision(ordered[0][1], [s for _, s in ordered[1:3]])


def split(lines: Mapping[str, int], usable: Mapping[tuple[str, str], int], combo: Sequence[Site]) -> Allocation:
    """Fills each line from the combination's sites in order (the nearest first)."""
    plan: dict[str, dict[str, int]] = {}
    for sku, qty in lines.items():
        left = qty
        for site in combo:
            take = min(left, usable[(site.location_id, sku)])
            if take:
                plan.setdefault(site.location_id, {})[sku] = take
                left -= take
    return [(s.location_id, plan[s.location_id]) for s in combo if s.location_id in plan]
