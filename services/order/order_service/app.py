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
    return [
        Subscription(topics.ORDERS_INBOUND, (topics.ORDERS_INBOUND.name,), bind(deps, INBOUND),
                     on_invalid=partial(rejected_invalid, deps), batch=batch),
        # one consumer for every reply that moves a saga (until 2026-11 one per topic: it starts where they stopped)
        Subscription(topics.INVENTORY_REPLIES, tuple(t.name for t in REPLY_TOPICS), bind(deps, REPLIES), batch=batch,
                     also=REPLY_TOPICS[1:], group_name="saga-replies", replaces=tuple(t.name for t in REPLY_TOPICS)),
    ]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("order", Path(__file__).parent / "sql", subscriptions)
