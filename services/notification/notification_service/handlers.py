"""Notification handlers: remember whom to tell; turn order events into notifications, once each."""

from __future__ import annotations

import os
import uuid
from contextlib import AbstractAsyncContextManager
from functools import partial

import asyncpg

from contracts import topics
from contracts.base import Message
from contracts.channels import OrderSubmitted
from contracts.notification import NotificationRequested
from contracts.order import OrderStatusChanged
from notification_service import domain, store
from notification_service.senders import Sender
from shared import pollers
from shared.consume import NotReady
from shared.handling import BoundHandler, acting_only_on, transactional
from shared.logging import log
from shared.service import Deps

OPERATORS = os.environ.get("OMS_OPERATOR_EMAIL", "operators@oms.local")


@transactional
async def remember_contact(deps: Deps, conn: asyncpg.Connection, msg: OrderSubmitted) -> None:
    await store.add_contact(conn, msg.order_key, msg.customer.email, msg.customer.phone, msg.customer.name)


@acting_only_on(lambda event: bool(domain.notices(event)))  # most status changes tell nobody: no transaction
@transactional
async def order_event(deps: Deps, conn: asyncpg.Connection, event: OrderStatusChanged) -> None:
    notices = domain.notices(event)
    if not notices:
        return
    contact = await store.contact(conn, f"{event.channel}:{event.external_id}")
    if contact is None and event.status != "rejected":
        raise NotReady(f"contact of {event.order_id} not seen yet")
    for notice in notices:
        recipient = OPERATORS if notice.to_operators else (contact["email"] if contact else None)
        if recipient is None:
            continue
        notification_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event.order_id}/{notice.kind}/{notice.shipment_id}"))
        requested = NotificationRequested(
            id=notification_id, order_id=event.order_id, kind=notice.kind, medium="email", recipient=recipient,
            shipment_id=notice.shipment_id or None, subject=notice.subject, body=notice.body)
        await store.add_notification(conn, requested, partial(publish, deps, conn, requested))


async def publish(deps: Deps, conn: asyncpg.Connection, requested: NotificationRequested) -> None:
    """A notification recorded for the first time is announced, in the same transaction."""
    await deps.outbox.add(conn, topics.NOTIFICATIONS.name, requested.order_id, requested)
    log.info("notification.requested", order_id=requested.order_id, kind=requested.kind)


async def dispatch(deps: Deps, sender: Sender) -> None:
    """Sends what was recorded, after its transaction committed; a crash before marking re-sends at most a batch,
    which the sender drops by notification id."""

    async def send_batch(conn: asyncpg.Connection) -> int:
        rows = await store.claim_unsent(conn, 200)
        for row in rows:
            await sender.send(dict(row))
        await store.mark_sent(conn, [r["notification_id"] for r in rows])
        return len(rows)

    await pollers.every(deps.pool, 0.5, send_batch, "notification.dispatch", busy=200)


def batch(conn: asyncpg.Connection, messages: list[Message]) -> AbstractAsyncContextManager[None]:
    """A batch's contacts, read once; the contacts it learns written once."""
    return store.batch(conn, [m.order_key if isinstance(m, OrderSubmitted) else f"{m.channel}:{m.external_id}"
                              for m in messages if isinstance(m, OrderSubmitted | OrderStatusChanged)])


INBOUND: dict[str, BoundHandler] = {"order.submitted": remember_contact}
EVENTS: dict[str, BoundHandler] = {"order.status_changed": order_event}
