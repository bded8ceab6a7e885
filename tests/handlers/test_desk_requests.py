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
