"""The order service's handlers, in memory: placement, replies moving the saga, channel requests, deadlines."""

from __future__ import annotations

import pytest

from contracts import topics
from contracts.examples import ORDER_REF, example
from contracts.order import ReserveStock
from order_service.domain import order_id_for
from order_service.handlers import check_promises, expire, reject
from runtime.consume import Unprocessable
from runtime.messaging import InvalidMessage, encode
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

INBOUND, REPLIES, EVENTS = topics.ORDERS_INBOUND.name, topics.INVENTORY_REPLIES.name, topics.FULFILLMENT_EVENTS.name
ORDER_ID = order_id_for(ORDER_REF["channel"], ORDER_REF["external_id"])


def statuses(sent: list) -> list[str]:
    return [m.status for m in sent if m.type == "order.status_changed"]


async def placed() -> InMemory:
    service = InMemory("order")
    await service.deliver(INBOUND, body("order.submitted"))
    return service


async def test_a_submitted_order_is_stored_accepted_and_its_stock_asked_for():
    service = InMemory("order")
    sent = await service.deliver(INBOUND, body("order.submitted"))

    assert statuses(sent) == ["received", "accepted"]
    assert [m.type for m in sent][-1] == "inventory.reserve_stock"
    row = service.row("orders", ORDER_ID)
    assert row is not None and (row["status"], row["saga_state"], row["sequence"]) == ("accepted", "awaiting_stock", 2)
    assert [(line["sku"], line["quantity"]) for line in service.db.logs["order_lines"]] == [("SKU-CHAIR-01", 2)]
    assert [t["status"] for t in service.db.logs["order_timeline"]] == ["received", "accepted"]


async def test_the_same_order_submitted_again_changes_nothing_and_a_redelivery_is_absorbed():
    service = InMemory("order")
    first = body("order.submitted")
    assert await service.deliver(INBOUND, first, first) != []
    assert await service.deliver(INBOUND, body("order.submitted")) == [], "a second submission is the same order"
    assert await service.deliver(INBOUND, first) == [], "a redelivered message is absorbed by the inbox"
    assert len(service.db.logs["order_timeline"]) == 2


async def test_reserved_stock_releases_the_order_to_its_warehouse():
    service = await placed()
    sent = await service.deliver(REPLIES, body("inventory.stock_reserved", order_id=ORDER_ID))

    assert statuses(sent) == ["reserved", "released"]
    [request] = [m for m in sent if m.type == "fulfillment.request_fulfillment"]
    assert request.location_id == "dc-rotterdam" and request.order_id == ORDER_ID
    assert service.row("orders", ORDER_ID)["status"] == "released"


async def test_messages_of_one_fetch_each_see_the_saga_the_one_before_left():
    service = InMemory("order")
    sent = await service.deliver(INBOUND, body("order.submitted"))
    sent = await service.deliver(REPLIES, body("inventory.stock_reserved", order_id=ORDER_ID))
    fulfillment_id = next(m for m in sent if m.type == "fulfillment.request_fulfillment").fulfillment_id
    sent = await service.deliver(EVENTS, *(body("fulfillment.progressed", order_id=ORDER_ID,
                                                fulfillment_id=fulfillment_id, status=s)
                                           for s in ("accepted", "picked", "packed")))
    assert [m.type for m in sent if m.type != "order.status_changed"] == ["shipping.book_shipment"]
    assert service.row("orders", ORDER_ID)["sequence"] == 6


async def test_a_cancellation_from_the_channel_releases_the_stock():
    service = await placed()
    sent = await service.deliver(INBOUND, body("order.cancel_requested"))
    assert statuses(sent) == ["cancelled"]
    assert [m.type for m in sent if m.type != "order.status_changed"] == ["inventory.release_stock",
                                                                          "refund.requested"]
    [refund] = [m for m in sent if m.type == "refund.requested"]
    assert (refund.amount, refund.shipping, refund.reason) == ("200.60", "4.90", "cancelled"), "paid, shipping too"


async def test_a_request_for_an_unknown_order_cannot_apply():
    with pytest.raises(Unprocessable, match="no order"):
        await InMemory("order").deliver(INBOUND, body("order.hold_released", external_id="nobody"))
    with pytest.raises(Unprocessable, match="no order"):
        await InMemory("order").deliver(REPLIES, body("inventory.stock_reserved", order_id="nobody"))


async def test_an_invalid_order_is_answered_rejected_once():
    service = InMemory("order")
    invalid = InvalidMessage("lines: Field required", {"type": "order.submitted", **ORDER_REF})
    first = await service.handle(reject, invalid)
    again = await service.handle(reject, invalid)

    assert statuses(first) == ["rejected"] and first[0].reason.code == "invalid_message"
    assert again == []
    assert service.row("orders", ORDER_ID)["status"] == "rejected"
    with pytest.raises(Unprocessable, match="rejected"):
        await service.deliver(REPLIES, body("inventory.stock_reserved", order_id=ORDER_ID))


async def test_a_step_past_its_deadline_asks_again_then_holds_the_order():
    service = InMemory("order")
    service.later(3600)  # the reservation's deadline is written an hour ago
    await service.deliver(INBOUND, body("order.submitted"))

    asked = await service.tick(expire)
    assert [m.type for m in asked] == ["inventory.reserve_stock"], "the same command, sent again"
    held = await service.tick(expire)
    assert statuses(held) == ["on_hold"] and held[0].reason.code == "step_timed_out"
    assert await service.tick(expire) == [], "an order on hold has no deadline"


async def test_a_shipment_past_its_promises_is_told_late_once_and_the_order_goes_on():
    service = await placed()
    service.later(8 * 86400)  # reserved (and promised) eight days ago: the next working day's cut-off is long past
    sent = await service.deliver(REPLIES, body("inventory.stock_reserved", order_id=ORDER_ID))
    [released] = [m for m in sent if m.type == "order.status_changed" and m.status == "released"]
    assert released.shipments[0].ship_by is not None and released.shipments[0].promised_by is not None
    assert service.row("orders", ORDER_ID)["promise_at"] == released.shipments[0].ship_by
    [request] = [m for m in sent if m.type == "fulfillment.request_fulfillment"]
    assert request.ship_by == released.shipments[0].ship_by, "the location is told the ship-by the OMS watches"
    service.caught_up()
    late = await service.tick(check_promises)
    assert [(m.status, m.reason.code) for m in late] == [("released", "late_to_ship"), ("released", "late_delivery")]
    assert service.row("orders", ORDER_ID)["promise_at"] is None
    assert await service.tick(check_promises) == [], "each broken promise told once"


async def test_a_promise_kept_leaves_the_row_in_place_for_the_watcher_to_move_on():
    service = await placed()
    service.later(8 * 86400)  # reserved and picked up a week ago: both promises are past now
    sent = await service.deliver(REPLIES, body("inventory.stock_reserved", order_id=ORDER_ID))
    [released] = [m for m in sent if m.type == "order.status_changed" and m.status == "released"]
    ship_by = released.shipments[0].ship_by
    await service.deliver(topics.SHIPPING_EVENTS.name, body("shipping.shipment_progressed", order_id=ORDER_ID,
                                                            shipment_id=f"{ORDER_ID}-S1", status="picked_up"))
    assert service.row("orders", ORDER_ID)["promise_at"] == ship_by, "not moved on: the row is rewritten in place"
    service.caught_up()
    late = await service.tick(check_promises)
    assert [m.reason.code for m in late] == ["late_delivery"], "left in time: only the delivery is late"


async def test_a_channel_speaks_only_for_its_own_orders():
    """On its own topic, channel X's cancel of channel Y's order changes nothing and is dead-lettered."""
    service = await placed()  # a web order
    amazon = topics.channel_topic("marketplace:amazon")
    with pytest.raises(Unprocessable, match="names channel web"):
        await service.deliver(amazon, body("order.cancel_requested"))
    assert service.row("orders", ORDER_ID)["status"] == "accepted"
    sent = await service.deliver(topics.channel_topic("web"), body("order.cancel_requested"))
    assert statuses(sent) == ["cancelled"], "the web channel on its own topic"


async def test_inventory_is_told_the_destination_country_and_no_one_s_address():
    service = InMemory("order")
    sent = await service.deliver(INBOUND, body("order.submitted"))
    [reserve] = [m for m in sent if m.type == "inventory.reserve_stock"]
    assert reserve.destination.country == "DE"
    assert b"Example Street" not in encode(reserve) and b"Ada" not in encode(reserve)
    earlier = ReserveStock.model_validate({"order_id": "o", "lines": [{"sku": "S", "quantity": 1}],
                                           "ship_to": example("order.submitted")["shipping_address"]})
    assert earlier.destination.country == "DE", "a request an earlier version stored still reads"


async def test_a_channel_releases_only_a_hold_it_can_resolve_and_an_operator_any():
    service = InMemory("order")
    service.later(3600)
    await service.deliver(INBOUND, body("order.submitted"))
    await service.tick(expire)
    await service.tick(expire)  # held: inventory did not answer in time
    web = topics.channel_topic("web")
    refused = await service.deliver(web, body("order.hold_released"))
    assert [(m.status, m.reason.code) for m in refused if m.type == "order.status_changed"] == [
        ("on_hold", "release_refused")]
    assert service.row("orders", ORDER_ID)["status"] == "on_hold"
    released = await service.deliver(INBOUND, body("order.hold_released", reason="checked by Kim"))
    assert statuses(released) and statuses(released)[0] != "on_hold", "an operator's release on the shared topic"


async def test_a_channel_may_release_the_payment_hold_of_its_own_order():
    service = InMemory("order")
    await service.deliver(INBOUND, body("order.submitted", payment={"status": "pending", "reference": "psp-1"}))
    assert service.row("orders", ORDER_ID)["status"] == "on_hold"
    released = await service.deliver(topics.channel_topic("web"), body("order.hold_released"))
    assert "on_hold" not in statuses(released)


async def test_order_events_and_refunds_also_go_to_the_orders_channel_topic_only():
    service = await placed()
    events = service.sent(topics.ORDERS_EVENTS.name)
    assert events and service.sent(topics.channel_events_topic("web")) == events
    assert service.sent(topics.channel_events_topic("app")) == []


async def test_a_message_id_counts_within_its_topic_so_no_channel_can_claim_another_writers():
    """Amazon sends a message of its own with the id a web order's message has: both are handled."""
    service = InMemory("order")
    taken = body("order.submitted")
    await service.deliver(topics.channel_topic("marketplace:amazon"), body(
        "order.submitted", id=taken["id"], channel="marketplace:amazon", external_id="A-1"))
    sent = await service.deliver(topics.channel_topic("web"), taken)
    assert statuses(sent) == ["received", "accepted"], "web's order is not skipped as a duplicate"
    assert await service.deliver(topics.channel_topic("web"), taken) == [], "its own copy again is"
