"""The order service's handlers: inbound channel messages start or steer an order; replies move its saga."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiokafka.structs import ConsumerRecord

from contracts import topics
from contracts.base import Message, SkuQuantity
from contracts.channels import ChannelMessage, OrderSubmitted
from contracts.order import OrderStatusChanged, Reason
from order_service import domain, saga, store
from shared.consume import Unprocessable
from shared.handling import BoundHandler, transactional
from shared.logging import log
from shared.messaging import InvalidMessage
from shared.service import Deps

COMMAND_TOPICS = {kind: topic.name for topic in (topics.INVENTORY_COMMANDS, topics.FULFILLMENT_COMMANDS,
                                                   topics.SHIPPING_COMMANDS) for kind in topic.message_types}


async def apply(deps: Deps, conn: asyncpg.Connection, row: asyncpg.Record | None, decision: saga.Decision) -> None:
    """Persists a decision: saga and status, a timeline row and an event per status change, the commands."""
    assert row is not None
    now = datetime.now(UTC)
    sequence, previous = row["sequence"], row["status"] if row["sequence"] else None
    updated = decision.saga
    outgoing: list[tuple[str, str | None, Message]] = []
    for change in decision.changes:
        sequence += 1
        event = OrderStatusChanged(
            order_id=updated.order_id, channel=row["channel"], external_id=row["external_id"], status=change.status,
            previous_status=previous, sequence=sequence, occurred_at=now, reason=change.reason,
            shipments=domain.shipments(updated))
        await store.add_timeline(conn, event)
        outgoing.append((topics.ORDERS_EVENTS.name, updated.order_id, event))
        previous = change.status
        log.info("order.status_changed", order_id=updated.order_id, status=change.status, sequence=sequence)
    updated = saga.apply_changes(updated, decision.changes)
    outgoing += [(COMMAND_TOPICS[c.type], updated.order_id, c) for c in decision.commands]
    await deps.outbox.add_many(conn, outgoing)
    await store.save(conn, updated.order_id, updated, sequence, saga.deadline(now, decision))


@transactional
async def order_submitted(deps: Deps, conn: asyncpg.Connection, msg: OrderSubmitted) -> None:
    order_id = domain.order_id_for(msg.channel, msg.external_id)
    prices = {line.sku: line.unit_price for line in msg.lines}
    lines = [SkuQuantity(sku=line.sku, quantity=line.quantity) for line in msg.lines]
    new = saga.Saga(order_id=order_id, channel=msg.channel, external_id=msg.external_id, lines=lines,
                    ship_to=msg.shipping_address, service_level=msg.shipping_speed, currency=msg.currency,
                    unit_prices=prices)
    if not await store.insert_order(conn, order_id, msg, new):
        log.info("order.duplicate_submission", order_id=order_id)
        return
    payment = msg.payment.status if msg.payment else None
    decision = saga.start(new, payment, domain.address_problem(msg.shipping_address))
    await apply(deps, conn, await store.lock_order(conn, order_id), decision)


async def rejected_invalid(deps: Deps, invalid: InvalidMessage, record: ConsumerRecord) -> None:
    """A bad order.submitted whose channel and external id can be read: the channel is told why."""
    channel, external_id = invalid.body.get("channel"), invalid.body.get("external_id")
    if invalid.body.get("type") != "order.submitted" or not isinstance(channel, str) or not isinstance(external_id, str):
        return
    if not channel or not external_id:
        return
    order_id = domain.order_id_for(channel, external_id)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await store.insert_rejected(conn, order_id, channel, external_id):
            return
        event = OrderStatusChanged(order_id=order_id, channel=channel, external_id=external_id, status="rejected",
                                   previous_status=None, sequence=1,
                                   reason=Reason(code="invalid_message", message=invalid.reason))
        await store.add_timeline(conn, event)
        await conn.execute("UPDATE orders SET sequence = 1 WHERE order_id = $1", order_id)
        await deps.outbox.add(conn, topics.ORDERS_EVENTS.name, order_id, event)


@transactional
async def order_request(deps: Deps, conn: asyncpg.Connection, msg: ChannelMessage) -> None:
    """Cancel, hold release: steer the saga of the order the channel names."""
    order_id = domain.order_id_for(msg.channel, msg.external_id)
    row = await store.lock_order(conn, order_id)
    if row is None or not row["saga"] or row["saga"] == "{}":
        raise Unprocessable(f"no order {msg.order_key}")
    await apply(deps, conn, row, saga.decide(saga.Saga.model_validate_json(row["saga"]), msg))


@transactional
async def saga_reply(deps: Deps, conn: asyncpg.Connection, msg: Message) -> None:
    order_id = getattr(msg, "order_id")  # noqa: B009 - every reply carries one
    row = await store.lock_order(conn, order_id)
    if row is None:
        raise Unprocessable(f"no order {order_id}")
    await apply(deps, conn, row, saga.decide(saga.Saga.model_validate_json(row["saga"]), msg))


INBOUND: dict[str, BoundHandler] = {
    "order.submitted": order_submitted, "order.cancel_requested": order_request,
    "order.hold_released": order_request}
REPLIES: dict[str, BoundHandler] = {
    kind: saga_reply for topic in (topics.INVENTORY_REPLIES, topics.FULFILLMENT_EVENTS, topics.SHIPPING_EVENTS)
    for kind in topic.message_types}
