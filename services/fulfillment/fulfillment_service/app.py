"""The fulfillment service's wiring: saga commands in, every location's updates topic followed."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from fulfillment_service.handlers import COMMANDS, UPDATES, batch, expire_silent_warehouses
from shared.consume import Subscription
from shared.handling import bind
from shared.service import Deps, ServiceRuntime


def subscriptions(deps: Deps) -> list[Subscription]:
    """One consumer (group `fulfillment.work`) for the saga's commands and every location's updates. Until 2026-11
    each had a group of its own: it starts where they stopped."""
    updates = tuple(topics.WAREHOUSE_UPDATES.for_partner(loc.id) for loc in deps.network.locations)
    handlers = bind(deps, UPDATES)
    return [
        Subscription(topics.FULFILLMENT_COMMANDS, (topics.FULFILLMENT_COMMANDS.name, *updates), bind(deps, COMMANDS),
                     batch=batch, by_topic={name: handlers for name in updates}, also=(topics.WAREHOUSE_UPDATES,),
                     group_name="work", replaces=(topics.FULFILLMENT_COMMANDS.name,
                                                  topics.WAREHOUSE_UPDATES.for_partner("all"))),
    ]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("fulfillment", Path(__file__).parent / "sql", subscriptions,
                          background=[expire_silent_warehouses])
