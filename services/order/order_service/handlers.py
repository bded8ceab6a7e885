"""The order service's handlers: inbound channel messages start or steer an order; replies move its saga."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord

from contracts import topics
from contracts.base import Message, SkuQuantity
from contracts.channels import ChannelMessage, OrderSubmitted
from contracts.order import OrderStatusChanged, Reason
from order_service import domain, saga, store
from shared import deadlines, inbox
from shared.consume import Unprocessable
from shared.handling import BoundHandler, transactional
from shared.logging import log
from shared.messaging import InvalidMessage
from shared.parking import REFUSED_FOR_GOOD, storable
from shared.service import Deps

COMMAND_TOPICS = {kind: topic.name for topic in (topics.INVENTORY_COMMANDS, topics.FULFILLMENT_COMMANDS,
                                                   topics.SHIPPING_COMMANDS) for kind in topic.message_types}


@dataclass
class Plan:
    """A decision made concrete: the saga after it, its events (one per status change) and what to send."""

    saga: saga.Saga
    sequence: int
    events: list[OrderStatusChanged]
    outgoing: list[tuple[str, str | None, Message]]
    deadline_at: datetime | None


def plan(row: Mapping[str, Any], decision: saga.Decision, now: datetime) -> Plan:
    """`now` on the database's clock (`Deps.clock`): the deadline is compared with it there."""
    sequence, previous = row["sequence"], row["status"] if row["sequence"] else None
    events = []
    for change in decision.changes:
        sequence += 1
        events.append(OrderStatusChanged(
            order_id=decision.saga.order_id, channel=row["channel"], external_id=row["external_id"],
            status=change.status, previous_status=previous, sequence=sequence, occurred_at=now, reason=change.reason,
            shipments=domain.shipments(decision.saga)))
        previous = change.status
    updated = saga.apply_changes(decision.saga, decision.changes)
    outgoing: list[tuple[str, str | None, Message]] = [(topics.ORDERS_EVENTS.name, e.order_id, e) for e in events]
    outgoing += [(COMMAND_TOPICS[c.type], updated.order_id, c) for c in decision.commands]
    return Plan(updated, sequence, events, outgoing, saga.deadline(now, decision))


async def record(deps: Deps, conn: asyncpg.Connection, planned: Plan) -> None:
    await deps.outbox.add_many(conn, planned.outgoing)
    for event in planned.events:
        log.info("order.status_changed", order_id=event.order_id, status=event.status, sequence=event.sequence)


async def apply(deps: Deps, conn: asyncpg.Connection, row: Mapping[str, Any], decision: saga.Decision) -> None:
    """Persists a decision: saga and status, a timeline row and an event per status change, the commands."""
    planned = plan(row, decision, deps.clock.now())
    await store.save(conn, planned.saga.order_id, planned.saga, planned.sequence, planned.deadline_at, planned.events)
    await record(deps, conn, planned)


@transactional
async def order_submitted(deps: Deps, conn: asyncpg.Connection, msg: OrderSubmitted) -> None:
    order_id = domain.order_id_for(msg.channel, msg.external_id)
    lines = [SkuQuantity(sku=line.sku, quantity=line.quantity) for line in msg.lines]
    new = saga.Saga(order_id=order_id, channel=msg.channel, external_id=msg.external_id, lines=lines,
                    ship_to=msg.shipping_address, service_level=msg.shipping_speed, currency=msg.currency,
                    unit_prices={line.sku: line.unit_price for line in msg.lines})
    payment = msg.payment.status if msg.payment else None
    decision = saga.start(new, payment, domain.address_problem(msg.shipping_address))
    planned = plan({"sequence": 0, "status": None, "channel": msg.channel, "external_id": msg.external_id}, decision,
                   deps.clock.now())
    if not await store.insert_order(conn, order_id, msg, planned.saga, planned.sequence, planned.deadline_at,
                                    planned.events):
        log.info("order.duplicate_submission", order_id=order_id)
        return
    await record(deps, conn, planned)


async def rejected_invalid(deps: Deps, invalid: InvalidMessage, record: ConsumerRecord) -> None:
    """A bad order.submitted whose channel and external id can be read: the channel is told why, once."""
    channel, external_id = invalid.body.get("channel"), invalid.body.get("external_id")
    if invalid.body.get("type") != "order.submitted" or not isinstance(channel, str) or not isinstance(external_id, str):
        return
    if not channel or not external_id:
        return
    order_id = domain.order_id_for(channel, external_id)
    event = OrderStatusChanged(order_id=order_id, channel=channel, external_id=external_id, status="rejected",
                               previous_status=None, sequence=1,
                               reason=Reason(code="invalid_message", message=storable(invalid.reason)))
    try:
        async with deps.pool.acquire() as conn, conn.transaction():
            if not await store.insert_rejected(conn, order_id, channel, external_id):
                return
            await store.add_timeline(conn, [event])
            await conn.execute("UPDATE orders SET sequence = 1 WHERE order_id = $1", order_id)
            await deps.outbox.add(conn, topics.ORDERS_EVENTS.name, order_id, event)
    except REFUSED_FOR_GOOD as exc:
        # ids no column or index can hold: no order row, but the channel still hears of it, once (by its order id)
        log.warning("order.rejected_unstorable", order_id=order_id, error=type(exc).__name__)
        async with deps.pool.acquire() as conn, conn.transaction():
            if await inbox.claim(conn, "order.rejected_unstorable", order_id):
                await deps.outbox.add(conn, topics.ORDERS_EVENTS.name, order_id, event)


@transactional
async def order_request(deps: Deps, conn: asyncpg.Connection, msg: ChannelMessage) -> None:
    """Cancel, hold release: steer the saga of the order the channel names."""
    order_id = domain.order_id_for(msg.channel, msg.external_id)
    row = await store.lock_order(conn, order_id)
    if row is None or row["saga"] == "{}":
        raise Unprocessable(f"no order {msg.order_key}")
    await apply(deps, conn, row, saga.decide(store.saga_of(row), msg))


@transactional
async def saga_reply(deps: Deps, conn: asyncpg.Connection, msg: Message) -> None:
    order_id = getattr(msg, "order_id")  # noqa: B009 - every reply carries one
    row = await store.lock_order(conn, order_id)
    if row is None:
        raise Unprocessable(f"no order {order_id}")
    await apply(deps, conn, row, saga.decide(store.saga_of(row), msg))


async def expire_deadlines(deps: Deps) -> None:
    """The saga's own deadlines: a step past its time is fed to `decide` as `StepTimedOut` (an inventory that did
    not answer is asked again, then the order is held for a person). The clock stands still while the broker is
    away (`shared.deadlines`)."""
    async def expire(conn: asyncpg.Connection) -> int:
        rows = await store.claim_expired(conn, 100)
        async with store.batch(conn, [row["order_id"] for row in rows]):
            for row in rows:
                log.warning("order.step_timed_out", order_id=row["order_id"], state=row["saga_state"])
                timed_out = saga.StepTimedOut(order_id=row["order_id"], state=row["saga_state"])
                locked = await store.lock_order(conn, row["order_id"])
                assert locked is not None
                await apply(deps, conn, locked, saga.decide(store.saga_of(locked), timed_out))
        return len(rows)

    await deadlines.every_second_unless_paused(deps.pool, deps.settings.kafka_bootstrap, deps.service,
                                               [("orders", "deadline_at")], expire, "order.deadlines")


def batch(conn: asyncpg.Connection, messages: list[Message]) -> AbstractAsyncContextManager[None]:
    """A batch transaction's orders, locked in id order and read once, written back once (`store.batch`)."""
    ids = [domain.order_id_for(m.channel, m.external_id) if isinstance(m, ChannelMessage)
           else str(getattr(m, "order_id")) for m in messages]  # noqa: B009 - every reply names its order
    return store.batch(conn, ids)


INBOUND: dict[str, BoundHandler] = {
    "order.submitted": order_submitted, "order.cancel_requested": order_request,
    "order.hold_released": order_request}
REPLIES: dict[str, BoundHandler] = {
    kind: saga_reply for topic in (topics.INVENTORY_REPLIES, topics.FULFILLMENT_EVENTS, topics.SHIPPING_EVENTS)
    for kind in topic.message_types}
