"""The shipping service's wiring: booking commands in, every carrier's updates topic followed."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from shared.consume import Subscription
from shared.handling import bind
from shared.service import Deps, ServiceRuntime
from shipping_service.handlers import COMMANDS, batch, expire_silent_carriers, updates_from


def subscriptions(deps: Deps) -> list[Subscription]:
    """Every carrier's updates topic is read by one consumer (a carrier is told by the topic its update came on)."""
    carriers = {topics.CARRIER_UPDATES.for_partner(c.id): bind(deps, updates_from(c.id)) for c in deps.network.carriers}
    updates = [Subscription(topics.CARRIER_UPDATES, tuple(carriers), {}, batch=batch, by_topic=carriers)]
    return [Subscription(topics.SHIPPING_COMMANDS, (topics.SHIPPING_COMMANDS.name,), bind(deps, COMMANDS),
                         batch=batch), *(updates if carriers else [])]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("shipping", Path(__file__).parent / "sql", subscriptions, background=[expire_silent_carriers])
