"""The gateway's read model, in memory: each order as its latest event shows it, its timeline, whom it is for."""

from __future__ import annotations

import pytest

from contracts import topics
from gateway_service.store import contact_hash
from shared.signing import tracking_token
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

INBOUND, EVENTS = topics.ORDERS_INBOUND.name, topics.ORDERS_EVENTS.name


def event(sequence: int, status: str, previous: str | None, **fields: object) -> dict[str, object]:
    return body("order.status_changed", sequence=sequence, status=status, previous_status=previous, **fields)


async def test_the_view_follows_the_latest_event_and_keeps_every_step():
    gateway = InMemory("gateway")
    shipment = {"shipment_id": "ord-1-S1", "location_id": "dc-rotterdam", "carrier_id": "dhl",
                "tracking_number": "DHL123", "status": "shipped", "lines": [{"sku": "SKU-CHAIR-01", "quantity": 2}]}
    await gateway.deliver(EVENTS, event(1, "received", None), event(2, "accepted", "received"))
    await gateway.deliver(EVENTS, event(3, "shipped", "accepted", shipments=[shipment]))

    view = gateway.row("order_views", "ord-1")
    assert (view["status"], view["sequence"], view["channel"], view["external_id"]) == ("shipped", 3, "web", "W-1001")
    assert '"tracking_number":"DHL123"' in view["shipments"]
    assert view["tracking_token"] == tracking_token(str(gateway.deps.extra["tracking_secret"]), "ord-1")
    assert sorted(k[1] for k in gateway.db.table("order_timeline")) == [1, 2, 3]


async def test_an_older_event_read_again_changes_nothing():
    gateway = InMemory("gateway")
    await gateway.deliver(EVENTS, event(3, "shipped", "accepted"))
    await gateway.deliver(EVENTS, event(2, "accepted", "received"))

    assert gateway.row("order_views", "ord-1")["status"] == "shipped"
    assert len(gateway.db.rows("order_timeline")) == 2, "the step is in the timeline all the same"


async def test_whom_an_order_is_for_is_kept_only_as_a_keyed_hash():
    gateway = InMemory("gateway")
    await gateway.deliver(INBOUND, body("order.submitted"))

    [contact] = gateway.db.rows("contacts")
    secret = str(gateway.deps.extra["tracking_secret"])
    assert contact["email_hash"] == contact_hash(secret, " Ada@Example.com")
    assert "ada" not in str(contact)


async def test_a_submission_naming_another_channel_on_a_channels_topic_is_nobodys():
    gateway = InMemory("gateway")
    await gateway.deliver(topics.channel_topic("app"), body("order.submitted", channel="web"))
    assert gateway.db.rows("contacts") == []
