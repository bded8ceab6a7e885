"""Returns through the services' handlers, in memory: the order service checks and expects them, the return
location reports what came back (and only for returns sent to it), inventory puts it back or writes it off."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from contracts import topics
from contracts.examples import ORDER_REF
from order_service.domain import order_id_for
from order_service.handlers import expire
from runtime.consume import Unprocessable
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

INBOUND, REPLIES = topics.ORDERS_INBOUND.name, topics.INVENTORY_REPLIES.name
FULFILLMENT, SHIPPING = topics.FULFILLMENT_EVENTS.name, topics.SHIPPING_EVENTS.name
ORDER_ID = order_id_for(ORDER_REF["channel"], ORDER_REF["external_id"])


def statuses(sent: list[Any]) -> list[tuple[str, str | None]]:
    return [(m.status, m.reason.code if m.reason else None) for m in sent if m.type == "order.status_changed"]


async def delivered() -> InMemory:
    """The example order (2 chairs at 89.90), delivered."""
    service = InMemory("order")
    await service.deliver(INBOUND, body("order.submitted"))
    sent = await service.deliver(REPLIES, body("inventory.stock_reserved", order_id=ORDER_ID))
    [request] = [m for m in sent if m.type == "fulfillment.request_fulfillment"]
    await service.deliver(FULFILLMENT, *(body("fulfillment.progressed", order_id=ORDER_ID,
                                              fulfillment_id=request.fulfillment_id, status=s)
                                         for s in ("accepted", "picked", "packed")))
    shipment = request.fulfillment_id.replace("-F", "-S")
    await service.deliver(SHIPPING, *(body("shipping.shipment_progressed", order_id=ORDER_ID, shipment_id=shipment,
                                           status=s) for s in ("booked", "picked_up", "delivered")))
    assert service.row("orders", ORDER_ID)["status"] == "delivered"
    return service


async def test_a_delivered_order_returned_in_a_store_is_refunded_once_for_what_came_back():
    service = await delivered()
    sent = await service.deliver(INBOUND, body("order.return_requested", return_location_id="store-munich",
                                               lines=[{"sku": "SKU-CHAIR-01", "quantity": 2}]))
    assert statuses(sent) == [("return_requested", "return_requested")]
    [expect] = service.sent(topics.FULFILLMENT_COMMANDS.name, "fulfillment.expect_return")
    assert expect.location_id == "store-munich"
    event = sent[0]
    assert [(r.return_id, r.status) for r in event.returns] == [(expect.return_id, "requested")]

    arrived = body("fulfillment.return_received", order_id=ORDER_ID, return_id=expect.return_id,
                   location_id="store-munich", lines=[{"sku": "SKU-CHAIR-01", "quantity": 1, "condition": "resellable"},
                                                      {"sku": "SKU-CHAIR-01", "quantity": 1, "condition": "damaged"}])
    sent = await service.deliver(FULFILLMENT, arrived)
    assert statuses(sent) == [("returned", "return_received")]
    [refund] = service.sent(topics.PAYMENTS.name, "refund.requested")
    assert (refund.amount, refund.currency, refund.payment_reference) == ("195.70", "EUR", "psp-1"), "as paid"
    notes = [d for d in service.db.logs["documents"] if d["kind"] == "credit_note"]
    assert [(d["document_id"], d["amount"]) for d in notes] == [(refund.id, Decimal("195.70"))], "its credit note"
    [restock] = service.sent(topics.INVENTORY_COMMANDS.name, "inventory.restock")
    assert restock.location_id == "store-munich"
    assert await service.deliver(FULFILLMENT, {**arrived, "id": "the same receipt again"}) == []
    assert len(service.sent(topics.PAYMENTS.name, "refund.requested")) == 1, "one refund per return"


async def test_a_return_for_more_than_was_delivered_or_to_an_unknown_place_is_refused():
    service = await delivered()
    sent = await service.deliver(INBOUND, body("order.return_requested", lines=[{"sku": "SKU-CHAIR-01", "quantity": 3}]))
    assert statuses(sent) == [("delivered", "return_refused")]
    sent = await service.deliver(INBOUND, body("order.return_requested", return_location_id="nowhere"))
    assert statuses(sent) == [("delivered", "return_refused")]
    assert service.sent(topics.FULFILLMENT_COMMANDS.name, "fulfillment.expect_return") == []


async def test_a_return_before_delivery_is_refused():
    service = InMemory("order")
    await service.deliver(INBOUND, body("order.submitted"))
    sent = await service.deliver(INBOUND, body("order.return_requested"))
    assert statuses(sent) == [("accepted", "return_refused")]


async def test_a_return_that_never_arrives_expires():
    service = await delivered()
    service.later(31 * 24 * 3600)  # the return's expiry is written as if a month had passed since
    await service.deliver(INBOUND, body("order.return_requested"))
    service.later(-31 * 24 * 3600)
    sent = await service.tick(expire)
    assert statuses(sent) == [("delivered", "return_expired")]
    assert service.row("orders", ORDER_ID)["saga_state"] == "completed"


async def test_another_channel_cannot_return_this_order():
    service = await delivered()
    channel_topic = topics.channel_topic("app")
    with pytest.raises(Unprocessable):
        await service.deliver(channel_topic, body("order.return_requested"))


async def test_the_return_location_reports_only_returns_sent_to_it():
    service = InMemory("fulfillment")
    sent = await service.deliver(topics.FULFILLMENT_COMMANDS.name, body("fulfillment.expect_return"))
    [expected] = sent
    assert expected.type == "return.expected" and expected.return_id == "ret-1"
    assert service.sent(topics.WAREHOUSE_REQUESTS.for_partner("store-munich")) == [expected]
    with pytest.raises(Unprocessable, match="not to dc-rotterdam"):
        await service.deliver(topics.WAREHOUSE_UPDATES.for_partner("dc-rotterdam"), body("return.received"))
    munich = topics.WAREHOUSE_UPDATES.for_partner("store-munich")
    [arrived] = await service.deliver(munich, body("return.received"))
    assert arrived.type == "fulfillment.return_received" and arrived.order_id == "ord-1"
    assert await service.deliver(munich, body("return.received")) == [], "a second receipt changes nothing"
    with pytest.raises(Unprocessable, match="no return"):
        await service.deliver(munich, body("return.received", return_id="ret-unknown"))


async def test_resellable_units_go_back_on_hand_and_serve_a_backorder_damaged_ones_are_written_off():
    service = InMemory("inventory")
    feed = topics.INVENTORY_ADJUSTMENTS.name
    await service.deliver(feed, body("stock.counted", sku="SKU-LAMP", location_id="dc-rotterdam", on_hand=0))
    waiting = await service.deliver(topics.INVENTORY_COMMANDS.name, body(
        "inventory.reserve_stock", order_id="ord-waiting", lines=[{"sku": "SKU-LAMP", "quantity": 1}]))
    assert [m.type for m in waiting if m.type.startswith("inventory.")] == ["inventory.stock_reservation_failed"]

    sent = await service.deliver(topics.INVENTORY_COMMANDS.name, body(
        "inventory.restock", location_id="dc-rotterdam",
        lines=[{"sku": "SKU-LAMP", "quantity": 2, "condition": "resellable"},
               {"sku": "SKU-LAMP", "quantity": 1, "condition": "damaged"}]))
    row = service.row("stock", "SKU-LAMP", "dc-rotterdam")
    assert (row["on_hand"], row["reserved"]) == (2, 1), "two back on hand, one of them reserved for the backorder"
    ledger = [(r["kind"], r["quantity"]) for r in service.db.logs["stock_ledger"] if r["sku"] == "SKU-LAMP"]
    assert ledger == [("counted", 0), ("returned", 3), ("written_off", -1)]
    assert sum(q for _, q in ledger) == row["on_hand"]
    [reserved] = [m for m in sent if m.type == "inventory.stock_reserved"]
    assert reserved.order_id == "ord-waiting"


async def test_an_exchange_places_a_new_order_of_the_replacements_instead_of_a_refund():
    service = await delivered()
    await service.deliver(INBOUND, body("order.return_requested", reason="exchange",
                                        replacement_lines=[{"sku": "SKU-CHAIR-01", "quantity": 1}]))
    [expect] = service.sent(topics.FULFILLMENT_COMMANDS.name, "fulfillment.expect_return")
    sent = await service.deliver(FULFILLMENT, body(
        "fulfillment.return_received", order_id=ORDER_ID, return_id=expect.return_id, location_id="store-munich",
        lines=[{"sku": "SKU-CHAIR-01", "quantity": 2, "condition": "resellable"}]))
    assert service.sent(topics.PAYMENTS.name, "refund.requested") == [], "the return pays for the replacements"
    [placed] = [m for m in sent if m.type == "order.submitted"]
    assert (placed.channel, placed.external_id) == (ORDER_REF["channel"], f"{ORDER_REF['external_id']}-X1")
    assert placed.payment.status == "captured" and placed.customer.email == "ada@example.com", "never charged again"
    assert [(line.sku, line.quantity, line.unit_price) for line in placed.lines] == [("SKU-CHAIR-01", 1, "89.90")]
    [event] = [m for m in sent if m.type == "order.status_changed"]
    assert event.returns[0].exchange_external_id == placed.external_id

    sent = await service.deliver(INBOUND, placed.model_dump(mode="json"))
    assert [m.status for m in sent if m.type == "order.status_changed"] == ["received", "accepted"]
    again = await service.deliver(INBOUND, {**placed.model_dump(mode="json"), "id": "another id"})
    assert again == [], "the same exchange order placed again is the same order"


@pytest.mark.parametrize(("replacements", "why"), [
    ([{"sku": "SKU-UNKNOWN", "quantity": 1}], "SKU-UNKNOWN: not bought in this order"),
    ([{"sku": "SKU-CHAIR-01", "quantity": 3}], "worth 269.70 for 179.80 returned"),
])
async def test_an_exchange_for_what_the_order_never_had_or_for_more_than_comes_back_is_refused(replacements, why):
    service = await delivered()
    sent = await service.deliver(INBOUND, body("order.return_requested", reason="exchange", replacement_lines=replacements))
    [event] = [m for m in sent if m.type == "order.status_changed"]
    assert event.status == "delivered" and event.reason.code == "return_refused" and why in event.reason.message
    assert service.sent(topics.FULFILLMENT_COMMANDS.name, "fulfillment.expect_return") == []
