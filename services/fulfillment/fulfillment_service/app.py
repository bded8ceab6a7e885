"""The fulfillment service's wiring: saga commands in, every location's updates topic followed."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from fulfillment_service.handlers import COMMANDS, UPDATES, batch, expire_silent_warehouses
from shared.consume import Subscription
from shared.handling import bind
from shared.service import Deps, ServiceRuntime


def subscriptions(deps: Deps) -> list[Subscription]:
    updates = tuple(topics.WAREHOUSE_UPDATES.for_partner(loc.id) for loc in deps.network.locations)
    return [
        Subscription(topics.FULFILLMENT_COMMANDS, (topics.FULFILLMENT_COMMANDS.name,), bind(deps, COMMANDS),
                     batch=batch),
        Subscription(topics.WAREHOUSE_UPDATES, updates, bind(deps, UPDATES), batch=batch),
    ]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("fulfillment", Path(__file__).parent / "sql", subscriptions,
                          background=[expire_silent_warehouses])
