"""When things go wrong: every scenario on the real stack, the partner in question played by the test itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from contracts import topics
from contracts.partners import (
    FulfillmentAccepted,
    FulfillmentCancelled,
    FulfillmentPacked,
    FulfillmentPicked,
    FulfillmentQcFailed,
    FulfillmentRejected,
    Parcel,
    ShipmentBooked,
    ShipmentBookingFailed,
    ShipmentDelivered,
    ShipmentException,
    ShipmentPickedUp,
)
from order_service.domain import order_id_for
from runtime.security import principal
from runtime.settings import get_settings
from tests.e2e.conftest import SILENT, everyone_but
from tests.support.checks import event_problems, stock_levels, stock_problems
from tests.support.kafka import Producer
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

PARCELS = [Parcel(parcel_id="p1", weight_grams=900)]


def oid(order: dict) -> str:
    return order_id_for(order["channel"], order["external_id"])


async def status_of(watch, order: dict) -> str | None:
    event = watch.latest().get(oid(order))
    return event["status"] if event else None


async def until_status(watch, order: dict, status: str, timeout: float = 60) -> dict:
    async def latest() -> dict:
        return watch.latest().get(oid(order)) or {}
    return await eventually(latest, lambda e: e.get("status") == status,
                            f"{order['external_id']} {status}", timeout=timeout)


def reached(watch, order: dict, status: str) -> dict:
    """The order's first event with `status` ({} before there is one), whatever came after it."""
    return next((e for e in watch.events.get(oid(order), []) if e["status"] == status), {})


async def until_reached(watch, order: dict, status: str, timeout: float = 60) -> dict:
    """The order's first event with `status`, once there is one: an order may go on at once (its partners
    simulated), so a status it passes through is waited for in its history, never as its latest."""
    async def first() -> dict:
        return reached(watch, order, status)
    return await eventually(first, bool, f"{order['external_id']} {status}", timeout=timeout)


async def status_of_reason(watch, order: dict, code: str) -> dict | None:
    """The order's latest event with this reason code, if there is one."""
    return next((e for e in reversed(watch.events.get(oid(order), [])) if (e.get("reason") or {}).get("code") == code),
                None)


def reasons(watch, order: dict) -> list[str]:
    return [e["reason"]["code"] for e in watch.events.get(oid(order), []) if e.get("reason")]


async def reserved_at(oms, sku: str, location: str) -> int:
    levels = await stock_levels(oms.inventory, f"{oms.run}-{sku}")
    return levels[(f"{oms.run}-{sku}", location)]["reserved"]


async def test_race_for_the_last_units_then_backorders_served_oldest_first(oms):
    """Scenarios 12 and 1: exactly as many reserved as stock allows; stock arriving serves the oldest backorders."""
    await oms.stock({"LAST": {"dc-rotterdam": 5}})
    orders = [oms.order(n, {"LAST": 1}) for n in range(1, 31)]
    watch = await oms.watch()
    try:
        await oms.send(*orders)

        async def settled() -> dict:
            return {o["external_id"]: await status_of(watch, o) for o in orders}
        done = await eventually(settled, lambda s: all(v in ("delivered", "backordered") for v in s.values()),
                                "every order delivered or backordered", timeout=120)
        assert sorted(done.values()).count("delivered") == 5
        assert sorted(done.values()).count("backordered") == 25
        assert await stock_problems(oms.inventory, oms.run) == []

        waiting = [r["order_id"] for r in await oms.inventory.fetch(
            "SELECT order_id FROM backorders WHERE command->'lines'->0->>'sku' = $1 ORDER BY created_at",
            f"{oms.run}-LAST")]
        assert len(waiting) == 25
        sku = f"{oms.run}-LAST"
        await oms.adjust({"type": "stock.inbound_expected", "sku": sku, "location_id": "dc-rotterdam", "quantity": 10,
                          "eta": (datetime.now(UTC) + timedelta(days=2)).isoformat()})
        await oms.adjust({"type": "stock.received", "sku": sku, "location_id": "dc-rotterdam", "quantity": 10})

        async def delivered() -> set[str]:
            return {order_id for order_id, e in watch.latest().items() if e["status"] == "delivered"}
        served = await eventually(delivered, lambda d: len(d) >= 15, "ten backorders served", timeout=120)
        assert served - {oid(o) for o in orders if done[o["external_id"]] == "delivered"} == set(waiting[:10])
        assert event_problems(dict(watch.events)) == []
        assert await stock_problems(oms.inventory, oms.run) == []
    finally:
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"), OMS_NETWORK_FILE=str(SILENT))
async def test_a_warehouse_that_rejects_or_stays_silent_is_replaced(oms):
    """Scenarios 2 and 3: the reservation there is released and the order continues elsewhere."""
    await oms.stock({"ROUTE": {"3pl-berlin": 10, "dc-rotterdam": 10}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        rejected, silent = oms.order(1, {"ROUTE": 2}), oms.order(2, {"ROUTE": 1})
        await oms.send(rejected, silent)
        request = await berlin.wait_for(oid(rejected), "fulfillment.requested")
        await berlin.wait_for(oid(silent), "fulfillment.requested")
        await berlin.answer(oid(rejected), FulfillmentRejected(fulfillment_id=request["fulfillment_id"],
                                                               reason="shelf empty"))
        for order in (rejected, silent):
            final = await until_status(watch, order, "delivered", timeout=90)
            assert [s["location_id"] for s in final["shipments"]] == ["dc-rotterdam"]
        cancel = await berlin.wait_for(oid(silent), "fulfillment.cancel_requested")
        assert cancel["fulfillment_id"].endswith("-F1")
        # a late answer from the silent warehouse changes nothing
        events_before = len(watch.events[oid(silent)])
        await berlin.answer(oid(silent), FulfillmentAccepted(fulfillment_id=cancel["fulfillment_id"]))
        await berlin.answer(oid(silent), FulfillmentPacked(fulfillment_id=cancel["fulfillment_id"], parcels=PARCELS))
        await oms.processes["fulfillment_service"].logged("fulfillment.update_ignored", count=2)
        assert len(watch.events[oid(silent)]) == events_before
        assert await reserved_at(oms, "ROUTE", "3pl-berlin") == 0
        assert await stock_problems(oms.inventory, oms.run) == []
        assert event_problems(dict(watch.events)) == []
    finally:
        await berlin.stop()
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_nowhere_left_after_a_rejection_means_backordered(oms):
    await oms.stock({"ONLY": {"3pl-berlin": 3}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        order = oms.order(1, {"ONLY": 1})
        await oms.send(order)
        request = await berlin.wait_for(oid(order), "fulfillment.requested")
        await berlin.answer(oid(order), FulfillmentRejected(fulfillment_id=request["fulfillment_id"], reason="damaged"))
        await until_status(watch, order, "backordered")
        assert await reserved_at(oms, "ONLY", "3pl-berlin") == 0
    finally:
        await berlin.stop()
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_quality_control_fails_once_repack_twice_reroute(oms):
    """Scenario 4: by policy the warehouse repacks once; a second failure sends the order elsewhere."""
    await oms.stock({"QC": {"3pl-berlin": 10, "dc-rotterdam": 10}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        once, twice = oms.order(1, {"QC": 1}), oms.order(2, {"QC": 1})
        await oms.send(once, twice)
        for order, failures in ((once, 1), (twice, 2)):
            fid = (await berlin.wait_for(oid(order), "fulfillment.requested"))["fulfillment_id"]
            await berlin.answer(oid(order), FulfillmentAccepted(fulfillment_id=fid))
            await berlin.answer(oid(order), FulfillmentPicked(fulfillment_id=fid))
            for _ in range(failures):
                await berlin.answer(oid(order), FulfillmentQcFailed(fulfillment_id=fid, reason="scratched"))
            if failures == 1:
                await berlin.answer(oid(order), FulfillmentPacked(fulfillment_id=fid, parcels=PARCELS))
        first = await until_status(watch, once, "delivered", timeout=90)
        assert [s["location_id"] for s in first["shipments"]] == ["3pl-berlin"]
        assert "qc_failed" in reasons(watch, once)
        second = await until_status(watch, twice, "delivered", timeout=90)
        assert [s["location_id"] for s in second["shipments"]] == ["dc-rotterdam"]
        await berlin.wait_for(oid(twice), "fulfillment.cancel_requested")
    finally:
        await berlin.stop()
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("postnl", "dhl", "ups"), OMS_NETWORK_FILE=str(SILENT))
async def test_carriers_refuse_or_stay_silent_then_on_hold_and_operators_alerted(oms):
    """Scenario 5: the next best carrier is booked; none left puts the order on hold with the reason."""
    await oms.stock({"SHIP": {"3pl-berlin": 10}})
    carriers = {c: await PlayedPartner("carrier", c).start() for c in ("postnl", "dhl", "ups")}
    watch = await oms.watch()
    try:
        order = oms.order(1, {"SHIP": 1})
        await oms.send(order)
        first = await carriers["postnl"].wait_for(oid(order), "shipment.booking_requested")  # cheapest in DE
        await carriers["postnl"].answer(oid(order), ShipmentBookingFailed(shipment_id=first["shipment_id"],
                                                                          reason="no capacity"))
        await carriers["dhl"].wait_for(oid(order), "shipment.booking_requested")  # then dhl, which stays silent
        # postnl, the carrier the shipment has left, claims the booking after all: ignored (one consumer reads every
        # carrier's topic, and a carrier is told by the topic its update came on)
        await carriers["postnl"].answer(oid(order), ShipmentBooked(shipment_id=first["shipment_id"],
                                                                   tracking_number="LATE"))
        await carriers["dhl"].wait_for(oid(order), "shipment.cancel_requested", timeout=30)
        third = await carriers["ups"].wait_for(oid(order), "shipment.booking_requested", timeout=30)
        await carriers["ups"].answer(oid(order), ShipmentBookingFailed(shipment_id=third["shipment_id"], reason="full"))
        held = await until_status(watch, order, "on_hold")
        assert held["reason"]["code"] == "no_carrier"
        assert not [e for e in watch.events[oid(order)] for s in e["shipments"] if s.get("tracking_number") == "LATE"]

        async def alerts() -> list[dict]:
            return [n for n in oms.sent_notifications() if n["order_id"] == oid(order) and n["kind"].startswith("operator")]
        assert (await eventually(alerts, lambda a: len(a) == 1, "one operator alert"))[0]["kind"] == "operator_no_carrier"

        # the order's channel may not release a hold no channel can resolve: refused, the order stays on hold
        async with Producer(who=principal("channel", order["channel"])) as channel:
            await channel.send(topics.channel_topic(order["channel"]), orjson.dumps(oms.request(
                "order.hold_released", order)), key=f"{order['channel']}:{order['external_id']}")
        refused = await eventually(lambda: status_of_reason(watch, order, "release_refused"), bool,
                                   "the channel's release refused")
        assert refused is not None and refused["status"] == "on_hold"
        assert "only an operator" in refused["reason"]["message"]
        # an operator releases the hold: the packed shipment is booked again, nothing is reserved or handed off again
        await oms.send(oms.request("order.hold_released", order))
        again = await carriers["postnl"].wait_for(oid(order), "shipment.booking_requested", count=2)
        assert again["shipment_id"] == first["shipment_id"]
        for update in (ShipmentBooked(shipment_id=again["shipment_id"], tracking_number="PN-AGAIN"),
                       ShipmentPickedUp(shipment_id=again["shipment_id"]),
                       ShipmentDelivered(shipment_id=again["shipment_id"], delivered_at=datetime.now(UTC))):
            await carriers["postnl"].answer(oid(order), update)
        done = await until_status(watch, order, "delivered")
        assert [s["tracking_number"] for s in done["shipments"]] == ["PN-AGAIN"]
        after_hold = [e["status"] for e in watch.events[oid(order)]]
        after_hold = after_hold[len(after_hold) - after_hold[::-1].index("on_hold"):]  # after the last
        assert after_hold[0] == "ready_to_ship" and after_hold[-1] == "delivered", after_hold
        assert not {"accepted", "reserved", "released", "in_fulfillment"} & set(after_hold), after_hold
    finally:
        for carrier in carriers.values():
            await carrier.stop()
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("postnl"))
async def test_a_delivery_exception_is_visible_and_a_later_delivery_completes(oms):
    """Scenario 8, and scenario 9 for a carrier: every update twice, changing nothing more than once would."""
    await oms.stock({"EXC": {"3pl-berlin": 10}})
    postnl = await PlayedPartner("carrier", "postnl").start()
    watch = await oms.watch()
    try:
        order = oms.order(1, {"EXC": 1})
        await oms.send(order)
        request = await postnl.wait_for(oid(order), "shipment.booking_requested")
        sid = request["shipment_id"]
        for update in (ShipmentBooked(shipment_id=sid, tracking_number="PN1"), ShipmentPickedUp(shipment_id=sid),
                       ShipmentException(shipment_id=sid, reason="nobody home")):
            await postnl.answer(oid(order), update)
            await postnl.answer(oid(order), update)  # the same message again: a redelivery
        await eventually(lambda: _async(reasons(watch, order)), lambda r: "delivery_exception" in r, "exception shown")
        timeline = await oms.orders_db.fetch(
            "SELECT status, reason->>'code' AS code, reason->>'message' AS message FROM order_timeline "
            "WHERE order_id = $1 ORDER BY sequence", oid(order))
        assert {"status": "shipped", "code": "delivery_exception", "message": "nobody home"} in [dict(r) for r in timeline]
        await postnl.answer(oid(order), ShipmentDelivered(shipment_id=sid, delivered_at=datetime.now(UTC)))
        await until_status(watch, order, "delivered")
        assert [e["status"] for e in watch.events[oid(order)]].count("shipped") == 2  # shipped, and the exception
        async def sent() -> list[str]:
            return sorted(n["kind"] for n in oms.sent_notifications() if n["order_id"] == oid(order))
        expected = ["confirmation", "delivered", "operator_delivery_exception", "shipped"]
        assert await eventually(sent, lambda s: len(s) >= 4, "the notifications") == expected
    finally:
        await postnl.stop()
        await watch.stop()


async def _async(value):
    return value


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_warehouse_updates_twice_and_out_of_order_change_nothing_more(oms):
    """Scenario 9: `packed` before `accepted`, and every update twice, give the events of one in-order delivery."""
    await oms.stock({"DUP": {"3pl-berlin": 10}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        order = oms.order(1, {"DUP": 1})
        await oms.send(order)
        fid = (await berlin.wait_for(oid(order), "fulfillment.requested"))["fulfillment_id"]
        for update in (FulfillmentPacked(fulfillment_id=fid, parcels=PARCELS), FulfillmentAccepted(fulfillment_id=fid),
                       FulfillmentPicked(fulfillment_id=fid)):
            await berlin.answer(oid(order), update)
            await berlin.answer(oid(order), update)
        await until_status(watch, order, "delivered")
        statuses = [e["status"] for e in watch.events[oid(order)]]
        assert statuses == ["received", "accepted", "reserved", "released", "ready_to_ship", "shipped", "delivered"]
        assert event_problems(dict(watch.events)) == []
    finally:
        await berlin.stop()
        await watch.stop()


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"))
async def test_cancellation_at_every_stage(oms):
    """Scenario 6: before reservation, after handoff (released when the warehouse confirms), after pickup (refused)."""
    await oms.stock({"CAN": {"3pl-berlin": 10}, "NONE": {"3pl-berlin": 0}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        waiting, handed_off, picked_up = oms.order(1, {"NONE": 1}), oms.order(2, {"CAN": 2}), oms.order(3, {"CAN": 1})
        await oms.send(waiting, handed_off, picked_up)
        await until_status(watch, waiting, "backordered")
        await oms.send(oms.request("order.cancel_requested", waiting, reason="changed my mind"))
        await until_status(watch, waiting, "cancelled")
        assert await oms.inventory.fetchval("SELECT count(*) FROM backorders WHERE order_id = $1", oid(waiting)) == 0

        fid = (await berlin.wait_for(oid(handed_off), "fulfillment.requested"))["fulfillment_id"]
        await berlin.answer(oid(handed_off), FulfillmentAccepted(fulfillment_id=fid))
        await until_status(watch, handed_off, "in_fulfillment")
        await oms.send(oms.request("order.cancel_requested", handed_off))
        await berlin.wait_for(oid(handed_off), "fulfillment.cancel_requested")
        assert await reserved_at(oms, "CAN", "3pl-berlin") >= 2  # held until the warehouse confirms
        await berlin.answer(oid(handed_off), FulfillmentCancelled(fulfillment_id=fid))
        await until_status(watch, handed_off, "cancelled")

        fid = (await berlin.wait_for(oid(picked_up), "fulfillment.requested"))["fulfillment_id"]
        await berlin.answer(oid(picked_up), FulfillmentPacked(fulfillment_id=fid, parcels=PARCELS))
        await until_status(watch, picked_up, "delivered", timeout=60)
        await oms.send(oms.request("order.cancel_requested", picked_up))
        await eventually(lambda: _async(reasons(watch, picked_up)), lambda r: "cancel_refused" in r, "cancel refused")
        assert (await status_of(watch, picked_up)) == "delivered"

        async def reserved() -> int:
            return await reserved_at(oms, "CAN", "3pl-berlin")
        await eventually(reserved, lambda n: n == 0, "every reservation released or committed")
        assert await stock_problems(oms.inventory, oms.run) == []
        assert event_problems(dict(watch.events)) == []
    finally:
        await berlin.stop()
        await watch.stop()


async def test_holds_for_payment_and_address_are_released_or_cancelled(oms):
    """Scenario 7."""
    await oms.stock({"HOLD": {"dc-rotterdam": 10}})
    watch = await oms.watch()
    try:
        pending = oms.order(1, {"HOLD": 1}, payment={"status": "pending", "reference": "p1"})
        failed = oms.order(2, {"HOLD": 1}, payment={"status": "failed", "reference": "p2"})
        address = oms.order(3, {"HOLD": 1})
        address["shipping_address"] = {**address["shipping_address"], "postal_code": "ABC"}
        await oms.send(pending, failed, address)
        for order, code in ((pending, "payment_pending"), (failed, "payment_failed"), (address, "address_incomplete")):
            held = await until_status(watch, order, "on_hold")
            assert held["reason"]["code"] == code
        await oms.send(oms.request("order.hold_released", pending), oms.request("order.hold_released", address),
                       oms.request("order.cancel_requested", failed))
        await until_status(watch, pending, "delivered")
        await until_status(watch, address, "delivered")
        await until_status(watch, failed, "cancelled")
        async def kinds() -> list[str]:
            return sorted(n["kind"] for n in oms.sent_notifications() if n["order_id"] == oid(failed))
        assert await eventually(kinds, lambda k: len(k) >= 2, "on hold and cancelled told") == ["cancelled", "on_hold"]
    finally:
        await watch.stop()


@pytest.mark.chaos  # stops the shared broker: runs with the chaos tier, after every other
@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"), OMS_NETWORK_FILE=str(SILENT))
async def test_a_broker_outage_longer_than_a_warehouse_deadline_reroutes_nothing(oms, stack):
    """The warehouse has 4 s to accept; the broker is away for longer. Its clock stood still meanwhile: once the
    broker is back the warehouse accepts, and the order stays there (no cancel, no second warehouse)."""
    await oms.stock({"WAIT": {"3pl-berlin": 5, "dc-rotterdam": 5}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        order = oms.order(1, {"WAIT": 1})
        await oms.send(order)
        request = await berlin.wait_for(oid(order), "fulfillment.requested")
        fulfillments = await asyncpg.connect(get_settings().database_for("fulfillment"))
        await asyncio.to_thread(stack.kafka.stop)
        try:  # the outage lasts three times the warehouse's deadline (4 s)
            await eventually(lambda: fulfillments.fetchval(
                "SELECT now() > created_at + interval '12 seconds' FROM fulfillments WHERE fulfillment_id = $1",
                request["fulfillment_id"]), bool, "the deadline long past while the broker is away", timeout=60)
        finally:
            await fulfillments.close()
            await asyncio.to_thread(stack.kafka.start)
        await berlin.answer(oid(order), FulfillmentAccepted(fulfillment_id=request["fulfillment_id"]))
        await until_status(watch, order, "in_fulfillment", timeout=90)
        await berlin.answer(oid(order), FulfillmentPacked(fulfillment_id=request["fulfillment_id"], parcels=PARCELS))
        done = await until_status(watch, order, "delivered", timeout=90)
        assert [s["location_id"] for s in done["shipments"]] == ["3pl-berlin"]
        assert berlin.requests(oid(order), "fulfillment.cancel_requested") == []
        assert "fulfillment.timed_out" not in oms.processes["fulfillment_service"].log_text()
        assert "deadlines.moved_on" in oms.processes["fulfillment_service"].log_text()
    finally:
        await berlin.stop()
        await watch.stop()
