"""Routing that learns on the real stack: a 3PL that starts rejecting half its requests gets less of the new work
within seconds (its scorecard, published by fulfillment, weighs in inventory's allocation), and gets it back once
its failures have aged out of the window; every decision is recorded with the plans not taken."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import orjson
import pytest

from contracts.channels import order_id_for
from contracts.partners import FulfillmentAccepted, FulfillmentPacked, FulfillmentPicked, FulfillmentRejected, Parcel
from oms_cli import report, whatif
from rules.network import load_network
from runtime.settings import REPO_ROOT, get_settings
from tests.conftest import LOGS
from tests.e2e.conftest import FAST_NETWORK, everyone_but
from tests.support.browser import render
from tests.support.cli import oms_cli
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e


class Berlin:
    """Plays 3pl-berlin: rejects every other request while `failing`, carries out the rest."""

    def __init__(self, partner: PlayedPartner) -> None:
        self.partner, self.failing, self.answered = partner, True, set[str]()
        self.rejected = 0

    async def unanswered(self) -> list[dict]:
        return [r for r in self.partner.requests(kind="fulfillment.requested")
                if r["fulfillment_id"] not in self.answered]

    async def run(self) -> None:
        n = 0
        while True:  # each new request as it comes (the wait has no end: the test cancels the player)
            await eventually(self.unanswered, bool, "a request to Berlin", timeout=3600, interval=0.05)
            for request in self.partner.requests(kind="fulfillment.requested"):
                fid = request["fulfillment_id"]
                if fid in self.answered:
                    continue
                self.answered.add(fid)
                n += 1
                if self.failing and n % 2 == 0:
                    self.rejected += 1
                    await self.partner.answer(request["order_id"], FulfillmentRejected(fulfillment_id=fid,
                                                                                      reason="no staff today"))
                    continue
                for update in (FulfillmentAccepted(fulfillment_id=fid), FulfillmentPicked(fulfillment_id=fid),
                               FulfillmentPacked(fulfillment_id=fid, parcels=[Parcel(parcel_id="p", weight_grams=900)])):
                    await self.partner.answer(request["order_id"], update)


async def first_location(oms, orders: list[dict]) -> dict[str, str]:
    """Where each order was first allocated, from the decisions inventory recorded."""
    ids = {order_id_for(o["channel"], o["external_id"]): o["external_id"] for o in orders}
    rows = await oms.inventory.fetch("SELECT DISTINCT ON (order_id) order_id, plan FROM allocation_decisions "
                                     "WHERE order_id = ANY($1::text[]) ORDER BY order_id, id", list(ids))
    return {ids[r["order_id"]]: orjson.loads(r["plan"])["plan"][0][0] for r in rows}


async def failure_rate(oms) -> float:
    found = await oms.inventory.fetchval("SELECT failure_rate FROM partner_scores WHERE partner_id = '3pl-berlin'")
    return float(found or 0.0)


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"), OMS_SCORE_WINDOW_S="25",
                     OMS_SCORE_INTERVAL_S="1")
async def test_a_3pl_that_starts_rejecting_half_its_requests_gets_less_work_then_gets_it_back(oms):
    await oms.stock({"LAMP": {"3pl-berlin": 300, "store-munich": 300}})  # to Munich's postal code Berlin is nearer
    started = datetime.now(UTC)
    berlin = Berlin(await PlayedPartner("warehouse", "3pl-berlin").start())
    playing = asyncio.create_task(berlin.run())
    try:
        async def placed(first: int, count: int) -> list[dict]:
            orders = [oms.order(first + n, {"LAMP": 1}, channel="web") for n in range(count)]
            await oms.send(*orders)
            await eventually(lambda: first_location(oms, orders), lambda found: len(found) == count,
                             f"orders {first}.. allocated")
            return orders

        before = await first_location(oms, await placed(1, 10))
        assert set(before.values()) == {"3pl-berlin"}, before
        await eventually(lambda: failure_rate(oms), lambda rate: rate >= 0.3, "Berlin's scorecard told to inventory",
                         timeout=30)
        cards = await oms_cli("scorecards")
        assert "3pl-berlin" in cards and "location" in cards, cards
        failing = await first_location(oms, await placed(20, 10))
        at_berlin = sum(loc == "3pl-berlin" for loc in failing.values())
        assert at_berlin <= 1, f"the failing 3PL still got {at_berlin} of 10: {failing}"

        berlin.failing = False
        await eventually(lambda: failure_rate(oms), lambda rate: rate < 0.2, "Berlin's failures aged out", timeout=90)
        recovered = await first_location(oms, await placed(40, 10))
        assert sum(loc == "3pl-berlin" for loc in recovered.values()) >= 9, recovered
        assert berlin.rejected >= 4

        passed_over = order_id_for("web", oms.order(20, {"LAMP": 1})["external_id"])
        decision = await oms.inventory.fetchrow("SELECT chosen, alternatives FROM allocation_decisions "
                                                "WHERE order_id = $1 ORDER BY id LIMIT 1", passed_over)
        assert decision["chosen"].startswith("store-munich")
        [not_taken] = [a for a in orjson.loads(decision["alternatives"]) if a["plan"][0][0] == "3pl-berlin"]
        assert not_taken["parts"]["reliability"] > 0, "the plan not taken says what it lost on"
        shown = await oms_cli("order", passed_over)
        assert "allocated" in shown and "store-munich (1 x " in shown
        assert "not taken: 3pl-berlin (1 x " in shown and "reliability" in shown, shown[-1500:]

        replayed = await asyncio.to_thread(whatif.run, get_settings(), started, load_network(FAST_NETWORK))
        assert replayed.live.orders >= 30 and replayed.differ == 0, "the same rules decide the same again"
        assert replayed.replayed.load == replayed.live.load
        cost_aware = await asyncio.to_thread(whatif.run, get_settings(), started, whatif.rules_from(
            REPO_ROOT / "config" / "routing-cost.toml", load_network(FAST_NETWORK)))
        assert cost_aware.live.orders == replayed.live.orders, "another rule, the same decisions to replay"
    finally:
        playing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await playing
        await berlin.partner.stop()


async def test_the_report_of_a_run_renders_in_a_browser_with_every_chart(oms, request):
    await oms.stock({"SHELF": {"dc-rotterdam": 50, "3pl-berlin": 50}})
    started = datetime.now(UTC)
    orders = [oms.order(n, {"SHELF": 1 + n % 2}) for n in range(12)]
    watch = await oms.watch()
    try:
        await oms.send(*orders)

        async def delivered() -> int:
            return sum(1 for e in watch.latest().values() if e["status"] == "delivered")
        await eventually(delivered, lambda n: n == len(orders), "the run delivered", timeout=120)
    finally:
        await watch.stop()
    path = await asyncio.to_thread(report.write, get_settings(), started, LOGS / request.node.name / "report.html")
    dom = await render(path.as_uri(), LOGS / request.node.name / "report.png", budget_ms=8000,
                       window="1100,3600")
    assert dom.count('class="main-svg"') >= 9 * 2, "every chart drawn (Plotly draws two layers each)"
    assert "12 orders placed since" in dom
    assert (LOGS / request.node.name / "report.png").stat().st_size > 20_000
