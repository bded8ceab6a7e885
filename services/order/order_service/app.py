"""The order service's wiring: the inbound topic, and the replies and events that move each saga."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import asyncpg

from contracts import topics
from contracts.base import Message
from order_service.bootstrap import bootstrap
from order_service.handlers import (
    INBOUND,
    OPERATOR_REQUESTS,
    REPLIES,
    check_promises,
    expire,
    from_channel,
    number_documents,
    rejected_invalid,
)
from order_service.store import OrderWork
from runtime import metrics, pollers
from runtime.consume import Subscription
from runtime.deadlines import every_second_unless_paused, on_tick, poller
from runtime.deps import Deps
from runtime.personal_data import retention
from runtime.service import ServiceRuntime

TRACKING_TOPICS = (topics.FULFILLMENT_EVENTS, topics.SHIPPING_EVENTS, topics.PAYMENT_UPDATES)


def subscriptions(deps: Deps) -> list[Subscription]:
    """Two consumers. `order.saga` reads what starts an order and the inventory's replies: the path to `released`,
    which a placed order travels at once. `order.tracking` reads the fulfillment and shipping events that follow
    it, several per order, and the payment side's answers to captures: in a consumer of their own, an order on its
    way to `released` no longer waits for the transactions that record how others are packed and carried (both
    lock the orders they touch in id order).

    Earlier versions read these topics in other groups (`replaces`): each group starts where those stopped."""
    work = partial(OrderWork, deps)
    channels = {topics.channel_topic(c): from_channel(c) for c in deps.network.channels}
    return [
        Subscription(topics.ORDERS_INBOUND, (topics.ORDERS_INBOUND.name, *channels, topics.INVENTORY_REPLIES.name),
                     INBOUND | OPERATOR_REQUESTS, work, on_invalid=rejected_invalid,
                     invalid_from=(topics.CHANNEL_INBOUND,),
                     by_topic={topics.INVENTORY_REPLIES.name: REPLIES, **channels},
                     also=(topics.INVENTORY_REPLIES, topics.CHANNEL_INBOUND),
                     group_name="saga", replaces=(topics.ORDERS_INBOUND.name, topics.INVENTORY_REPLIES.name,
                                                  "saga-replies"), urgent=True),
        Subscription(topics.FULFILLMENT_EVENTS, tuple(t.name for t in TRACKING_TOPICS), REPLIES, work,
                     also=TRACKING_TOPICS, group_name="tracking", ignores=captured,
                     replaces=(*(t.name for t in TRACKING_TOPICS), "saga-replies", "saga")),
    ]


async def promise_watcher(deps: Deps) -> None:
    """Each second, the shipments past a promise (their times are the customer's: a broker outage moves none)."""
    await every_second_unless_paused(deps.pool, deps.kafka, f"{deps.service}.promises", [],
                                     on_tick(partial(OrderWork, deps), check_promises), "order.promises")


async def document_numbers(deps: Deps) -> None:
    """Each second, the invoices and credit notes issued meanwhile are numbered."""
    await pollers.every(deps.pool, 1, number_documents, "order.documents")


def captured(message: Message) -> bool:
    """The payment side took a shipment's money: nothing changes (a failure holds the order)."""
    return message.type == "payment.captured"


async def saga_gauges(conn: asyncpg.Connection) -> None:
    """Orders per status, and steps past their deadline that the poller has not acted on yet."""
    for row in await conn.fetch("SELECT status, count(*) AS n FROM orders GROUP BY status"):
        metrics.ORDERS.labels(row["status"]).set(row["n"])
    metrics.OVERDUE.set(await conn.fetchval("SELECT count(*) FROM orders WHERE deadline_at < now()"))


def runtime() -> ServiceRuntime[Deps]:
    return ServiceRuntime("order", Path(__file__).parent / "sql", bootstrap, subscriptions,
                          background=[poller("orders", OrderWork, expire), promise_watcher, retention(),
                                      document_numbers],
                          probes=[saga_gauges])
