"""Allocation as a scored decision (rules/routing.py): the default weights are the old rule, a plan never
oversells, cost and promise weigh where a channel asks, a failing partner loses work, and the reasons are kept."""

from __future__ import annotations

from decimal import Decimal
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.network import Carrier, Lane, load_network
from rules.routing import Allocation, Destination, Site, Weights, decide, shipment_cost, split
from runtime.settings import REPO_ROOT

pytestmark = pytest.mark.unit

SKUS = ["A", "B", "C"]
LANES = [Carrier(id="fast", name="Fast", lanes=[Lane(service_level="express", countries=["DE"], rate=Decimal("20"),
                                                     transit_days=1)]),
         Carrier(id="cheap", name="Cheap", lanes=[Lane(service_level="express", countries=["DE"], rate=Decimal("8"),
                                                       transit_days=2)])]
TO_DE = Destination("DE", "express")
DEFAULT_NETWORK = REPO_ROOT / "config" / "network.toml"


@st.composite
def situations(draw):
    sites = [Site(f"L{n}", draw(st.floats(0, 5000)), draw(st.integers(0, 2)), "DE",
                  open_requests=draw(st.integers(0, 200)))  # the default weights do not weigh load
             for n in range(draw(st.integers(1, 6)))]
    lines = {sku: draw(st.integers(1, 5)) for sku in draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3,
                                                                   unique=True))}
    available = {(s.location_id, sku): draw(st.integers(0, 6)) for s in sites for sku in SKUS}
    return lines, available, sites


def old_rule(lines: dict[str, int], available: dict[tuple[str, str], int], sites: list[Site]) -> Allocation | None:
    """How allocation chose before it scored plans: the fewest locations that can ship the lines, of those the
    nearest (by the sum of their distances), each line filled from the nearest of them first."""
    ranked = sorted(sites, key=lambda s: (s.distance_km, s.location_id))
    usable = {(s.location_id, sku): max(available.get((s.location_id, sku), 0) - s.safety_stock, 0)
              for s in ranked for sku in lines}
    for size in range(1, len(ranked) + 1):
        for combo in sorted(combinations(ranked, size), key=lambda c: sum(s.distance_km for s in c)):
            if all(sum(usable[(s.location_id, sku)] for s in combo) >= qty for sku, qty in lines.items()):
                return split(lines, usable, combo)
    return None


@settings(max_examples=300, deadline=None)
@given(situations())
def test_the_default_weights_decide_as_the_old_rule(situation):
    lines, available, sites = situation
    old = old_rule(lines, available, sites)
    new = decide(lines, available, sites, LANES, TO_DE, Weights())
    assert (new.chosen.plan if new else None) == old


@settings(max_examples=150, deadline=None)
@given(situations(), st.floats(0, 5), st.floats(0, 100), st.floats(0, 5000))
def test_no_plan_ever_oversells_whatever_the_weights(situation, shipping, late, split):
    lines, available, sites = situation
    decision = decide(lines, available, sites, LANES, TO_DE, Weights(shipping=shipping, late=late, split=split))
    if decision is None:
        return
    safety = {s.location_id: s.safety_stock for s in sites}
    for plan in [decision.chosen.plan, *(a.plan for a in decision.alternatives)]:
        for location_id, part in plan:
            for sku, qty in part.items():
                assert qty <= available[(location_id, sku)] - safety[location_id]
        assert {sku: sum(part.get(sku, 0) for _, part in plan) for sku in lines} == dict(lines)


def test_a_cheaper_equally_fast_plan_wins_where_the_channel_weighs_cost():
    near_abroad = Site("dc-nl", 200, country="NL")  # across a border: only the fast carrier keeps the promise
    far_home = Site("dc-de", 450, country="DE")
    available = {("dc-nl", "A"): 5, ("dc-de", "A"): 5}
    assert shipment_cost(LANES, "NL", "DE", "express") == (20.0, 0)
    assert shipment_cost(LANES, "DE", "DE", "express") == (8.0, 0)

    nearest = decide({"A": 1}, available, [near_abroad, far_home], LANES, TO_DE, Weights())
    cheapest = decide({"A": 1}, available, [near_abroad, far_home], LANES, TO_DE,
                      Weights(shipping=100, distance=0.1))
    assert nearest is not None and nearest.chosen.plan == [("dc-nl", {"A": 1})]
    assert cheapest is not None and cheapest.chosen.plan == [("dc-de", {"A": 1})]
    assert cheapest.alternatives[0].plan == [("dc-nl", {"A": 1})], "the plan not taken, with its score"
    assert cheapest.chosen.parts["shipping"] == 800 and cheapest.alternatives[0].parts["shipping"] == 2000


def test_a_late_plan_loses_to_one_on_time_where_lateness_is_weighed():
    standard_only = [Carrier(id="slow", name="Slow", lanes=[Lane(service_level="express", countries=["DE"],
                                                                  rate=Decimal("5"), transit_days=2)])]
    assert shipment_cost(standard_only, "NL", "DE", "express") == (5.0, 1)
    sites = [Site("dc-nl", 100, country="NL"), Site("dc-de", 300, country="DE")]
    available = {("dc-nl", "A"): 1, ("dc-de", "A"): 1}
    decision = decide({"A": 1}, available, sites, standard_only, TO_DE, Weights(late=500))
    assert decision is not None and decision.chosen.plan[0][0] == "dc-de"


def test_a_partner_failing_more_than_a_healthy_share_loses_work_and_gets_it_back_when_it_recovers():
    available = {("3pl-berlin", "A"): 5, ("store-munich", "A"): 5}

    def chosen(failure_rate: float) -> str:
        sites = [Site("3pl-berlin", 250, failure_rate=failure_rate), Site("store-munich", 355)]
        decision = decide({"A": 1}, available, sites, LANES, TO_DE, Weights())
        assert decision is not None
        return decision.chosen.plan[0][0]
    assert chosen(0.0) == "3pl-berlin"
    assert chosen(0.15) == "3pl-berlin", "a few failures are within the healthy share"
    assert chosen(0.5) == "store-munich"
    assert chosen(0.1) == "3pl-berlin"


def test_the_decision_keeps_the_two_best_alternatives_and_says_why():
    sites = [Site("a", 100), Site("b", 200), Site("c", 300), Site("d", 400)]
    available = {(s.location_id, "A"): 1 for s in sites}
    decision = decide({"A": 1}, available, sites, LANES, TO_DE, Weights())
    assert decision is not None
    assert [decision.chosen.plan[0][0], *(a.plan[0][0] for a in decision.alternatives)] == ["a", "b", "c"]
    assert "a (1 x A): 100.0 (distance 100.0)" == decision.chosen.describe()


def test_a_busy_location_loses_work_where_the_channel_weighs_load_and_never_by_default():
    sites = [Site("3pl-berlin", 250, open_requests=400), Site("store-munich", 355, open_requests=10)]
    available = {("3pl-berlin", "A"): 5, ("store-munich", "A"): 5}
    by_default = decide({"A": 1}, available, sites, LANES, TO_DE, Weights())
    weighing_load = decide({"A": 1}, available, sites, LANES, TO_DE, Weights(workload=1.0))
    assert by_default is not None and by_default.chosen.plan[0][0] == "3pl-berlin"
    assert weighing_load is not None and weighing_load.chosen.plan[0][0] == "store-munich"
    assert weighing_load.chosen.parts["workload"] == 10 and weighing_load.alternatives[0].parts["workload"] == 400
    idle = [Site("3pl-berlin", 250, open_requests=40), Site("store-munich", 355, open_requests=10)]
    light = decide({"A": 1}, available, idle, LANES, TO_DE, Weights(workload=1.0))
    assert light is not None and light.chosen.plan[0][0] == "3pl-berlin", "a small queue: distance decides"



def test_a_drop_ship_supplier_is_scored_like_any_location_its_charge_and_lead_days_counted():
    supplier = Site("supplier", 100, country="DE", cost=30.0, lead_days=1)  # nearest, but it charges and waits
    warehouse = Site("dc-de", 400, country="DE")
    available = {("supplier", "A"): 9, ("dc-de", "A"): 9}
    assert shipment_cost(LANES, "DE", "DE", "express", lead_days=1) == (20.0, 0), "only the fast lane is on time"
    by_distance = decide({"A": 1}, available, [supplier, warehouse], LANES, TO_DE, Weights())
    by_cost = decide({"A": 1}, available, [supplier, warehouse], LANES, TO_DE, Weights(shipping=10, distance=0.1))
    assert by_distance is not None and by_distance.chosen.plan == [("supplier", {"A": 1})]
    assert by_cost is not None and by_cost.chosen.plan == [("dc-de", {"A": 1})]
    assert by_cost.alternatives[0].parts["shipping"] == 10 * (20 + 30), "its charge beside the carrier's rate"
    only_supplier = decide({"A": 1}, {("supplier", "A"): 9}, [supplier, warehouse], LANES, TO_DE, Weights(late=1))
    assert only_supplier is not None and only_supplier.chosen.parts["late"] == 0


def test_a_supplier_serves_only_its_regions():
    network = load_network(DEFAULT_NETWORK)
    hamburg = network.location("supplier-hamburg")
    assert hamburg.supplier and hamburg.serves("NL") and not hamburg.serves("IT")
    assert "supplier-hamburg" in network.suppliers and "supplier-hamburg" not in network.sites
