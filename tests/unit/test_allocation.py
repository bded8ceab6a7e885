"""Allocation across locations: never more than available, one location when one can, safety stock kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.network import Weights
from rules.routing import Allocation, Destination, Site, decide

pytestmark = pytest.mark.unit


def allocate(lines: dict[str, int], stock: dict[tuple[str, str], int], sites: list[Site]) -> Allocation | None:
    """The plan the default weights choose."""
    decision = decide(lines, stock, sites, [], Destination("DE"), Weights())
    return decision.chosen.plan if decision else None

SITES = ["north", "south", "east", "west"]
SKUS = ["A", "B", "C"]

sites = st.lists(st.tuples(st.sampled_from(SITES), st.floats(0, 2000), st.integers(0, 3)), min_size=1, max_size=4,
                 unique_by=lambda t: t[0]).map(lambda ts: [Site(loc, dist, safety) for loc, dist, safety in ts])
stock = st.dictionaries(st.tuples(st.sampled_from(SITES), st.sampled_from(SKUS)), st.integers(0, 10))
lines = st.dictionaries(st.sampled_from(SKUS), st.integers(1, 8), min_size=1)


@given(sites, stock, lines)
@settings(max_examples=200, deadline=None)
def test_never_more_than_available_above_safety_stock(sites, stock, lines):
    plan = allocate(lines, stock, sites)
    if plan is None:
        return
    safety = {s.location_id: s.safety_stock for s in sites}
    for location, part in plan:
        for sku, qty in part.items():
            assert 0 < qty <= stock.get((location, sku), 0) - safety[location]
    totals: dict[str, int] = {}
    for _, part in plan:
        for sku, qty in part.items():
            totals[sku] = totals.get(sku, 0) + qty
    assert totals == lines


@given(sites, stock, lines)
@settings(max_examples=200, deadline=None)
def test_one_location_when_one_can_ship_everything(sites, stock, lines):
    whole = [s for s in sites if all(stock.get((s.location_id, k), 0) - s.safety_stock >= q for k, q in lines.items())]
    plan = allocate(lines, stock, sites)
    if whole:
        assert plan is not None and len(plan) == 1
        nearest = min(whole, key=lambda s: (s.distance_km, s.location_id))
        assert plan[0][0] == nearest.location_id


@given(sites, stock, lines)
@settings(max_examples=200, deadline=None)
def test_none_only_when_all_locations_together_cannot(sites, stock, lines):
    plan = allocate(lines, stock, sites)
    enough = all(sum(max(stock.get((s.location_id, k), 0) - s.safety_stock, 0) for s in sites) >= q
                 for k, q in lines.items())
    assert (plan is not None) == enough


def test_fewest_shipments_even_if_farther():
    sites = [Site("near", 10), Site("mid", 500), Site("far", 900)]
    stock = {("near", "A"): 1, ("mid", "A"): 1, ("far", "A"): 2, ("near", "B"): 1, ("far", "B"): 1}
    assert allocate({"A": 2, "B": 1}, stock, sites) == [("far", {"A": 2, "B": 1})]


def test_a_store_keeps_its_safety_stock():
    sites = [Site("store", 1, safety_stock=2), Site("dc", 800)]
    assert allocate({"A": 1}, {("store", "A"): 2, ("dc", "A"): 5}, sites) == [("dc", {"A": 1})]
    assert allocate({"A": 1}, {("store", "A"): 3, ("dc", "A"): 5}, sites) == [("store", {"A": 1})]
