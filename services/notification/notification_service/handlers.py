"""Notification handlers: remember whom to tell; turn order events into notifications, once each."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from contracts import topics
from contracts.base import Message
from contracts.channels import OrderSubmitted
from contracts.notification import NotificationRequested
from contracts.order import OrderStatusChanged
from notification_service import domain, senders, store
from notification_service.senders import Sender
from notification_service.store import NotificationWork
from shared import pollers, signing
from shared.consume import NotReady, describe
from shared.logging import log
from shared.parking import storable
from shared.service import Deps
from shared.uow import Handler

OPERATORS = os.environ.get("OMS_OPERATOR_EMAIL", "operators@oms.local")


async def remember_contact(msg: OrderSubmitted, uow: NotificationWork) -> None:
    uow.add_contact(msg.order_key, msg.customer.email, msg.customer.phone, msg.customer.name)


def tracking_line(deps: Deps, order_id: str) -> str:
    """The customer's link to the order's tracking page on the gateway."""
    token = signing.tracking_token(str(deps.extra["tracking_secret"]), order_id)
    return f"\n\nFollow your order: {deps.settings.gateway_url.rstrip('/')}/track/{token}"


def tells_nobody(message: Message) -> bool:
    """Most status changes tell nobody: they are acknowledged without a transaction."""
    return isinstance(message, OrderStatusChanged) and not domain.notices(message)


async def order_event(event: OrderStatusChanged, uow: NotificationWork) -> None:
    """Each notice the event asks for is recorded once and announced on the notifications topic, in the same unit."""
    notices = uow.notices.get(event.id) or domain.notices(event)
    contact = uow.contacts.cached(f"{event.channel}:{event.external_id}")
    if contact is None and event.status != "rejected":
        raise NotReady(f"contact of {event.order_id} not seen yet")
    for notice in notices:
        recipient = OPERATORS if notice.to_operators else (contact["email"] if contact else None)
        if recipient is None:
            continue
        requested = NotificationRequested(
            id=store.notification_id(event.order_id, notice.kind, notice.shipment_id), order_id=event.order_id,
            kind=notice.kind, medium="email", recipient=recipient, shipment_id=notice.shipment_id or None,
            subject=notice.subject, body=notice.body + domain.opening_hours(event, uow.deps.network)
            + ("" if notice.to_operators else tracking_line(uow.deps, event.order_id)))
        if uow.add_notification(requested):
            uow.send(topics.NOTIFICATIONS.name, requested.order_id, requested)
            log.info("notification.requested", order_id=requested.order_id, kind=requested.kind)


DISPATCH_ROUND = 200  # notifications claimed, sent and marked in one round


async def dispatch(deps: Deps, sender: Sender, max_attempts: int = 8, backoff_s: float = 5.0,
                   send_timeout_s: float = 15.0) -> None:
    """Sends what was recorded, after its transaction committed, each notification on its own: one that fails is
    tried again later (the delay doubling from `backoff_s`), one that cannot be delivered or has failed
    `max_attempts` times is dead (shown by `oms notifications`, and an operator alert in the log). A crash
    before marking re-sends at most a round, which the sender drops by notification id."""

    async def send_round(conn: asyncpg.Connection) -> int:
        rows = await store.claim_due(conn, DISPATCH_ROUND)
        sent, failed = [], []
        for row in rows:
            try:
                await asyncio.wait_for(sender.send(dict(row)), send_timeout_s)
                sent.append(row["notification_id"])
            except Exception as exc:
                failed.append((row["notification_id"], storable(describe(exc), 500), senders.permanent(exc)))
        await store.NOTIFICATIONS_OUT.mark_sent(conn, sent)
        for row in await store.NOTIFICATIONS_OUT.mark_failed(conn, failed, max_attempts, backoff_s):
            if row["dead"]:
                log.error("notification.dead", order_id=row["order_id"], kind=row["kind"], attempts=row["attempts"])
            else:
                log.warning("notification.send_failed", order_id=row["order_id"], kind=row["kind"],
                            attempts=row["attempts"])
        return len(rows)

    await pollers.every(deps.pool, 0.5, send_round, "notification.dispatch", busy=DISPATCH_ROUND)


INBOUND: dict[str, Handler[NotificationWork]] = {"order.submitted": remember_contact}


def from_channel(channel: str) -> dict[str, Handler[NotificationWork]]:
    """One channel's own topic: a submission naming another channel is not remembered (the order service
    dead-letters it)."""
    async def remember_own(msg: OrderSubmitted, uow: NotificationWork) -> None:
        if msg.channel == channel:
            await remember_contact(msg, uow)
    return {"order.submitted": remember_own}
EVENTS: dict[str, Handler[NotificationWork]] = {"order.status_changed": order_event}
