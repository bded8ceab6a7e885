"""Notification handlers: remember whom to tell; turn order events into notifications, once each."""

from __future__ import annotations

import asyncio
import os
from functools import partial

from contracts import topics
from contracts.base import Message
from contracts.channels import OrderSubmitted
from contracts.notification import NotificationRequested
from contracts.order import OrderStatusChanged
from notification_service import domain, senders, store
from notification_service.bootstrap import NotificationDeps
from notification_service.senders import Sender
from notification_service.store import NotificationWork
from runtime import pollers, signing
from runtime.consume import NotReady, describe
from runtime.logging import log
from runtime.parking import storable
from runtime.retries import Failure, send_round
from runtime.tables import Row
from runtime.unit import Handler

OPERATORS = os.environ.get("OMS_OPERATOR_EMAIL", "operators@oms.local")


async def remember_contact(msg: OrderSubmitted, unit: NotificationWork) -> None:
    unit.add_contact(msg.order_key, msg.customer.email, msg.customer.phone, msg.customer.name)


def tracking_line(deps: NotificationDeps, order_id: str) -> str:
    """The customer's link to the order's tracking page on the gateway."""
    token = signing.tracking_token(deps.tracking_secret, order_id)
    return f"\n\nFollow your order: {deps.settings.gateway_url.rstrip('/')}/track/{token}"


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
        recipient = OPERATORS if notice.to_operators else (contact["email"] if contact else None)
        if recipient is None:
            continue
        requested = NotificationRequested(
            id=store.notification_id(event.order_id, notice.kind, notice.shipment_id), order_id=event.order_id,
            kind=notice.kind, medium="email", recipient=recipient, shipment_id=notice.shipment_id or None,
            subject=notice.subject, body=notice.body + domain.opening_hours(event, unit.deps.network)
            + ("" if notice.to_operators else tracking_line(unit.deps, event.order_id)))
        if unit.add_notification(requested):
            unit.send(topics.NOTIFICATIONS.name, requested.order_id, requested)
            log.info("notification.requested", order_id=requested.order_id, kind=requested.kind)


DISPATCH_ROUND = 200  # notifications claimed, sent and marked in one round


async def dispatch(deps: NotificationDeps, sender: Sender, max_attempts: int = 8, backoff_s: float = 5.0,
                   send_timeout_s: float = 15.0) -> None:
    """Sends what was recorded, after its transaction committed, each notification on its own: one that fails is
    tried again later (the delay doubling from `backoff_s`), one that cannot be delivered or has failed
    `max_attempts` times is dead (shown by `oms notifications`, and an operator alert in the log). No transaction
    is open while sending (`runtime.retries`); a crash before marking re-sends at most a round, a minute later,
    which the sender drops by notification id."""

    async def send(row: Row) -> Failure | None:
        try:
            await asyncio.wait_for(sender.send(row), send_timeout_s)
            return None
        except Exception as exc:
            return storable(describe(exc), 500), senders.permanent(exc)

    async def round_() -> int:
        claimed, failed = await send_round(
            deps.pool, partial(NotificationWork, deps), lambda unit: unit.outgoing_notifications,
            lambda unit: unit.outgoing_notifications.claim(unit.now(), DISPATCH_ROUND), send, max_attempts, backoff_s)
        for row in failed:
            if row["dead_at"] is not None:
                log.error("notification.dead", order_id=row["order_id"], kind=row["kind"], attempts=row["attempts"])
            else:
                log.warning("notification.send_failed", order_id=row["order_id"], kind=row["kind"],
                            attempts=row["attempts"])
        return claimed

    await pollers.repeat(0.5, round_, "notification.dispatch", busy=DISPATCH_ROUND)


INBOUND: dict[str, Handler[NotificationWork]] = {"order.submitted": remember_contact}


def from_channel(channel: str) -> dict[str, Handler[NotificationWork]]:
    """One channel's own topic: a submission naming another channel is not remembered (the order service
    dead-letters it)."""
    async def remember_own(msg: OrderSubmitted, unit: NotificationWork) -> None:
        if msg.channel == channel:
            await remember_contact(msg, unit)
    return {"order.submitted": remember_own}
EVENTS: dict[str, Handler[NotificationWork]] = {"order.status_changed": order_event}
