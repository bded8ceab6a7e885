"""The desk's requests on the real stack, sent with the operators' command line (`oms hold request`, `oms note`,
`oms move`) as the operators' principal: a hold that keeps a waiting order from moving on until an operator
releases it, a note in its timeline, and a fulfillment moved to another location before its own started, each
naming who asked."""

from __future__ import annotations

import pytest

from contracts.partners import FulfillmentCancelled
from tests.e2e.conftest import everyone_but
from tests.e2e.test_when_things_go_wrong import oid, until_status
from tests.support.cli import oms_cli
from tests.support.partners import PlayedPartner

pytestmark = pytest.mark.e2e


def ref(order: dict) -> str:
    return f"{order['channel']}:{order['external_id']}"


async def test_an_agents_hold_and_note_show_in_the_timeline_and_the_order_waits_for_the_release(oms):
    await oms.stock({"HELD": {"3pl-berlin": 0}})
    watch = await oms.watch()
    try:
        order = oms.order(1, {"HELD": 1})
        await oms.send(order)
        await until_status(watch, order, "backordered")
        await oms_cli("hold", "request", ref(order), "--reason", "customer asked to wait for a callback",
                      "--operator", "alice")
        await oms_cli("note", ref(order), "customer will call back on Monday", "--operator", "alice")
        await until_status(watch, order, "on_hold")
        said = [e["reason"] for e in watch.events[oid(order)] if e["status"] == "on_hold"]
        assert {"code": "held", "message": "alice: customer asked to wait for a callback"} in said, said

        await oms.adjust({"type": "stock.adjusted", "sku": f"{oms.run}-HELD", "location_id": "3pl-berlin", "delta": 3})
        await oms.send(oms.request("order.hold_released", order, reason="called back"))
        await until_status(watch, order, "delivered", timeout=90)
        codes = [(e["status"], (e.get("reason") or {}).get("code")) for e in watch.events[oid(order)]]
        assert ("on_hold", "note") in codes and ("on_hold", "held") in codes, codes
        assert codes.index(("on_hold", "held")) < [c for c, _ in codes].index("delivered")
    finally:
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_a_fulfillment_moved_before_its_location_started_is_delivered_from_the_new_one(oms):
    await oms.stock({"MOVE": {"3pl-berlin": 2, "store-munich": 4}})  # Berlin first for a customer in Munich; the
    # store keeps 2 back (its safety stock)
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        order = oms.order(2, {"MOVE": 1})
        await oms.send(order)
        asked = await berlin.wait_for(oid(order), "fulfillment.requested")
        await oms_cli("move", ref(order), asked["fulfillment_id"], "--to", "store-munich", "--operator", "bob")
        await berlin.wait_for(oid(order), "fulfillment.cancel_requested")
        await berlin.answer(oid(order), FulfillmentCancelled(fulfillment_id=asked["fulfillment_id"]))
        done = await until_status(watch, order, "delivered", timeout=90)
        assert [s["location_id"] for s in done["shipments"] if s["status"] == "delivered"] == ["store-munich"]
        said = [(e.get("reason") or {}).get("code") for e in watch.events[oid(order)]]
        assert "move_requested" in said and "moved" in said, said
        asked_by = next(e["reason"]["message"] for e in watch.events[oid(order)]
                        if (e.get("reason") or {}).get("code") == "move_requested")
        assert asked_by.startswith("bob: move to store-munich"), asked_by
    finally:
        await watch.stop()
        await berlin.stop()
