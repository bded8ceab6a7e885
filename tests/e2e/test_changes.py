"""Partial cancels and changes on the real stack: some lines cancelled at the warehouse (or refused by it), a
backordered order made smaller, a new address told to the warehouse, a change refused once it is too late; each
message handled once however often it arrives."""

from __future__ import annotations

import uuid

import pytest

from contracts.base import SkuQuantity
from contracts.partners import (
    FulfillmentAccepted,
    FulfillmentCancelled,
    FulfillmentCancelRefused,
    FulfillmentPacked,
    FulfillmentPicked,
    Parcel,
)
from tests.e2e.conftest import everyone_but
from tests.e2e.test_when_things_go_wrong import oid, reasons, until_status
from tests.support.checks import event_problems, stock_levels, stock_problems
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e


def cancel_lines(order: dict, run: str, lines: dict[str, int]) -> dict:
    return {"type": "order.cancel_requested", "id": str(uuid.uuid4()), "channel": order["channel"],
            "external_id": order["external_id"], "reason": "changed mind",
            "lines": [{"sku": f"{run}-{name}", "quantity": qty} for name, qty in lines.items()]}


def change(order: dict, **fields: object) -> dict:
    return {"type": "order.change_requested", "id": str(uuid.uuid4()), "channel": order["channel"],
            "external_id": order["external_id"], **fields}


async def next_reason(watch, order: dict, count_before: int, code: str) -> None:
    async def seen() -> list[str]:
        return reasons(watch, order)
    await eventually(seen, lambda found: len(found) > count_before and code in found[count_before:],
                     f"{order['external_id']}: {code}")


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_lines_cancelled_or_refused_at_the_warehouse_and_a_new_address_before_booking(oms):
    await oms.stock({"KEEP": {"3pl-berlin": 10}, "DROP": {"3pl-berlin": 10}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    order = oms.order(1, {"KEEP": 2, "DROP": 1})
    watch = await oms.watch()
    try:
        await oms.send(order)
        request = await berlin.wait_for(oid(order), "fulfillment.requested")
        fid = request["fulfillment_id"]

        first = cancel_lines(order, oms.run, {"DROP": 1})
        await oms.send(first, first)  # the same message twice: handled once
        asked = await berlin.wait_for(oid(order), "fulfillment.cancel_requested")
        assert [(x["sku"], x["quantity"]) for x in asked["lines"]] == [(f"{oms.run}-DROP", 1)]
        await berlin.answer(oid(order), FulfillmentCancelled(fulfillment_id=fid, lines=[
            SkuQuantity(sku=f"{oms.run}-DROP", quantity=1)]))
        await next_reason(watch, order, 0, "lines_cancelled")

        async def refunds() -> list[dict]:
            return [r for r in watch.refunds if r["order_id"] == oid(order)]
        [refund] = await eventually(refunds, lambda found: len(found) == 1, "the refund of the cancelled line")
        assert (refund["amount"], refund["reason"], refund["return_id"]) == ("10.00", "cancelled", None)
        async def reserved() -> tuple[int, ...]:
            levels = await stock_levels(oms.inventory, oms.run)
            return tuple(levels[(f"{oms.run}-{name}", "3pl-berlin")]["reserved"] for name in ("DROP", "KEEP"))
        await eventually(reserved, lambda found: found == (0, 2), "the cancelled unit given back, the rest held")

        before = len(reasons(watch, order))
        await oms.send(cancel_lines(order, oms.run, {"KEEP": 1}))
        await berlin.wait_for(oid(order), "fulfillment.cancel_requested", count=2)
        await berlin.answer(oid(order), FulfillmentCancelRefused(fulfillment_id=fid, reason="already picked"))
        await next_reason(watch, order, before, "cancel_refused")

        address = {**order["shipping_address"], "line1": "7 New Street", "city": "Hamburg", "postal_code": "20095"}
        await oms.send(change(order, shipping_address=address, shipping_speed="express"))
        told = await berlin.wait_for(oid(order), "fulfillment.changed")
        assert (told["ship_to"]["line1"], told["service_level"]) == ("7 New Street", "express")

        for update in (FulfillmentAccepted(fulfillment_id=fid), FulfillmentPicked(fulfillment_id=fid),
                       FulfillmentPacked(fulfillment_id=fid, parcels=[Parcel(parcel_id="p1", weight_grams=900)])):
            await berlin.answer(oid(order), update)
        final = await until_status(watch, order, "delivered", timeout=90)
        assert [(x["sku"], x["quantity"]) for s in final["shipments"] for x in s["lines"]] == [(f"{oms.run}-KEEP", 2)]
        saga = await oms.orders_db.fetchval("SELECT saga::jsonb->'ship_to'->>'line1' FROM orders WHERE order_id = $1",
                                            oid(order))
        assert saga == "7 New Street", "the carrier was booked to the new address"

        before = len(reasons(watch, order))
        await oms.send(change(order, shipping_speed="standard"))
        await next_reason(watch, order, before, "change_refused")
        assert await stock_problems(oms.inventory, oms.run) == []
        assert event_problems(dict(watch.events)) == []
        assert len([r for r in watch.refunds if r["order_id"] == oid(order)]) == 1
    finally:
        await berlin.stop()
        await watch.stop()


async def test_a_backordered_order_made_smaller_is_served_with_what_is_left(oms):
    await oms.stock({"SHORT": {"dc-rotterdam": 0}})
    order = oms.order(1, {"SHORT": 3})
    watch = await oms.watch()
    try:
        await oms.send(order)
        await until_status(watch, order, "backordered")
        await oms.send(cancel_lines(order, oms.run, {"SHORT": 2}))
        await next_reason(watch, order, 0, "lines_cancelled")
        await oms.adjust({"type": "stock.received", "sku": f"{oms.run}-SHORT", "location_id": "dc-rotterdam",
                          "quantity": 1})
        final = await until_status(watch, order, "delivered", timeout=90)
        assert [(x["sku"], x["quantity"]) for s in final["shipments"] for x in s["lines"]] == [(f"{oms.run}-SHORT", 1)]
        assert await oms.inventory.fetchval("SELECT count(*) FROM backorders WHERE order_id = $1", oid(order)) == 0
        assert await stock_problems(oms.inventory, oms.run) == []
        assert event_problems(dict(watch.events)) == []
    finally:
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("dc-rotterdam"))
async def test_a_new_address_before_the_hand_off_is_the_one_the_warehouse_gets_and_a_bad_one_holds_the_order(oms):
    await oms.stock({"WAIT": {"dc-rotterdam": 0}})
    rotterdam = await PlayedPartner("warehouse", "dc-rotterdam").start()
    order, other = oms.order(1, {"WAIT": 1}), oms.order(2, {"WAIT": 1})
    watch = await oms.watch()
    try:
        await oms.send(order, other)
        await until_status(watch, order, "backordered")
        await until_status(watch, other, "backordered")
        address = {**order["shipping_address"], "line1": "9 Canal Street", "city": "Amsterdam",
                   "postal_code": "1012 AB", "country": "NL"}
        await oms.send(change(order, shipping_address=address))
        await next_reason(watch, order, 0, "changed")
        await oms.send(change(other, shipping_address={**address, "postal_code": "??"}))
        held = await until_status(watch, other, "on_hold")
        assert held["reason"]["code"] == "address_incomplete"

        await oms.adjust({"type": "stock.received", "sku": f"{oms.run}-WAIT", "location_id": "dc-rotterdam",
                          "quantity": 2})
        request = await rotterdam.wait_for(oid(order), "fulfillment.requested")
        assert (request["ship_to"]["line1"], request["ship_to"]["country"]) == ("9 Canal Street", "NL")
        assert event_problems(dict(watch.events)) == []
    finally:
        await rotterdam.stop()
        await watch.stop()
