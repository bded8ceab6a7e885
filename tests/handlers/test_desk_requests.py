"""The desk's requests, in memory: an agent's hold stops the order where it is until an operator releases it (a
channel cannot); a note is an event with the status unchanged; both name who asked; neither is taken from a
channel's own topic."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import topics
from order_service.domain import order_id_for
from tests.handlers.test_order import ORDER_ID, placed, statuses
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

INBOUND, REPLIES = topics.ORDERS_INBOUND.name, topics.INVENTORY_REPLIES.name


def reasons(sent: list[Any]) -> list[tuple[str, str, str]]:
    return [(m.status, m.reason.code, m.reason.message) for m in sent if m.type == "order.status_changed"]


async def test_an_agents_hold_keeps_the_order_until_an_operator_releases_it():
    service = await placed()
    held = await service.deliver(INBOUND, body("order.hold_requested", order_id=ORDER_ID))
    assert reasons(held) == [("on_hold", "held", "alice: customer asked to wait for a callback")]

    refused = await service.deliver(topics.channel_topic("web"), body("order.hold_released"))
    assert reasons(refused)[0][:2] == ("on_hold", "release_refused"), "a channel cannot lift an agent's hold"
    reserved = await service.deliver(REPLIES, body("inventory.stock_reserved", order_id=ORDER_ID))
    assert "fulfillment.request_fulfillment" in [m.type for m in reserved] and statuses(reserved) == []
    released = await service.deliver(INBOUND, body("order.hold_released"))
    assert statuses(released) == ["released"]


async def test_a_note_is_an_event_with_the_status_unchanged_and_who_wrote_it():
    service = await placed()
    sent = await service.deliver(INBOUND, body("order.note_added", order_id=ORDER_ID))
    assert reasons(sent) == [("accepted", "note", "alice: customer called: leave at the neighbours")]
    assert service.row("orders", ORDER_ID)["status"] == "accepted"


async def test_a_hold_on_an_order_that_is_over_is_refused_and_an_unknown_order_cannot_apply():
    service = await placed()
    await service.deliver(INBOUND, body("order.cancel_requested"))
    refused = await service.deliver(INBOUND, body("order.hold_requested", order_id=ORDER_ID))
    assert reasons(refused)[0][:2] == ("cancelled", "hold_refused")
    with pytest.raises(Exception, match="no order"):
        await service.deliver(INBOUND, body("order.hold_requested", order_id=order_id_for("web", "nope")))


def test_a_channels_own_topic_takes_no_desk_request():
    """What has no handler on a topic is dead-lettered with the reason by the consume policy (tests/component)."""
    desk = {"order.hold_requested", "order.note_added"}
    inbound = InMemory("order").subscription(INBOUND)
    assert desk <= inbound.handlers_for(INBOUND).keys()
    assert not desk & inbound.handlers_for(topics.channel_topic("web")).keys()


FULFILLMENT = f"{ORDER_ID}-F1"


async def released() -> InMemory:
    service = await placed()
    await service.deliver(REPLIES, body("inventory.stock_reserved", order_id=ORDER_ID))
    return service


def progressed(status: str) -> dict[str, Any]:
    return body("fulfillment.progressed", order_id=ORDER_ID, fulfillment_id=FULFILLMENT, status=status)


async def test_a_move_cancels_at_the_old_location_then_reserves_at_the_new_one_alone():
    service = await released()
    asked = await service.deliver(INBOUND, body("fulfillment.move_requested", order_id=ORDER_ID,
                                                fulfillment_id=FULFILLMENT, to_location_id="3pl-berlin"))
    [cancel] = [m for m in asked if m.type == "fulfillment.cancel_fulfillment"]
    assert cancel.fulfillment_id == FULFILLMENT and reasons(asked)[0][:2] == ("released", "move_requested")
    assert "bob: move to 3pl-berlin" in reasons(asked)[0][2]

    moved = await service.deliver(topics.FULFILLMENT_EVENTS.name, progressed("cancelled"))
    release = next(m for m in moved if m.type == "inventory.release_stock")
    reserve = next(m for m in moved if m.type == "inventory.reserve_stock")
    assert release.reservation_id == "res-1" and reserve.only_locations == ["3pl-berlin"]
    assert [line.quantity for line in reserve.lines] == [2] and reasons(moved)[0][1] == "moved"
    assert service.row("orders", ORDER_ID)["status"] != "cancelled", "a move is not a cancel"


async def test_a_move_the_old_location_refuses_keeps_the_fulfillment_there():
    service = await released()
    await service.deliver(INBOUND, body("fulfillment.move_requested", order_id=ORDER_ID,
                                        fulfillment_id=FULFILLMENT, to_location_id="3pl-berlin"))
    kept = await service.deliver(topics.FULFILLMENT_EVENTS.name, progressed("cancel_refused"))
    assert reasons(kept)[0][1] == "move_refused" and not [m for m in kept if m.type.startswith("inventory.")]
    started = await service.deliver(topics.FULFILLMENT_EVENTS.name, progressed("accepted"), progressed("picked"))
    assert statuses(started) == ["in_fulfillment"]
    again = await service.deliver(INBOUND, body("fulfillment.move_requested", order_id=ORDER_ID,
                                                fulfillment_id=FULFILLMENT, to_location_id="3pl-berlin"))
    assert reasons(again)[0][1] == "move_refused" and "has started it (picked)" in reasons(again)[0][2]
    assert [m.type for m in again] == ["order.status_changed"], "nothing asked of anyone"


async def test_inventory_reserves_a_moved_fulfillment_at_the_new_location_alone():
    service = InMemory("inventory")
    await service.deliver(topics.INVENTORY_ADJUSTMENTS.name, body("stock.counted", location_id="dc-rotterdam"),
                          body("stock.counted", location_id="3pl-berlin", on_hand=1))
    command = body("inventory.reserve_stock", order_id="o-1", only_locations=["3pl-berlin"])
    [short] = [m for m in await service.deliver(topics.INVENTORY_COMMANDS.name, command)
               if m.type.startswith("inventory.stock_reserv")]
    assert short.type == "inventory.stock_reservation_failed", "2 wanted, 1 there: it waits there, not elsewhere"
    await service.deliver(topics.INVENTORY_ADJUSTMENTS.name, body("stock.adjusted", location_id="3pl-berlin", delta=1))
    [served] = service.sent(topics.INVENTORY_REPLIES.name, "inventory.stock_reserved")
    assert [a.location_id for a in served.allocations] == ["3pl-berlin"]


async def test_a_goodwill_refund_is_asked_of_the_payment_side_up_to_what_is_left_and_says_who_gave_it():
    service = await placed()
    given = await service.deliver(INBOUND, body("refund.goodwill_requested", order_id=ORDER_ID, amount="15.00"))
    [refund] = [m for m in given if m.type == "refund.requested"]
    assert (refund.reason, refund.amount, refund.lines, refund.by) == ("goodwill", "15.00", [], "alice")
    assert reasons(given) == [("accepted", "goodwill_refund", "alice: goodwill 15.00 EUR (parcel arrived late)")]
    again = await service.deliver(INBOUND, body("refund.goodwill_requested", order_id=ORDER_ID, amount="1000"))
    assert [m for m in again if m.type == "refund.requested"] == []
    [(_, code, message)] = reasons(again)
    assert code == "refund_refused" and "paid and not refunded yet" in message


async def test_a_goodwill_refund_of_an_unpaid_order_is_refused():
    service = InMemory("order")
    await service.deliver(INBOUND, body("order.submitted", payment=None))
    refused = await service.deliver(INBOUND, body("refund.goodwill_requested", order_id=ORDER_ID))
    assert reasons(refused)[0][1] == "refund_refused" and not [m for m in refused if m.type == "refund.requested"]


async def test_a_resend_copies_the_notification_once_per_request_and_nothing_of_another_order():
    service = InMemory("notification")
    await service.deliver(INBOUND, body("order.submitted"))
    [first] = await service.deliver(topics.ORDERS_EVENTS.name, body("order.status_changed"))
    asked = body("notification.resend_requested", order_id=first.order_id, notification_id=first.id)
    [copy] = await service.deliver(INBOUND, asked)
    assert copy.id != first.id and (copy.kind, copy.medium, copy.recipient, copy.body) == (
        first.kind, first.medium, first.recipient, first.body)
    assert await service.deliver(INBOUND, asked) == [], "the same request read again: no second copy"
    [second] = await service.deliver(INBOUND, body("notification.resend_requested", order_id=first.order_id,
                                                   notification_id=first.id))
    assert second.id not in (first.id, copy.id)
    assert await service.deliver(INBOUND, body("notification.resend_requested", order_id="another",
                                               notification_id=first.id)) == []
    assert len(service.db.rows("notifications")) == 3
