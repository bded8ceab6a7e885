"""`oms whatif` without a server: recorded decisions decided again on their own inputs; the same rules decide the
same, other weights show what they would cost and whom they would give the work."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from rich.console import Console

from oms_cli.whatif import compare, rules_from, table
from rules.network import Carrier, Lane, Network, Weights, load_network
from runtime.settings import REPO_ROOT, get_settings

pytestmark = pytest.mark.unit

CARRIERS = [Carrier(id="fast", name="Fast", lanes=[Lane(service_level="express", countries=["DE"], rate=Decimal("20"),
                                                        transit_days=1)]),
            Carrier(id="cheap", name="Cheap", lanes=[Lane(service_level="express", countries=["DE"],
                                                          rate=Decimal("8"), transit_days=2)])]


def network(weights: Weights | None = None) -> Network:
    current = load_network(get_settings().network_file)
    return current.model_copy(update={"carriers": CARRIERS, "routing": {"default": weights} if weights else {}})


def recorded(n: int) -> dict:
    """A decision as inventory records it: the nearest location (across a border: only the fast lane is on time)."""
    inputs = {"lines": {"A": 1}, "to": {"country": "DE", "service_level": "express"},
              "sites": [{"location_id": "dc-nl", "distance_km": 200.0, "safety_stock": 0, "country": "NL",
                         "failure_rate": 0.0, "open_requests": 3},
                        {"location_id": "dc-de", "distance_km": 450.0, "safety_stock": 0, "country": "DE",
                         "failure_rate": 0.0}],  # recorded before open requests were: none
              "available": [["dc-nl", "A", 5], ["dc-de", "A", 5]]}
    return {"order_id": f"o-{n}", "channel": "web", "plan": orjson.dumps({"plan": [["dc-nl", {"A": 1}]]}),
            "inputs": orjson.dumps(inputs)}


def test_the_same_rules_decide_every_recorded_decision_the_same():
    result = compare([recorded(n) for n in range(4)], network())
    assert (result.differ, result.live.orders, result.replayed.load) == (0, 4, result.live.load)
    assert result.live.carriers == {"fast": 4}, "from the Netherlands only the fast lane keeps the promise"


def test_cost_weights_show_what_they_would_save_and_where_the_work_would_go():
    result = compare([recorded(n) for n in range(4)], network(Weights(shipping=100, distance=0.1)))
    assert result.differ == 4 and result.examples[0] == "o-0: dc-nl -> dc-de"
    assert (result.live.cost, result.replayed.cost) == (80.0, 32.0)
    assert result.replayed.load == {"dc-de": 4} and result.replayed.carriers == {"cheap": 4}
    assert result.live.on_time == result.replayed.on_time == 4
    console = Console(record=True, width=100)
    console.print(table(result, "cost"))
    shown = console.export_text()
    assert "shipping cost per order" in shown and "20.00" in shown and "8.00" in shown
    assert "4 (4 decided otherwise)" in shown and "shipments by cheap" in shown


def test_rules_from_a_file_of_routing_tables_lay_them_over_the_current_network():
    current = load_network(get_settings().network_file)
    rules = rules_from(REPO_ROOT / "config" / "routing-cost.toml", current)
    assert rules.locations == current.locations and rules.carriers == current.carriers
    assert rules.weights("web") == Weights(shipping=10, late=300, split=60, distance=0.1, reliability=2000,
                                           workload=1)
