"""`oms whatif`: the recorded allocation decisions of a period decided again under other rules (another network
file: its routing weights, carriers and lanes), compared with what was decided live. Reads only: nothing changes.

Both sides are judged by the same yardstick, the rules given: each shipment's cheapest on-time lane (its rate, or
the fastest lane's and the days late), shipments per order, which locations get the work and which carrier booking
would choose for each shipment (the cheapest that keeps the promise, as the shipping service does)."""

from __future__ import annotations

import asyncio
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from rich.table import Table

from oms_cli.queries import inventory as inventory_read
from rules.network import Network
from rules.promise import choose_carrier
from rules.routing import Allocation, Destination, Site, decide, shipment_cost
from runtime.security import DATABASE_OPERATOR
from runtime.settings import Settings


@dataclass
class Side:
    """What a set of decisions comes to: orders, shipments, shipping cost, shipments on time, work per location."""

    orders: int = 0
    shipments: int = 0
    split: int = 0
    cost: float = 0.0
    on_time: int = 0
    load: Counter[str] = field(default_factory=Counter)
    carriers: Counter[str] = field(default_factory=Counter)  # the carrier booking would choose for each shipment

    def add(self, plan: Allocation, sites: dict[str, Site], to: Destination, network: Network) -> None:
        self.orders += 1
        self.shipments += len(plan)
        self.split += len(plan) > 1
        for location_id, _ in plan:
            site = sites[location_id]
            rate, late = shipment_cost(network.carriers, site.country, to.country, to.service_level, site.lead_days)
            self.cost += rate + site.cost
            self.on_time += late == 0
            self.load[location_id] += 1
            chosen = choose_carrier(network.carriers, sites[location_id].country, to.country, to.service_level, [])
            self.carriers[chosen[0] if chosen else "(none on time)"] += 1


@dataclass
class Comparison:
    live: Side = field(default_factory=Side)
    replayed: Side = field(default_factory=Side)
    differ: int = 0
    examples: list[str] = field(default_factory=list)


async def recorded(settings: Settings, since: datetime) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_for("inventory", DATABASE_OPERATOR))
    try:
        return await inventory_read.decisions_since(conn, since)
    finally:
        await conn.close()


def _plan(raw: Any) -> Allocation:
    return [(location_id, dict(part)) for location_id, part in raw]


def compare(rows: list[Any], rules: Network) -> Comparison:
    """Each recorded decision decided again on its own inputs with `rules`' weights and carriers."""
    result = Comparison()
    for row in rows:
        inputs = orjson.loads(row["inputs"])
        sites = [Site(**s) for s in inputs["sites"]]
        by_id = {s.location_id: s for s in sites}
        available = {(loc, sku): n for loc, sku, n in inputs["available"]}
        to = Destination(inputs["to"]["country"], inputs["to"]["service_level"])
        live = _plan(orjson.loads(row["plan"])["plan"])
        again = decide(inputs["lines"], available, sites, rules.carriers, to, rules.weights(row["channel"]))
        replayed = again.chosen.plan if again else live
        result.live.add(live, by_id, to, rules)
        result.replayed.add(replayed, by_id, to, rules)
        if replayed != live:
            result.differ += 1
            if len(result.examples) < 5:
                result.examples.append(f"{row['order_id']}: {_where(live)} -> {_where(replayed)}")
    return result


def _where(plan: Allocation) -> str:
    return " + ".join(location_id for location_id, _ in plan)


def rules_from(path: Path, current: Network) -> Network:
    """A whole network file, or one with only `[routing...]` (and `[[postal_regions]]`) tables: those over the
    current network."""
    found = tomllib.loads(path.read_text())
    if "locations" in found:
        return Network.model_validate(found)
    return Network.model_validate({**current.model_dump(), **{k: v for k, v in found.items()
                                                                if k in ("routing", "postal_regions")}})


def run(settings: Settings, since: datetime, rules: Network) -> Comparison:
    return compare(asyncio.run(recorded(settings, since)), rules)


def table(result: Comparison, label: str) -> Table:
    """The live decisions against the replayed ones, side by side."""
    live, again = result.live, result.replayed
    shown = Table("", "live", label, title="What if")
    shown.add_row("decisions", str(live.orders), f"{again.orders} ({result.differ} decided otherwise)")
    shown.add_row("shipping cost per order", f"{live.cost / max(live.orders, 1):.2f}",
                  f"{again.cost / max(again.orders, 1):.2f}")
    shown.add_row("split rate", f"{live.split / max(live.orders, 1):.1%}", f"{again.split / max(again.orders, 1):.1%}")
    shown.add_row("shipments on time", f"{live.on_time / max(live.shipments, 1):.1%}",
                  f"{again.on_time / max(again.shipments, 1):.1%}")
    for location in sorted(set(live.load) | set(again.load)):
        shown.add_row(f"  shipments from {location}", str(live.load[location]), str(again.load[location]))
    for carrier in sorted(set(live.carriers) | set(again.carriers)):
        shown.add_row(f"  shipments by {carrier}", str(live.carriers[carrier]), str(again.carriers[carrier]))
    return shown
