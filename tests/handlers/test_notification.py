"""The notification service's handlers, in memory: whom to tell, and each notice recorded and announced once."""

from __future__ import annotations

import pytest

from contracts import topics
from runtime.consume import NotReady
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

INBOUND, EVENTS = topics.ORDERS_INBOUND.name, topics.ORDERS_EVENTS.name


async def test_an_accepted_order_is_confirmed_to_its_customer_once():
    service = InMemory("notification")
    await service.deliver(INBOUND, body("order.submitted"))
    [sent] = await service.deliver(EVENTS, body("order.status_changed"))

    assert (sent.type, sent.kind, sent.recipient) == ("notification.requested", "confirmation",
                                                      "ada@example.com")
    assert await service.deliver(EVENTS, body("order.status_changed")) == [], "the same notice again: nothing"
    assert len(service.db.rows("notifications")) == 1
    assert service.row("contacts", "web:W-1001")["email"] == "ada@example.com"


async def test_an_event_before_its_contact_waits_for_it():
    with pytest.raises(NotReady):
        await InMemory("notification").deliver(EVENTS, body("order.status_changed"))


async def test_status_changes_that_tell_nobody_need_no_unit_of_work():
    service = InMemory("notification")
    assert await service.deliver(EVENTS, body("order.status_changed", status="reserved",
                                              previous_status="accepted")) == []
    assert service.db.inbox == set(), "acknowledged without a transaction"


async def test_a_late_order_tells_its_customer_once_and_the_operators_each_time():
    service = InMemory("notification")
    await service.deliver(INBOUND, body("order.submitted"))
    told = []
    for n, code in enumerate(("late_to_ship", "late_delivery"), 5):
        told += await service.deliver(EVENTS, body("order.status_changed", status="released",
                                                   previous_status="released", sequence=n,
                                                   reason={"code": code, "message": "shipment S1 is late"}))
    assert sorted((m.kind, m.recipient) for m in told) == [
        ("delay", "ada@example.com"), ("operator_late_delivery", "operators@oms.local"),
        ("operator_late_to_ship", "operators@oms.local")]


async def test_ready_for_pickup_tells_where_and_when_the_store_is_open():
    service = InMemory("notification")
    await service.deliver(INBOUND, body("order.submitted"))
    [sent] = await service.deliver(EVENTS, body(
        "order.status_changed", status="ready_for_pickup", previous_status="in_fulfillment", sequence=6,
        reason={"code": "ready_for_pickup", "message": "ready for pickup at store-munich: Marienplatz 8, 80331 Munich"},
        shipments=[{"shipment_id": "S1", "location_id": "store-munich", "status": "ready_for_pickup", "pickup": True,
                    "lines": [{"sku": "SKU-CHAIR-01", "quantity": 2}]}]))
    assert sent.kind == "ready_for_pickup"
    assert "Marienplatz 8" in sent.body and "Opening hours: Mon-Sat 10:00-20:00" in sent.body
