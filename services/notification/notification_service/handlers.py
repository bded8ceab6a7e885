"""Notification handlers: remember whom to tell; turn order events into notifications, once each."""

from __future__ import annotations

import os

from contracts import topics
from contracts.base import Message
from contracts.channels import NotificationResendRequested, OrderSubmitted
from contracts.notification import NotificationRequested
from contracts.order import OrderStatusChanged
from notification_service import domain, store
from notification_service.bootstrap import NotificationDeps
from notification_service.store import NotificationWork
from runtime import signing
from runtime.consume import NotReady
from runtime.logging import log
from runtime.unit import Handler

OPERATORS = os.environ.get("OMS_OPERATOR_EMAIL", "operators@oms.local")


async def remember_contact(msg: OrderSubmitted, unit: NotificationWork) -> None:
    unit.add_contact(msg.order_key, msg.customer.email, msg.customer.phone, msg.customer.name,
                     msg.customer.sms_consent)


def tracking_link(deps: NotificationDeps, order_id: str) -> str:
    """The customer's link to the order's tracking page on the gateway."""
    token = signing.tracking_token(deps.tracking_secret, order_id)
    return f"{deps.settings.gateway_url.rstrip('/')}/track/{token}"


def tracking_line(deps: NotificationDeps, order_id: str) -> str:
    return f"\n\nFollow your order: {tracking_link(deps, order_id)}"


def tells_nobody(message: Message) -> bool:
    """Most status changes tell nobody: they are acknowledged without a transaction."""
    return isinstance(message, OrderStatusChanged) and not domain.notices(message)


async def order_event(event: OrderStatusChanged, unit: NotificationWork) -> None:
    """Each notice the event asks for is recorded once and announced on the notifications topic, in the same unit."""
    notices = unit.notices.get(event.id) or domain.notices(event)
    contact = unit.contacts.cached(f"{event.channel}:{event.external_id}")
    if contact is None and event.status != "rejected":
        raise NotReady(f"contact of {event.order_id} not seen yet")
    for notice in notices:
        recipient = OPERATORS if notice.to_operators else (contact.email if contact else None)
        if recipient is None:
            continue
        requested = NotificationRequested(
            id=store.notification_id(event.order_id, notice.kind, notice.shipment_id), order_id=event.order_id,
            kind=notice.kind, medium="email", recipient=recipient, shipment_id=notice.shipment_id or None,
            subject=notice.subject, body=notice.body + domain.opening_hours(event, unit.deps.network)
            + ("" if notice.to_operators else tracking_line(unit.deps, event.order_id)))
        outgoing = [requested]
        number = None if notice.to_operators or contact is None else contact.texts_to()
        if number and notice.kind in unit.deps.network.sms_kinds(event.channel):  # and by text, where they agreed
            outgoing.append(NotificationRequested(
                id=store.notification_id(event.order_id, notice.kind, notice.shipment_id, "sms"),
                order_id=event.order_id, kind=notice.kind, medium="sms", recipient=number,
                shipment_id=notice.shipment_id or None, subject=notice.subject,
                body=domain.text(notice, f" {tracking_link(unit.deps, event.order_id)}")))
        for sent in outgoing:
            if unit.add_notification(sent):
                unit.send(topics.NOTIFICATIONS.name, sent.order_id, sent)
                log.info("notification.requested", order_id=sent.order_id, kind=sent.kind, medium=sent.medium)


async def resend(msg: NotificationResendRequested, unit: NotificationWork) -> None:
    """A notification sent again as it was, by the same medium, once per request (a copy with an id of its own);
    one of another order, or none, is not sent (said in the log: the desk shows what was sent)."""
    original = await unit.original(msg.notification_id)
    if original is None or original.order_id != msg.order_id:
        log.warning("notification.resend_unknown", order_id=msg.order_id, notification_id=msg.notification_id)
        return
    again = original.model_copy(update={"id": store.resent_id(msg.notification_id, msg.id)})
    if unit.add_notification(again, copy_of=msg.id):
        unit.send(topics.NOTIFICATIONS.name, again.order_id, again)
        log.info("notification.resent", order_id=again.order_id, kind=again.kind, medium=again.medium, by=msg.by)


INBOUND: dict[str, Handler[NotificationWork]] = {"order.submitted": remember_contact,
                                                 "notification.resend_requested": resend}


def from_channel(channel: str) -> dict[str, Handler[NotificationWork]]:
    """One channel's own topic: a submission naming another channel is not remembered (the order service
    dead-letters it)."""
    async def remember_own(msg: OrderSubmitted, unit: NotificationWork) -> None:
        if msg.channel == channel:
            await remember_contact(msg, unit)
    return {"order.submitted": remember_own}
EVENTS: dict[str, Handler[NotificationWork]] = {"order.status_changed": order_event}
