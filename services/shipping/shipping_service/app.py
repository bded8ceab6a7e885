"""The shipping service's wiring: booking commands in, every carrier's updates topic followed."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from shared.consume import Subscription
from shared.handling import bind
from shared.service import Deps, ServiceRuntime
from shipping_service.handlers import COMMANDS, UPDATES, prelock


def subscriptions(deps: Deps) -> list[Subscription]:
    updates = tuple(topics.CARRIER_UPDATES.for_partner(c.id) for c in deps.network.carriers)
    return [
        Subscription(topics.SHIPPING_COMMANDS, (topics.SHIPPING_COMMANDS.name,), bind(deps, COMMANDS), prelock=prelock),
        Subscription(topics.CARRIER_UPDATES, updates, bind(deps, UPDATES), prelock=prelock),
    ]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("shipping", Path(__file__).parent / "sql", subscriptions)
