"""`oms report`: one self-contained HTML file about a period that people read: orders per channel per hour, time
to each stage, fill rate and backorders, split rate, shipping cost per order and per location and carrier, on-time
shares, partner scorecards, returns by condition and by reason, money captured and refunded per channel. Charts by
Plotly (its JavaScript inlined once: the file opens anywhere, offline); every number is read from the services'
databases with the operators' read-only role."""

from __future__ import annotations

import asyncio
import html
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import plotly.graph_objects as go
from plotly.io import to_html

from oms_cli.queries import inventory as inventory_read
from oms_cli.queries import orders as orders_read
from oms_cli.queries import partners
from rules.network import Network, load_network
from rules.routing import shipment_cost
from runtime.settings import Settings

STAGES = ("accepted", "released", "shipped", "delivered", "collected")
LATE = ("late_to_ship", "late_delivery")


@dataclass
class Period:
    since: datetime
    orders: list[asyncpg.Record] = field(default_factory=list)  # order_id, channel, status, created_at
    steps: list[asyncpg.Record] = field(default_factory=list)  # order_id, status, reason code, occurred_at
    shipments: list[asyncpg.Record] = field(default_factory=list)  # location, carrier, level, country, status, ...
    fulfillments: list[asyncpg.Record] = field(default_factory=list)  # location, status, qc failures
    returns: list[asyncpg.Record] = field(default_factory=list)  # location, received
    asked: Sequence[Mapping[str, Any]] = field(default_factory=list)  # each return asked for: its reason (the customer's)
    money: list[asyncpg.Record] = field(default_factory=list)  # per channel and currency: captured, refunded
    pickups: list[asyncpg.Record] = field(default_factory=list)  # carrier pickups: location, carrier, at, status
    slots: list[asyncpg.Record] = field(default_factory=list)  # delivery windows given: carrier, zone, start, claimed
    transfers: list[asyncpg.Record] = field(default_factory=list)  # between locations: sku, from, to, status, units


async def gather(settings: Settings, since: datetime) -> Period:
    (orders, steps, reasons), shipments, fulfillments, returns, money, pickups = await asyncio.gather(
        orders_read.since(settings, since), partners.shipments_since(settings, since),
        partners.fulfillments_since(settings, since), partners.returns_since(settings, since),
        orders_read.money_since(settings, since), partners.pickups_since(settings, since))
    slots = await partners.slots_from(settings, since)
    transfers = [r for r in await inventory_read.transfers(settings, True) if r["created_at"] >= since]
    asked = [{"reason": reason} for reason in reasons]
    return Period(since, orders, steps, shipments, fulfillments, returns, asked, money, pickups, slots, transfers)


def _figure(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", height=360, margin={"l": 50, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def figures(period: Period, network: Network) -> list[go.Figure]:
    """Each chart of the report, from the period's rows."""
    charts: list[go.Figure] = []
    per_hour: dict[str, Counter[datetime]] = defaultdict(Counter)
    for row in period.orders:
        per_hour[row["channel"]][row["created_at"].replace(minute=0, second=0, microsecond=0)] += 1
    charts.append(_figure(go.Figure([go.Bar(name=channel, x=sorted(c), y=[c[h] for h in sorted(c)])
                                     for channel, c in sorted(per_hour.items())]).update_layout(barmode="stack"),
                          "Orders per channel per hour"))

    first: dict[str, datetime] = {}
    reached: dict[str, list[float]] = defaultdict(list)
    late: dict[str, set[str]] = defaultdict(set)
    backordered: set[str] = set()
    for step in period.steps:
        start = first.setdefault(step["order_id"], step["occurred_at"])
        if step["status"] in STAGES:
            reached[step["status"]].append((step["occurred_at"] - start).total_seconds())
        if step["status"] == "backordered":
            backordered.add(step["order_id"])
        if step["code"] in LATE:
            late[step["code"]].add(step["order_id"])
    charts.append(_figure(go.Figure([go.Box(name=stage, y=reached[stage], boxpoints=False) for stage in STAGES
                                     if reached[stage]]).update_yaxes(title="seconds from placement"),
                          "Time from placement to each stage"))

    statuses = Counter(row["status"] for row in period.orders)
    filled = len(period.orders) - len(backordered)
    charts.append(_figure(go.Figure([go.Bar(x=list(statuses), y=list(statuses.values()), name="orders now")]),
                          f"Orders per status now; fill rate {filled / max(len(period.orders), 1):.0%} "
                          f"({len(backordered)} ever backordered)"))

    per_order: dict[str, list[asyncpg.Record]] = defaultdict(list)
    cost_by: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in period.shipments:
        per_order[s["order_id"]].append(s)
        origin = network.location(s["location_id"]).country if any(
            loc.id == s["location_id"] for loc in network.locations) else ""
        rate, _ = shipment_cost(network.carriers, origin, s["country"] or "", s["service_level"])
        cost_by[(s["location_id"], s["carrier_id"] or "no carrier")].append(rate)
    split = sum(1 for shipments in per_order.values() if len(shipments) > 1)
    total_cost = sum(cost for costs in cost_by.values() for cost in costs)
    charts.append(_figure(go.Figure([go.Bar(x=[f"{loc} / {carrier}" for loc, carrier in cost_by],
                                            y=[sum(c) for c in cost_by.values()], name="shipping cost"),
                                     go.Bar(x=[f"{loc} / {carrier}" for loc, carrier in cost_by],
                                            y=[sum(c) / len(c) for c in cost_by.values()], name="per shipment")]),
                          f"Shipping cost per location and carrier; {total_cost / max(len(per_order), 1):.2f} "
                          f"per order, split rate {split / max(len(per_order), 1):.0%}"))

    shipped_orders = {s["order_id"] for s in period.shipments}
    on_time = {code: 1 - len(late[code] & shipped_orders) / max(len(shipped_orders), 1) for code in LATE}
    charts.append(_figure(go.Figure([go.Bar(x=["shipped on time", "delivered on time"],
                                            y=[on_time["late_to_ship"], on_time["late_delivery"]])])
                          .update_yaxes(tickformat=".0%", range=[0, 1]), "On-time shares"))

    requests: Counter[str] = Counter(f["location_id"] for f in period.fulfillments)
    rejected = Counter(f["location_id"] for f in period.fulfillments if f["status"] in ("rejected", "timed_out"))
    qc = Counter({loc: sum(f["qc_failures"] for f in period.fulfillments if f["location_id"] == loc)
                  for loc in requests})
    locations = sorted(requests)
    charts.append(_figure(go.Figure([
        go.Bar(name="requests", x=locations, y=[requests[loc] for loc in locations]),
        go.Bar(name="rejected or timed out", x=locations, y=[rejected[loc] for loc in locations]),
        go.Bar(name="QC failures", x=locations, y=[qc[loc] for loc in locations])]),
        "Partner scorecards: requests, rejections and QC failures per location"))
    charts.append(carrier_scorecards(period))

    condition: dict[str, Counter[str]] = defaultdict(Counter)
    for r in period.returns:
        for line in orjson.loads(r["received"] or "[]"):
            condition[r["location_id"]][line["condition"]] += line["quantity"]
    charts.append(_figure(go.Figure([go.Bar(name=kind, x=sorted(condition),
                                            y=[condition[loc][kind] for loc in sorted(condition)])
                                     for kind in ("resellable", "damaged")]).update_layout(barmode="stack"),
                          "Returns received per location, by condition"))

    reasons = Counter(row["reason"] or "no reason given" for row in period.asked).most_common(10)
    charts.append(_figure(go.Figure([go.Bar(x=[n for _, n in reasons], y=[reason for reason, _ in reasons],
                                            orientation="h")]).update_yaxes(autorange="reversed"),
                          f"Returns by the customer's reason ({len(period.asked)} asked for)"))

    names = [f"{row['channel']} ({row['currency']})" for row in period.money]
    charts.append(_figure(go.Figure([
        go.Bar(name="captured", x=names, y=[float(row["captured"]) for row in period.money]),
        go.Bar(name="refunded", x=names, y=[float(row["refunded"]) for row in period.money]),
        go.Bar(name="net", x=names, y=[float(row["captured"] - row["refunded"]) for row in period.money])]),
        "Money per channel: captured (invoices), refunded (credit notes) and the net"))
    charts += scheduling(period, network)
    return charts


def scheduling(period: Period, network: Network) -> list[go.Figure]:
    """Delivery windows given per carrier, zone and day against their capacity (with the quotes not kept and the
    orders held for a full window), and the carriers' pickups confirmed and missed per location."""
    capacity = {(c.id, z.zone): z.capacity for c in network.carriers for z in c.slots}
    given: Counter[str] = Counter()
    room: Counter[str] = Counter()
    for row in period.slots:
        day = f"{row['carrier_id']} {row['zone']} {row['starts_at']:%a %d %b}"
        given[day] += row["claimed"]
        room[day] += capacity.get((row["carrier_id"], row["zone"]), 0)
    codes = Counter(step["code"] for step in period.steps if step["code"])
    days = sorted(given)
    windows = _figure(go.Figure([go.Bar(name="deliveries given", x=days, y=[given[d] for d in days]),
                                 go.Bar(name="capacity of the windows used", x=days, y=[room[d] for d in days])]),
                      f"Delivery windows per carrier, zone and day; quotes changed {codes['quote_changed']}, "
                      f"expired {codes['quote_expired']}; orders held for a full window {codes['slot_full']}")
    answered: dict[str, Counter[str]] = defaultdict(Counter)
    for row in period.pickups:
        answered[row["status"]][f"{row['location_id']} / {row['carrier_id']}"] += 1
    places = sorted({place for counts in answered.values() for place in counts})
    pickups = _figure(go.Figure([go.Bar(name=status, x=places, y=[answered[status][p] for p in places])
                                 for status in ("confirmed", "missed", "requested")]).update_layout(barmode="stack"),
                      "Carrier pickups per location and carrier: confirmed, missed, not answered yet")
    return [windows, pickups, in_transit(period)]


def in_transit(period: Period) -> go.Figure:
    """Per destination: units on their way from another location (shipped, not yet received), received, and short
    of what was shipped; per source: units held back for a transfer not yet shipped."""
    units: dict[str, Counter[str]] = defaultdict(Counter)
    for row in period.transfers:
        if row["status"] == "requested":
            units["held back at the source"][row["from_location_id"]] += row["quantity"]
        elif row["status"] == "shipped":
            units["in transit to"][row["to_location_id"]] += row["shipped"] or 0
        elif row["status"] == "received":
            units["received"][row["to_location_id"]] += row["received"] or 0
            units["short on arrival"][row["to_location_id"]] += (row["shipped"] or 0) - (row["received"] or 0)
    places = sorted({place for counts in units.values() for place in counts})
    return _figure(go.Figure([go.Bar(name=what, x=places, y=[units[what][p] for p in places])
                              for what in ("held back at the source", "in transit to", "received",
                                           "short on arrival")]),
                   f"Stock in transit between locations: {len(period.transfers)} transfers")


def carrier_scorecards(period: Period) -> go.Figure:
    """Per carrier: booking requests, those refused or left unanswered (the shipment went on to another), shipments
    with an exception, and the share of its deliveries made by the promise."""
    asked: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for s in period.shipments:
        for carrier in s["tried_carriers"] or []:
            asked[carrier] += 1
            refused[carrier] += carrier != s["carrier_id"] or s["status"] == "booking_failed"
    exceptions = Counter(s["carrier_id"] for s in period.shipments if s["exceptions"])
    judged: dict[str, list[bool]] = defaultdict(list)
    for s in period.shipments:
        if s["delivered_on_time"] is not None:
            judged[s["carrier_id"]].append(s["delivered_on_time"])
    carriers = sorted(asked)
    return _figure(go.Figure([
        go.Bar(name="booking requests", x=carriers, y=[asked[c] for c in carriers]),
        go.Bar(name="refused or unanswered", x=carriers, y=[refused[c] for c in carriers]),
        go.Bar(name="shipments with an exception", x=carriers, y=[exceptions[c] for c in carriers]),
        go.Scatter(name="delivered on time", x=carriers, yaxis="y2", mode="markers", marker={"size": 12},
                   y=[sum(judged[c]) / len(judged[c]) if judged[c] else None for c in carriers])]).update_layout(
        yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.05], "tickformat": ".0%"}),
        "Partner scorecards: carriers")


def render(period: Period, network: Network) -> str:
    charts = figures(period, network)
    parts = [to_html(fig, full_html=False, include_plotlyjs=(n == 0), default_width="100%")
             for n, fig in enumerate(charts)]
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>OMS report since "
            f"{html.escape(f'{period.since:%Y-%m-%d %H:%M}')}</title><meta name=viewport content='width=device-width'>"
            "<style>body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:1100px;color:#1d2330}"
            ".chart{margin:0 0 1rem}</style></head><body>"
            f"<h1>OMS report</h1><p>{len(period.orders)} orders placed since {period.since:%Y-%m-%d %H:%M %Z}.</p>"
            + "".join(f"<div class=chart>{part}</div>" for part in parts) + "</body></html>")


def write(settings: Settings, since: datetime, path: Path) -> Path:
    period = asyncio.run(gather(settings, since))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(period, load_network(settings.network_file)))
    return path

