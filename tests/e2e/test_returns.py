"""Returns on the real stack: a web order sent back to a store goes back on that store's shelf and serves a waiting
order from it; returns in parts, damaged units, refusals; one refund and one notice per return."""

from __future__ import annotations

import uuid

import pytest

from contracts.partners import ReturnedLine, ReturnReceived
from oms_cli.queries import orders as orders_read
from runtime.settings import get_settings
from tests.e2e.conftest import everyone_but
from tests.e2e.test_when_things_go_wrong import oid, reasons, status_of_reason, until_status
from tests.support.checks import event_problems, stock_levels, stock_problems
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e


def returning(order: dict, location: str, lines: dict[str, int], run: str) -> dict:
    return {"type": "order.return_requested", "id": str(uuid.uuid4()), "channel": order["channel"],
            "external_id": order["external_id"], "return_location_id": location, "reason": "too small",
            "lines": [{"sku": f"{run}-{name}", "quantity": qty} for name, qty in lines.items()]}


async def refunds_of(watch, order: dict, count: int) -> list[dict]:
    async def seen() -> list[dict]:
        return [r for r in watch.refunds if r["order_id"] == oid(order)]
    return await eventually(seen, lambda found: len(found) >= count, f"{count} refund(s) for {order['external_id']}")


@pytest.mark.oms_env(OMS_SIM_DAMAGED_RATE="0")
async def test_a_web_order_returned_in_a_store_is_restocked_there_and_serves_a_backorder(oms):
    await oms.stock({"RET": {"store-paris": 5}})  # 2 of them the store's safety stock: 3 to sell
    first, waiting = oms.order(1, {"RET": 3}, channel="web"), oms.order(2, {"RET": 1})
    watch = await oms.watch()
    try:
        await oms.send(first)
        await until_status(watch, first, "delivered", timeout=90)
        await oms.send(waiting)
        await until_status(watch, waiting, "backordered")

        await oms.send(returning(first, "store-paris", {"RET": 3}, oms.run))
        final = await until_status(watch, first, "returned", timeout=90)
        [returned] = final["returns"]
        assert (returned["location_id"], returned["status"]) == ("store-paris", "received")
        [refund] = await refunds_of(watch, first, 1)
        assert (refund["amount"], refund["return_id"], refund["currency"]) == ("30.00", returned["return_id"], "EUR")

        served = await until_status(watch, waiting, "delivered", timeout=90)
        assert [s["location_id"] for s in served["shipments"]] == ["store-paris"], "served from the returned units"
        async def on_hand() -> int:  # the second shipment's stock is committed just after its delivery is seen
            return (await stock_levels(oms.inventory, f"{oms.run}-RET"))[(f"{oms.run}-RET", "store-paris")]["on_hand"]
        await eventually(on_hand, lambda n: n == 4, "5 - 3 shipped + 3 back - 1 shipped on hand")
        assert await stock_problems(oms.inventory, oms.run) == []
        assert event_problems(dict(watch.events)) == []

        async def told() -> list[dict]:
            return [n for n in oms.sent_notifications() if n["order_id"] == oid(first) and n["kind"] == "return_received"]
        await eventually(told, lambda found: len(found) == 1, "the customer told the return arrived")
        assert len(watch.refunds) == len({r["return_id"] for r in watch.refunds}), "one refund per return"
    finally:
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("store-munich"), OMS_SIM_DAMAGED_RATE="0")
async def test_returns_in_parts_a_damaged_unit_written_off_and_what_is_refused(oms):
    await oms.stock({"PART": {"3pl-berlin": 10}})
    munich = await PlayedPartner("warehouse", "store-munich").start()
    order = oms.order(1, {"PART": 2})
    watch = await oms.watch()
    try:
        await oms.send(order)
        await until_status(watch, order, "delivered", timeout=90)

        await oms.send(returning(order, "store-munich", {"PART": 1}, oms.run))
        expected = await munich.wait_for(oid(order), "return.expected")
        await munich.answer(oid(order), ReturnReceived(return_id=expected["return_id"], lines=[
            ReturnedLine(sku=f"{oms.run}-PART", quantity=1, condition="damaged")]))
        await until_status(watch, order, "returned", timeout=60)

        async def ledger() -> list[tuple[str, int]]:  # inventory restocks just after the order shows it returned
            rows = await oms.inventory.fetch("SELECT kind, quantity FROM stock_ledger WHERE sku = $1 AND "
                                             "location_id = 'store-munich' ORDER BY id", f"{oms.run}-PART")
            return [(r["kind"], r["quantity"]) for r in rows]
        await eventually(ledger, lambda found: found == [("returned", 1), ("written_off", -1)],
                         "the damaged unit recorded as returned and written off")
        levels = await stock_levels(oms.inventory, f"{oms.run}-PART")
        assert levels[(f"{oms.run}-PART", "store-munich")]["on_hand"] == 0, "a damaged unit is not sold again"

        await oms.send(returning(order, "3pl-berlin", {"PART": 1}, oms.run))  # the second unit, another place
        await refunds_of(watch, order, 2)

        async def at_berlin() -> int:
            return (await stock_levels(oms.inventory, f"{oms.run}-PART"))[(f"{oms.run}-PART", "3pl-berlin")]["on_hand"]
        await eventually(at_berlin, lambda n: n == 9, "10 - 2 shipped + 1 back on hand")

        before = len(watch.events[oid(order)])
        await oms.send(returning(order, "3pl-berlin", {"PART": 1}, oms.run))  # nothing left to return
        await eventually(lambda: _count(watch, order), lambda n: n > before, "the refusal")
        assert reasons(watch, order)[-1] == "return_refused"
        assert watch.latest()[oid(order)]["status"] == "returned"
        refunds = [r for r in watch.refunds if r["order_id"] == oid(order)]
        assert sorted(r["amount"] for r in refunds) == ["10.00", "10.00"]
        assert len({r["return_id"] for r in refunds}) == 2
        listed = [r for r in await orders_read.returns(get_settings(), open_only=False)
                  if r["external_id"] == order["external_id"]]  # what `oms returns --all` shows
        assert sorted((r["location_id"], r["return_status"]) for r in listed) == \
            [("3pl-berlin", "received"), ("store-munich", "received")]
        assert not [r for r in await orders_read.returns(get_settings(), open_only=True)
                    if r["external_id"] == order["external_id"]], "none still open"
        assert await stock_problems(oms.inventory, oms.run) == []
        assert event_problems(dict(watch.events)) == []
    finally:
        await munich.stop()
        await watch.stop()


async def _count(watch, order: dict) -> int:
    return len(watch.events[oid(order)])


@pytest.mark.oms_env(OMS_SIM_DAMAGED_RATE="0")
async def test_an_exchange_becomes_a_new_order_that_is_delivered_and_nothing_is_refunded(oms):
    await oms.stock({"SMALL": {"3pl-berlin": 5}, "LARGE": {"3pl-berlin": 5}})
    order = oms.order(1, {"SMALL": 1, "LARGE": 1})  # both at 10.00: the small one is exchanged for a large one
    watch = await oms.watch()
    try:
        await oms.send(order)
        await until_status(watch, order, "delivered", timeout=90)
        unknown = {**returning(order, "3pl-berlin", {"SMALL": 1}, oms.run), "reason": "exchange",
                   "replacement_lines": [{"sku": f"{oms.run}-NOWHERE", "quantity": 1}]}
        await oms.send(unknown)
        refused = await eventually(lambda: status_of_reason(watch, order, "return_refused"), bool,
                                   "an exchange for a SKU the order never had refused")
        assert refused is not None and "not bought in this order" in refused["reason"]["message"]
        exchange = {**returning(order, "3pl-berlin", {"SMALL": 1}, oms.run), "reason": "exchange",
                    "replacement_lines": [{"sku": f"{oms.run}-LARGE", "quantity": 1}]}
        await oms.send(exchange)
        final = await until_status(watch, order, "returned", timeout=90)
        new_order = {"channel": order["channel"], "external_id": final["returns"][0]["exchange_external_id"]}
        assert new_order["external_id"] == f"{order['external_id']}-X1"
        placed = await until_status(watch, new_order, "delivered", timeout=90)
        assert [(x["sku"], x["quantity"]) for s in placed["shipments"] for x in s["lines"]] == [(f"{oms.run}-LARGE", 1)]
        assert [r for r in watch.refunds if r["order_id"] in (oid(order), oid(new_order))] == []

        async def confirmed() -> list[dict]:
            return [n for n in oms.sent_notifications() if n["order_id"] == oid(new_order) and n["kind"] == "confirmation"]
        await eventually(confirmed, lambda found: len(found) == 1, "the customer told of the exchange order")
        assert await stock_problems(oms.inventory, oms.run) == []
        assert event_problems(dict(watch.events)) == []
    finally:
        await watch.stop()
