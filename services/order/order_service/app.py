"""The order service's wiring: the inbound topic, and the replies and events that move each saga."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts import topics
from order_service.handlers import INBOUND, REPLIES, batch, expire_deadlines, rejected_invalid
from shared.consume import Subscription
from shared.handling import bind
from shared.service import Deps, ServiceRuntime

TRACKING_TOPICS = (topics.FULFILLMENT_EVENTS, topics.SHIPPING_EVENTS)


def subscriptions(deps: Deps) -> list[Subscription]:
    """Two consumers. `order.saga` reads what starts an order and the inventory's replies: the path to `released`,
    which a placed order travels at once. `order.tracking` reads the fulfillment and shipping events that follow
    it, several per order: in a consumer of their own, an order on its way to `released` no longer waits for the
    transactions that record how others are packed and carried (both lock the orders they touch in id order).

    Until 2026-11 the inbound topic and the replies had groups of their own (the replies first one per topic, then
    `order.saga-replies`), then `order.saga` read all four: each group starts where those stopped."""
    replies = bind(deps, REPLIES)
    return [
        Subscription(topics.ORDERS_INBOUND, (topics.ORDERS_INBOUND.name, topics.INVENTORY_REPLIES.name),
                     bind(deps, INBOUND), on_invalid=partial(rejected_invalid, deps), batch=batch,
                     by_topic={topics.INVENTORY_REPLIES.name: replies}, also=(topics.INVENTORY_REPLIES,),
                     group_name="saga", replaces=(topics.ORDERS_INBOUND.name, topics.INVENTORY_REPLIES.name,
                                                  "saga-replies"), urgent=True),
        Subscription(topics.FULFILLMENT_EVENTS, tuple(t.name for t in TRACKING_TOPICS), replies, batch=batch,
                     also=TRACKING_TOPICS, group_name="tracking",
                     replaces=(*(t.name for t in TRACKING_TOPICS), "saga-replies", "saga")),
    ]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("order", Path(__file__).parent / "sql", subscriptions, background=[expire_deadlines])
