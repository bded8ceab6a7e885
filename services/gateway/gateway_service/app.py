"""The gateway's wiring: the read model's consumers, and beside them in one process its tasks: the HTTP server
(`server.py`), the webhook deliveries (`webhooks.py`), forgetting old answers, masking personal data."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts import topics
from gateway_service.bootstrap import GatewayDeps, bootstrap
from gateway_service.handlers import EVENTS, INBOUND, NOTIFICATIONS, PAYMENTS, from_channel
from gateway_service.server import forget_answered, http_server
from gateway_service.store import GatewayWork
from gateway_service.webhooks import webhook_dispatcher
from runtime.consume import Subscription
from runtime.personal_data import retention
from runtime.service import ServiceRuntime


def subscriptions(deps: GatewayDeps) -> list[Subscription]:
    work = partial(GatewayWork, deps)
    channels = {topics.channel_topic(c): from_channel(c) for c in deps.network.channels}
    return [
        # what happened to each order: its events, the notifications it was sent (the desk shows them; webhook
        # subscribers may want them) and its captures and refunds, in one consumer and a transaction per batch
        Subscription(topics.ORDERS_EVENTS, (topics.ORDERS_EVENTS.name, topics.NOTIFICATIONS.name,
                                            topics.PAYMENTS.name), EVENTS, work, dead_letter_invalid=False,
                     by_topic={topics.NOTIFICATIONS.name: NOTIFICATIONS, topics.PAYMENTS.name: PAYMENTS},
                     also=(topics.NOTIFICATIONS, topics.PAYMENTS),
                     replaces=(topics.NOTIFICATIONS.name,)),  # the notifications' own group of before
        Subscription(topics.ORDERS_INBOUND, (topics.ORDERS_INBOUND.name, *channels), INBOUND, work,
                     dead_letter_invalid=False, by_topic=channels, also=(topics.CHANNEL_INBOUND,)),
    ]


def runtime() -> ServiceRuntime[GatewayDeps]:
    return ServiceRuntime("gateway", Path(__file__).parent / "sql", bootstrap, subscriptions,
                          background=[http_server, webhook_dispatcher, forget_answered, retention()])
