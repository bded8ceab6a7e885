"""The order service's wiring: the inbound topic, and the replies and events that move each saga."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts import topics
from order_service.handlers import INBOUND, REPLIES, batch, rejected_invalid
from shared.consume import Subscription
from shared.handling import bind
from shared.service import Deps, ServiceRuntime


def subscriptions(deps: Deps) -> list[Subscription]:
    return [
        Subscription(topics.ORDERS_INBOUND, (topics.ORDERS_INBOUND.name,), bind(deps, INBOUND),
                     on_invalid=partial(rejected_invalid, deps), batch=batch),
        Subscription(topics.INVENTORY_REPLIES, (topics.INVENTORY_REPLIES.name,), bind(deps, REPLIES), batch=batch),
        Subscription(topics.FULFILLMENT_EVENTS, (topics.FULFILLMENT_EVENTS.name,), bind(deps, REPLIES), batch=batch),
        Subscription(topics.SHIPPING_EVENTS, (topics.SHIPPING_EVENTS.name,), bind(deps, REPLIES), batch=batch),
    ]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("order", Path(__file__).parent / "sql", subscriptions)
