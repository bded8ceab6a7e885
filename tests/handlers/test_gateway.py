"""The gateway's read model, in memory: each order as its latest event shows it, its timeline, whom it is for."""

from __future__ import annotations

import pytest

from contracts import topics
from gateway_service import app
from gateway_service.domain import contact_hash
from gateway_service.subscribers import Subscriber
from runtime.consume import NotReady
from runtime.signing import tracking_token
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

INBOUND, EVENTS, NOTES = topics.ORDERS_INBOUND.name, topics.ORDERS_EVENTS.name, topics.NOTIFICATIONS.name


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
    assert view["tracking_token"] == tracking_token(gateway.deps.tracking_secret, "ord-1")
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

    [contact] = gateway.db.rows("contact_hashes")
    secret = gateway.deps.tracking_secret
    assert contact["email_hash"] == contact_hash(secret, " Ada@Example.com")
    assert contact["name_hash"] == contact_hash(secret, "ada  example"), "the desk finds it by the name as written"
    assert "example" not in str(contact).lower()  # neither address nor name ("ada" can be part of a hex hash)


async def test_a_submission_naming_another_channel_on_a_channels_topic_is_nobodys():
    gateway = InMemory("gateway")
    await gateway.deliver(topics.channel_topic("app"), body("order.submitted", channel="web"))
    assert gateway.db.rows("contact_hashes") == []


def subscribed(gateway: InMemory, **fields: object) -> None:
    gateway.deps.subscribers = [Subscriber(id="crm", url="https://crm.example.com/oms", **fields)]
    gateway.subscriptions = list(app.subscriptions(gateway.deps))


async def test_each_subscriber_gets_one_delivery_per_event_it_wants():
    gateway = InMemory("gateway")
    subscribed(gateway, events=["order.status_changed"])
    await gateway.deliver(EVENTS, event(1, "received", None))
    again = body("order.status_changed", sequence=1, status="received", previous_status=None)
    await gateway.deliver(EVENTS, {**again, "id": gateway.db.rows("webhook_deliveries")[0]["message_id"]})
    assert await gateway.deliver(EVENTS, event(2, "accepted", "received")) == []

    deliveries = gateway.db.rows("webhook_deliveries")
    assert [(d["subscriber"], d["message_type"]) for d in deliveries] == [("crm", "order.status_changed")] * 2
    assert '"status":"accepted"' in deliveries[1]["payload"]


async def test_a_subscriber_of_some_channels_hears_only_of_their_orders():
    gateway = InMemory("gateway")
    subscribed(gateway, channels=["app"])
    await gateway.deliver(EVENTS, event(1, "received", None))  # a web order
    await gateway.deliver(NOTES, body("notification.requested"))
    assert gateway.db.rows("webhook_deliveries") == []


async def test_a_notification_for_a_subscriber_of_some_channels_waits_for_the_orders_channel():
    gateway = InMemory("gateway")
    subscribed(gateway, channels=["web"], events=["notification.requested"])
    with pytest.raises(NotReady):
        await gateway.deliver(NOTES, body("notification.requested"))
    await gateway.deliver(EVENTS, event(1, "received", None))
    await gateway.deliver(NOTES, body("notification.requested"))
    assert [d["message_type"] for d in gateway.db.rows("webhook_deliveries")] == ["notification.requested"]


async def test_notifications_are_read_for_the_desk_without_a_subscriber_kind_and_medium_only():
    gateway = InMemory("gateway")
    assert any(NOTES in sub.names for sub in gateway.subscriptions)
    await gateway.deliver(NOTES, body("notification.requested"))
    [shown] = gateway.db.rows("order_notifications")
    assert (shown["kind"], shown["medium"]) == ("shipped", "email")
    assert "example" not in str(shown).lower(), "no address, no words"
    assert gateway.db.rows("webhook_deliveries") == [], "no subscriber: nothing to deliver"


@pytest.mark.parametrize("url", ["http://crm.example.com/oms", "ftp://127.0.0.1/x"])
def test_a_webhook_goes_over_https_except_to_this_machine(url):
    with pytest.raises(ValueError, match="https"):
        Subscriber(id="crm", url=url)
    assert Subscriber(id="local", url="http://127.0.0.1:8000/hook").url.startswith("http://127.0.0.1")


async def test_captures_and_refunds_are_kept_for_the_desk_without_the_payment_reference():
    gateway = InMemory("gateway")
    await gateway.deliver(topics.PAYMENTS.name, body("payment.capture_requested"))
    await gateway.deliver(topics.PAYMENTS.name, body("refund.requested", reason="goodwill", lines=[], amount="5",
                                                     by="alice"))
    rows = sorted(gateway.db.rows("order_money"), key=lambda r: r["kind"])
    assert [(r["kind"], str(r["amount"]), r["reason"]) for r in rows] == [
        ("capture", "200.60", None), ("refund", "5", "goodwill by alice")]
    assert "psp" not in str(rows)
