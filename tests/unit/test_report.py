"""`oms report` from a period's rows, without a server: every chart has data, and the file stands alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms_cli.report import Period, figures, render
from rules.network import load_network
from runtime.settings import get_settings

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def period() -> Period:
    orders, steps, shipments = [], [], []
    for n in range(20):
        order_id, channel = f"o{n}", ("web", "app", "marketplace:amazon")[n % 3]
        orders.append({"order_id": order_id, "channel": channel, "status": "delivered",
                       "created_at": T0 + timedelta(minutes=7 * n)})
        for k, status in enumerate(("received", "accepted", "reserved", "released", "shipped", "delivered")):
            steps.append({"order_id": order_id, "status": status, "code": "late_delivery" if n == 3 and k == 5
                          else None, "occurred_at": T0 + timedelta(minutes=7 * n, seconds=k * 2)})
        refused = n % 5 == 0  # ups refused these, dhl took them
        shipments.append({"order_id": order_id, "location_id": "3pl-berlin" if n % 2 else "dc-rotterdam",
                          "carrier_id": "dhl", "service_level": "standard", "country": "DE", "status": "delivered",
                          "tried_carriers": ["ups", "dhl"] if refused else ["dhl"], "exceptions": int(n == 7),
                          "delivered_on_time": n != 3})
    steps.insert(3, {"order_id": "o0", "status": "backordered", "code": None, "occurred_at": T0})
    fulfillments = [{"location_id": "3pl-berlin", "status": "rejected" if n < 3 else "shipped", "qc_failures": n % 4 == 0}
                    for n in range(10)]
    returns = [{"location_id": "store-munich", "received": '[{"sku": "A", "quantity": 2, "condition": "resellable"}]'}]
    asked = [{"reason": "too small"}, {"reason": "too small"}, {"reason": None}]
    money = [{"channel": "web", "currency": "EUR", "captured": Decimal("602.94"), "refunded": Decimal("199.64")}]
    steps.append({"order_id": "o1", "status": "reserved", "code": "quote_changed", "occurred_at": T0})
    pickups = [{"location_id": "3pl-berlin", "carrier_id": "postnl", "status": status, "at": T0}
               for status in ("confirmed", "confirmed", "missed")]
    slots = [{"carrier_id": "postnl", "zone": "de", "starts_at": T0 + timedelta(days=1, hours=h), "claimed": n}
             for h, n in ((0, 20), (2, 5))]
    transfers = [{"from_location_id": "dc-rotterdam", "to_location_id": "store-munich", "status": status,
                  "quantity": 6, "shipped": shipped, "received": received}
                 for status, shipped, received in (("requested", None, None), ("shipped", 6, None),
                                                   ("received", 6, 5))]
    return Period(T0, orders, steps, shipments, fulfillments, returns, asked, money,  # type: ignore[arg-type]
                  pickups, slots, transfers)  # type: ignore[arg-type]


def test_every_chart_has_data_and_says_its_numbers():
    charts = figures(period(), load_network(get_settings().network_file))
    assert len(charts) == 13
    for chart in charts:
        assert any(len(trace.y) for trace in chart.data), chart.layout.title.text
    titles = [c.layout.title.text for c in charts]
    assert "fill rate 95% (1 ever backordered)" in titles[2]
    assert "split rate 0%" in titles[3]
    delivered = charts[4].data[0].y
    assert delivered[0] == 1.0 and delivered[1] == pytest.approx(0.95)
    carriers = {trace.name: dict(zip(trace.x, trace.y, strict=True)) for trace in charts[6].data}
    assert carriers["booking requests"] == {"dhl": 20, "ups": 4} and carriers["refused or unanswered"]["ups"] == 4
    assert carriers["shipments with an exception"]["dhl"] == 1
    assert carriers["delivered on time"]["dhl"] == pytest.approx(0.95)
    assert list(charts[8].data[0].y) == ["too small", "no reason given"] and list(charts[8].data[0].x) == [2, 1]
    money = {trace.name: dict(zip(trace.x, trace.y, strict=True)) for trace in charts[9].data}
    assert money["net"] == {"web (EUR)": pytest.approx(403.30)}
    windows = {trace.name: list(trace.y) for trace in charts[10].data}
    assert windows == {"deliveries given": [25], "capacity of the windows used": [40]}
    assert "quotes changed 1, expired 0" in titles[10]
    pickups = {trace.name: list(trace.y) for trace in charts[11].data}
    assert (pickups["confirmed"], pickups["missed"]) == ([2], [1])
    moving = {trace.name: dict(zip(trace.x, trace.y, strict=True)) for trace in charts[12].data}
    assert moving["held back at the source"] == {"dc-rotterdam": 6, "store-munich": 0}
    assert moving["in transit to"]["store-munich"] == 6 and moving["short on arrival"]["store-munich"] == 1


def test_the_report_is_one_file_with_its_javascript_inlined_once():
    text = render(period(), load_network(get_settings().network_file))
    assert text.startswith("<!doctype html>") and text.count("Plotly.newPlot") == 13
    assert re.findall(r"<script[^>]*\bsrc=", text) == [], "no script from elsewhere: the file opens offline"
    assert text.count("plotly.js v") == 1, "Plotly's JavaScript once"
