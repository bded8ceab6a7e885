"""The order service's handlers: inbound channel messages start or steer an order; replies move its saga."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from contracts import topics
from contracts.base import Message, SkuQuantity
from contracts.channels import (
    ChannelMessage,
    FulfillmentMoveRequested,
    OrderChangeRequested,
    OrderHoldReleased,
    OrderHoldRequested,
    OrderLine,
    OrderNoteAdded,
    OrderReturnRequested,
    OrderSubmitted,
    Payment,
    RefundGoodwillRequested,
)
from contracts.order import OrderStatusChanged, Reason
from contracts.promises import PromiseRequested, QuoteStock, StockQuoted
from order_service import domain, saga, store
from order_service.store import Order, OrderWork
from runtime import metrics
from runtime.consume import Unprocessable
from runtime.deps import Deps
from runtime.logging import log
from runtime.messaging import InvalidMessage
from runtime.parking import REFUSED_FOR_GOOD, storable
from runtime.pollers import Tick
from runtime.unit import Handler

COMMAND_TOPICS = {kind: topic.name for topic in (topics.INVENTORY_COMMANDS, topics.FULFILLMENT_COMMANDS,
                                                   topics.SHIPPING_COMMANDS, topics.PAYMENTS)
                  for kind in topic.message_types} | {"order.submitted": topics.ORDERS_INBOUND.name}


@dataclass
class Plan:
    """A decision made concrete: the saga after it, its events (one per status change) and what to send."""

    saga: saga.Saga
    sequence: int
    events: list[OrderStatusChanged]
    outgoing: list[tuple[str, str | None, Message]]
    deadline_at: datetime | None


def plan(row: Order, decision: saga.Decision, now: datetime) -> Plan:
    """`now` on the database's clock (`Deps.clock`): the deadline is compared with it there."""
    sequence, previous = row.sequence, row.status if row.sequence else None
    events = []
    for change in decision.changes:
        sequence += 1
        events.append(OrderStatusChanged(
            order_id=decision.saga.order_id, channel=row.channel, external_id=row.external_id,
            status=change.status, previous_status=previous, sequence=sequence, occurred_at=now, reason=change.reason,
            shipments=domain.shipments(decision.saga), returns=domain.returns(decision.saga)))
        previous = change.status
    updated = saga.apply_changes(decision.saga, decision.changes)
    outgoing: list[tuple[str, str | None, Message]] = [(topics.ORDERS_EVENTS.name, e.order_id, e) for e in events]
    outgoing += [(COMMAND_TOPICS[c.type], c.order_key if isinstance(c, ChannelMessage) else updated.order_id, c)
                 for c in (exchanged(row, updated, c, now) if isinstance(c, saga.ExchangeOrder) else c
                           for c in decision.commands)]
    return Plan(updated, sequence, events, outgoing, saga.deadline(now, decision))


def exchanged(row: Order, current: saga.Saga, exchange: saga.ExchangeOrder, now: datetime) -> Message:
    """The exchange's new order, placed as the channel would (through the inbound topic, so every service learns of
    it as of any order): the same customer, channel and address, the replacements at the original's prices, paid by
    the return. Its message id follows from the return: placed once however often this runs."""
    return OrderSubmitted(
        id=str(uuid.uuid5(domain.ORDER_NAMESPACE, f"exchange:{exchange.return_id}")), channel=current.channel,
        external_id=exchange.external_id, placed_at=now, currency=current.currency,
        customer=row.customer_model(), shipping_address=current.ship_to,
        lines=[OrderLine(sku=line.sku, quantity=line.quantity, unit_price=current.unit_prices.get(line.sku, "0.00"))
               for line in exchange.lines],
        shipping_speed="express" if current.service_level == "express" else "standard",
        payment=Payment(status="captured", reference=f"exchange:{exchange.return_id}"))  # taken with the original


CHANNEL_COPIED = frozenset((topics.ORDERS_EVENTS.name, topics.PAYMENTS.name))


def published(deps: Deps, topic: str, channel: str) -> str:
    """Where a message goes: order events and payments also to the order's channel's own events topic (one outbox
    row for both), the only one that channel may read."""
    if topic in CHANNEL_COPIED and channel in deps.network.channels:
        return topics.to_each(topic, topics.channel_events_topic(channel))
    return topic


MONEY = frozenset(("payment.capture_requested", "refund.requested"))  # each a document of the money trail


def record(unit: OrderWork, planned: Plan) -> None:
    for topic, key, message in planned.outgoing:
        unit.send(published(unit.deps, topic, planned.saga.channel), key, message)
        if message.type in MONEY:
            unit.orders.issue(planned.saga.channel, message, unit.now())
    for event in planned.events:
        log.info("order.status_changed", order_id=event.order_id, status=event.status, sequence=event.sequence)
        if event.reason is not None and event.reason.code == "capture_failed" and event.previous_status != "on_hold":
            log.error("order.capture_failed", order_id=event.order_id)  # error level: an operator alert
        metrics.STATUS_CHANGES.labels(event.status).inc()


def apply(unit: OrderWork, row: Order, decision: saga.Decision, exact_promise: bool = False) -> None:
    """Persists a decision: saga and status, a timeline row and an event per status change, the commands."""
    now = unit.now()
    planned = plan(row, saga.with_promises(decision, unit.deps.network, now), now)
    unit.orders.save_saga(planned.saga, planned.sequence, planned.deadline_at, planned.events, exact_promise)
    record(unit, planned)
    received = row.created_at
    if received is not None and any(e.status == "released" != e.previous_status for e in planned.events):
        metrics.TO_RELEASED.observe((now - received).total_seconds())


async def order_submitted(msg: OrderSubmitted, unit: OrderWork) -> None:
    order_id = domain.order_id_for(msg.channel, msg.external_id)
    lines = [SkuQuantity(sku=line.sku, quantity=line.quantity) for line in msg.lines]
    store = next((loc for loc in unit.deps.network.locations if loc.id == msg.pickup_location_id), None)
    new = saga.Saga(order_id=order_id, channel=msg.channel, external_id=msg.external_id, lines=lines,
                    ship_to=domain.pickup_address(store, msg.customer.name) if store else msg.shipping_address,
                    service_level=msg.shipping_speed, currency=msg.currency,
                    unit_prices={line.sku: line.unit_price for line in msg.lines},
                    payment_reference=msg.payment.reference if msg.payment else None,
                    paid=msg.payment is not None and msg.payment.status in ("authorized", "captured"),
                    ledger=domain.ledger(msg), refund_shipping=msg.channel not in unit.deps.network.keeps_shipping,
                    pickup_location_id=msg.pickup_location_id, quote_id=msg.quote_id,
                    window=msg.delivery.window if msg.delivery and not msg.pickup_location_id else None)
    payment = msg.payment.status if msg.payment else None
    pickup_problem = f"no location {msg.pickup_location_id} to collect from" if (
        msg.pickup_location_id and store is None) else None
    decision = saga.start(new, payment, None if store else domain.address_problem(msg.shipping_address),
                          pickup_problem)
    unborn = Order(order_id=order_id, channel=msg.channel, external_id=msg.external_id,
                   customer=msg.customer.model_dump_json(), status="received", saga_state="", saga="", sequence=0,
                   deadline_at=None, promise_at=None)
    planned = plan(unborn, decision, unit.now())
    if not unit.orders.add_order(msg, planned.saga, planned.sequence, planned.deadline_at, planned.events):
        log.info("order.duplicate_submission", order_id=order_id)
        return
    record(unit, planned)


async def reject(invalid: InvalidMessage, unit: OrderWork) -> None:
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
        async with unit.savepoint():
            await unit.orders.load_keys([order_id])
            if unit.orders.add_rejected(order_id, channel, external_id, event):
                unit.send(published(unit.deps, topics.ORDERS_EVENTS.name, channel), order_id, event)
            await unit.flush()
    except REFUSED_FOR_GOOD as exc:
        # ids no column or index can hold: no order row, but the channel still hears of it, once (by its order id)
        log.warning("order.rejected_unstorable", order_id=order_id, error=type(exc).__name__)
        if await unit.db.claim("order.rejected_unstorable", [order_id]):
            unit.send(published(unit.deps, topics.ORDERS_EVENTS.name, channel), order_id, event)
            await unit.flush()


async def rejected_invalid(invalid: InvalidMessage, unit: OrderWork) -> None:
    """`reject`, the handler of what could not be read (`Subscription.on_invalid`); on a channel's own topic, only a
    message that names that channel (anything else is only dead-lettered)."""
    if invalid.topic and topics.CHANNEL_INBOUND.matches(invalid.topic) and \
            invalid.topic != topics.channel_topic(str(invalid.body.get("channel"))):
        return
    await reject(invalid, unit)


async def order_request(msg: ChannelMessage, unit: OrderWork) -> None:
    """Cancel, hold release: steer the saga of the order the channel names."""
    row, current = await order_of(msg, unit)
    apply(unit, row, saga.decide(current, msg))


async def order_of(msg: ChannelMessage, unit: OrderWork) -> tuple[Order, saga.Saga]:
    """The order a channel message names, with its saga; a message for an order the OMS does not know cannot apply."""
    row = await unit.orders.get(domain.order_id_for(msg.channel, msg.external_id))
    current = unit.orders.saga(row) if row is not None else None
    if row is None or current is None:
        raise Unprocessable(f"no order {msg.order_key}")
    return row, current


async def change_requested(msg: OrderChangeRequested, unit: OrderWork) -> None:
    """A new address or speed: the new address checked as at intake."""
    row, current = await order_of(msg, unit)
    problem = domain.address_problem(msg.shipping_address) if msg.shipping_address else None
    apply(unit, row, saga.change(current, msg, problem))


async def return_requested(msg: OrderReturnRequested, unit: OrderWork) -> None:
    """A customer sends delivered lines back: checked against what was delivered and the location's rules."""
    row, current = await order_of(msg, unit)
    location = next((loc for loc in unit.deps.network.locations if loc.id == msg.return_location_id), None)
    expiry = timedelta(days=unit.deps.settings.return_expiry_days)
    apply(unit, row, saga.request_return(current, msg, location is not None and location.takes_returns, unit.now(),
                                        expiry))


async def saga_reply(msg: Message, unit: OrderWork) -> None:
    order_id = getattr(msg, "order_id")  # noqa: B009 - every reply carries one
    row = await unit.orders.get(order_id)
    if row is None:
        raise Unprocessable(f"no order {order_id}")
    current = unit.orders.saga(row)
    if current is None:
        raise Unprocessable(f"order {order_id} was rejected")
    apply(unit, row, saga.decide(current, msg))


async def number_documents(conn: asyncpg.Connection) -> int:
    """Invoices and credit notes issued since the last round get their numbers (one round at a time)."""
    await conn.execute(store.NUMBERING_LOCK)
    return await store.NUMBER_DOCUMENTS.run(conn)


async def expire(tick: Tick, unit: OrderWork) -> None:
    """The saga's own deadlines: a step past its time is fed to `decide` as `StepTimedOut` (an inventory that did
    not answer is asked again, then the order is held for a person)."""
    rows = await unit.orders.expired(tick.limit)
    for row in rows:
        log.warning("order.step_timed_out", order_id=row.order_id, state=row.saga_state)
        current = unit.orders.saga(row)
        assert current is not None
        timed_out = saga.StepTimedOut(order_id=row.order_id, state=row.saga_state, at=tick.at)
        apply(unit, row, saga.decide(current, timed_out))


async def check_promises(tick: Tick, unit: OrderWork) -> None:
    """What fell due on the orders' clock: each broken promise published once (operators alerted), a pickup's
    reminder or its cancellation; a time that passed with nothing due is moved on."""
    rows = await unit.orders.promises_due(tick.limit)
    for row in rows:
        current = unit.orders.saga(row)
        assert current is not None
        decision = saga.decide(current, saga.PromisesDue(order_id=row.order_id, at=tick.at))
        for change in decision.changes:
            log.warning("order.clock", order_id=row.order_id, code=change.reason.code if change.reason else None)
        apply(unit, row, decision, exact_promise=True)


def from_channel(channel: str) -> dict[str, Handler[OrderWork]]:
    """The handlers of one channel's own topic: what arrives there speaks for that channel only, so a message naming
    another channel changes nothing (dead-lettered with the reason)."""
    def checked(handler: Handler[OrderWork]) -> Handler[OrderWork]:
        async def handle(msg: ChannelMessage | PromiseRequested, unit: OrderWork) -> None:
            if msg.channel != channel:
                log.warning("order.other_channel_named", sender=channel, named=msg.channel)
                raise Unprocessable(f"a message on {channel}'s topic names channel {msg.channel}: it changes nothing")
            await handler(msg, unit)
        return handle
    return {kind: checked(handler) for kind, handler in (INBOUND | {"order.hold_released": release_by_channel}).items()}


async def release_by_channel(msg: OrderHoldReleased, unit: OrderWork) -> None:
    """A hold release from a channel's own topic: only a hold the channel can resolve."""
    row, current = await order_of(msg, unit)
    apply(unit, row, saga.release_by_channel(current, msg))


async def operator_request(msg: OrderHoldRequested | OrderNoteAdded | FulfillmentMoveRequested
                           | RefundGoodwillRequested, unit: OrderWork) -> None:
    """A hold, a note, a move or a goodwill refund from the desk or an operator, by order id (only on the shared
    inbound topic: a channel's own topic takes none)."""
    row = await unit.orders.get(msg.order_id)
    current = unit.orders.saga(row) if row is not None else None
    if row is None or current is None:
        raise Unprocessable(f"no order {msg.order_id}")
    match msg:
        case OrderHoldRequested():
            apply(unit, row, saga.hold(current, msg))
        case OrderNoteAdded():
            apply(unit, row, saga.note(current, msg))
        case FulfillmentMoveRequested():
            apply(unit, row, saga.move(current, msg))
        case RefundGoodwillRequested():
            apply(unit, row, saga.goodwill(current, msg))


async def for_notifications(msg: Message, unit: OrderWork) -> None:
    """A resend is the notification service's: nothing for the order to do (not a message gone astray)."""


async def promise_requested(msg: PromiseRequested, unit: OrderWork) -> None:
    """A channel asks what would be promised: inventory quotes it (it holds the stock the plan rests on)."""
    unit.send(topics.INVENTORY_COMMANDS.name, msg.id, QuoteStock(request=msg))


async def stock_quoted(msg: StockQuoted, unit: OrderWork) -> None:
    """Inventory's quote, to the channel that asked (and to the gateway, which may wait to answer it over HTTP)."""
    quoted = msg.quoted
    unit.send(topics.to_each(topics.channel_events_topic(quoted.channel), topics.QUOTES.name), quoted.request_id,
              quoted)


INBOUND: dict[str, Handler[OrderWork]] = {
    "order.submitted": order_submitted, "order.cancel_requested": order_request,
    "order.hold_released": order_request, "order.return_requested": return_requested,
    "order.change_requested": change_requested, "promise.requested": promise_requested}
OPERATOR_REQUESTS: dict[str, Handler[OrderWork]] = {"order.hold_requested": operator_request,
                                                    "order.note_added": operator_request,
                                                    "fulfillment.move_requested": operator_request,
                                                    "refund.goodwill_requested": operator_request,
                                                    "notification.resend_requested": for_notifications}
REPLIES: dict[str, Handler[OrderWork]] = {
    kind: saga_reply for topic in (topics.INVENTORY_REPLIES, topics.FULFILLMENT_EVENTS, topics.SHIPPING_EVENTS,
                                   topics.PAYMENT_UPDATES)
    for kind in topic.message_types} | {"inventory.stock_quoted": stock_quoted}
