"""Inbound you can promise, in memory: a purchase order's lines (`po_id`) give waiting orders a date, oldest order
first from the earliest units; a line sent again with another ETA tells each order whose date moved, once; its
arrival serves them oldest first and closes the line. The saga says it; the customer gets one delay notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import topics
from rules.inbound import Inbound, expected
from tests.handlers.test_order import ORDER_ID, placed
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

FEED, COMMANDS = topics.INVENTORY_ADJUSTMENTS.name, topics.INVENTORY_COMMANDS.name
SKU, WHERE = "SKU-CHAIR-01", "dc-rotterdam"
D1 = datetime(2026, 12, 20, 9, tzinfo=UTC)
D2 = D1 + timedelta(days=5)


def reserve(order_id: str, quantity: int = 2) -> dict:
    return body("inventory.reserve_stock", order_id=order_id, lines=[{"sku": SKU, "quantity": quantity}])


def line(quantity: int, eta: datetime) -> dict:
    return body("stock.inbound_expected", po_id="PO-7", quantity=quantity, eta=eta.isoformat())


async def test_a_purchase_order_dates_the_waiting_orders_oldest_first_and_a_moved_eta_tells_each_once():
    service = InMemory("inventory")
    await service.deliver(FEED, body("stock.counted", on_hand=0))
    [first] = [m for m in await service.deliver(COMMANDS, reserve("A")) if m.type.startswith("inventory.")]
    assert (first.reason, first.expected_at) == ("insufficient_stock", None), "nothing on its way yet"

    told = await service.deliver(FEED, line(3, D1))
    assert [(m.order_id, m.expected_at, m.previous) for m in told if m.type == "inventory.stock_expected"] == [
        ("A", D1, None)]
    [second] = [m for m in await service.deliver(COMMANDS, reserve("B")) if m.type.startswith("inventory.")]
    assert second.expected_at is None, "1 unit left of the 3 on their way: B's 2 are not all coming"
    assert service.row("stock", SKU, WHERE)["inbound"] == 3

    moved = await service.deliver(FEED, line(5, D2))
    assert sorted((m.order_id, m.expected_at, m.previous) for m in moved if m.type == "inventory.stock_expected") == [
        ("A", D2, D1), ("B", D2, None)]
    assert service.row("stock", SKU, WHERE)["inbound"] == 5, "the line replaced, not added to"
    assert [m for m in await service.deliver(FEED, line(5, D2)) if m.type == "inventory.stock_expected"] == [], \
        "the same line again moves nobody's date"

    served = await service.deliver(FEED, body("stock.received", po_id="PO-7", quantity=3))
    assert [m.order_id for m in served if m.type == "inventory.stock_reserved"] == ["A"], "oldest first"
    assert [(r["quantity"], r["closed_at"]) for r in service.db.rows("inbound_expected")] == [(2, None)]
    served = await service.deliver(FEED, body("stock.received", po_id="PO-7", quantity=2))
    assert [m.order_id for m in served if m.type == "inventory.stock_reserved"] == ["B"]
    assert [r["closed_at"] is not None for r in service.db.rows("inbound_expected")] == [True]
    assert service.row("stock", SKU, WHERE)["inbound"] == 0


async def test_the_saga_says_the_new_date_and_the_customer_is_told_once_per_change():
    order = await placed()
    failed = await order.deliver(topics.INVENTORY_REPLIES.name, body(
        "inventory.stock_reservation_failed", order_id=ORDER_ID, reason="insufficient_stock",
        expected_at=D1.isoformat()))
    [backordered] = [m for m in failed if m.type == "order.status_changed" and m.status == "backordered"]
    assert backordered.reason.message.endswith("expected by Sun 20 Dec 2026")
    sent = await order.deliver(topics.INVENTORY_REPLIES.name, body(
        "inventory.stock_expected", order_id=ORDER_ID, expected_at=D2.isoformat(), previous=D1.isoformat()))
    [changed] = [m for m in sent if m.type == "order.status_changed"]
    assert (changed.status, changed.reason.code) == ("backordered", "eta_changed")
    assert changed.reason.message == "SKU-CHAIR-01 now expected by Fri 25 Dec 2026 (was Sun 20 Dec 2026)"

    notices = InMemory("notification")
    await notices.deliver(topics.ORDERS_INBOUND.name, body("order.submitted"))
    event = changed.model_dump(mode="json")
    [delay] = await notices.deliver(topics.ORDERS_EVENTS.name, event)
    assert delay.kind == "delay" and "now expected by Fri 25 Dec 2026" in delay.body
    assert await notices.deliver(topics.ORDERS_EVENTS.name, {**event, "id": "another-read"}) == [], "told once"


@given(st.lists(st.dictionaries(st.sampled_from("AB"), st.integers(1, 5), min_size=1), max_size=8),
       st.lists(st.tuples(st.sampled_from("AB"), st.integers(1, 6), st.integers(0, 10)), max_size=6))
def test_no_more_is_promised_than_is_on_its_way_and_an_older_order_is_never_passed_over(orders, rows):
    inbound = [Inbound(f"r{n}", sku, qty, D1 + timedelta(days=day)) for n, (sku, qty, day) in enumerate(rows)]
    waiting = [(f"o{n}", lines) for n, lines in enumerate(orders)]
    dated = expected(waiting, inbound)
    for sku in "AB":
        promised = sum(lines.get(sku, 0) for order_id, lines in waiting if order_id in dated)
        assert promised <= sum(r.quantity for r in inbound if r.sku == sku)
    for n, (order_id, lines) in enumerate(waiting):  # an order left without a date: its own units are short
        if order_id not in dated:
            older = [w for w in waiting[:n] if w[0] in dated]
            for sku, wanted in lines.items():
                took = sum(w[1].get(sku, 0) for w in older)
                if sum(r.quantity for r in inbound if r.sku == sku) - took < wanted:
                    break
            else:
                raise AssertionError(f"{order_id} could have had a date")


async def test_a_preorder_channel_is_told_what_is_on_its_way_and_from_when_and_no_other_is():
    service = InMemory("inventory")
    assert service.deps.network.channel_stock("web").preorder and not service.deps.network.channel_stock("app").preorder
    await service.deliver(FEED, body("stock.counted", on_hand=0))
    sent = await service.deliver(FEED, line(4, D1))
    told = {m.channel: m for m in sent if m.type == "stock.availability_changed"}
    assert list(told) == ["web"], "only a channel that sells pre-orders hears of inbound units"
    assert (told["web"].available, told["web"].preorderable, told["web"].available_from) == (0, 4, D1)
    arrived = await service.deliver(FEED, body("stock.received", po_id="PO-7", quantity=4))
    [web] = [m for m in arrived if m.type == "stock.availability_changed" and m.channel == "web"]
    assert (web.available, web.preorderable, web.available_from) == (4, 0, None)


async def test_a_dated_order_shows_the_shipment_its_units_will_leave_as_with_expected_ship():
    service = InMemory("inventory")
    await service.deliver(FEED, body("stock.counted", on_hand=0), line(3, D1))
    [failed] = [m for m in await service.deliver(COMMANDS, reserve("A")) if m.type.startswith("inventory.")]
    assert (failed.expected_at, failed.expected_location_id) == (D1, WHERE)
    assert failed.expected_ship is not None and failed.expected_ship > D1, "it leaves after it arrives, as promised"
    [moved] = [m for m in await service.deliver(FEED, line(3, D2)) if m.type == "inventory.stock_expected"]
    assert moved.expected_ship is not None and moved.expected_ship > D2 and moved.expected_location_id == WHERE

    order = await placed()
    sent = await order.deliver(topics.INVENTORY_REPLIES.name, {**failed.model_dump(mode="json"), "order_id": ORDER_ID,
                                                               "request_id": None})
    [backordered] = [m for m in sent if m.type == "order.status_changed"]
    [waiting] = backordered.shipments
    assert (waiting.status, waiting.location_id, waiting.expected_ship) == ("backordered", WHERE, failed.expected_ship)
    assert waiting.shipment_id == f"{ORDER_ID}-S1" and waiting.carrier_id is None
    sent = await order.deliver(topics.INVENTORY_REPLIES.name, {**moved.model_dump(mode="json"), "order_id": ORDER_ID})
    [changed] = [m for m in sent if m.type == "order.status_changed"]
    assert [s.expected_ship for s in changed.shipments] == [moved.expected_ship], "the new date on the shipment"
