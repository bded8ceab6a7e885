"""The order service's wiring: the inbound topic, and the replies and events that move each saga."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts import topics
from order_service.handlers import INBOUND, REPLIES, batch, rejected_invalid
from shared.consume import Subscription
from shared.handling import bind
from shared.service import Deps, ServiceRuntime

REPLY_TOPICS = (topics.INVENTORY_REPLIES, topics.FULFILLMENT_EVENTS, topics.SHIPPING_EVENTS)


def subscriptions(deps: Deps) -> list[Subscription]:
    """One consumer for the inbound topic and every reply that moves a saga (group `order.saga`). Until 2026-11 the
    inbound topic and the replies had groups of their own (the replies first one per topic, then
    `order.saga-replies`): it starts where they stopped."""
    replies = bind(deps, REPLIES)
    return [
        Subscription(topics.ORDERS_INBOUND, (topics.ORDERS_INBOUND.name, *(t.name for t in REPLY_TOPICS)),
                     bind(deps, INBOUND), on_invalid=partial(rejected_invalid, deps), batch=batch,
                     by_topic={t.name: replies for t in REPLY_TOPICS}, also=REPLY_TOPICS, group_name="saga",
                     replaces=(topics.ORDERS_INBOUND.name, *(t.name for t in REPLY_TOPICS), "saga-replies")),
    ]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("order", Path(__file__).parent / "sql", subscriptions)
