"""The fulfillment service's wiring: saga commands in, every location's updates topic followed."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts import topics
from fulfillment_service.bootstrap import bootstrap
from fulfillment_service.handlers import COMMANDS, expire, updates_from
from fulfillment_service.scorecards import scorecards
from fulfillment_service.store import FulfillmentWork
from runtime.consume import Subscription
from runtime.deadlines import poller
from runtime.deps import Deps
from runtime.service import ServiceRuntime


def subscriptions(deps: Deps) -> list[Subscription]:
    """One consumer (group `fulfillment.work`) for the saga's commands and every location's and drop-ship supplier's
    updates. Earlier versions had a group for each (`replaces`): it starts where they stopped."""
    updates = {topics.WAREHOUSE_UPDATES.for_partner(i): updates_from(i) for i in deps.network.sites}
    updates |= {topics.SUPPLIER_UPDATES.for_partner(i): updates_from(i, True) for i in deps.network.suppliers}
    return [
        Subscription(topics.FULFILLMENT_COMMANDS, (topics.FULFILLMENT_COMMANDS.name, *updates), COMMANDS,
                     partial(FulfillmentWork, deps), by_topic=updates,
                     also=(topics.WAREHOUSE_UPDATES, topics.SUPPLIER_UPDATES),
                     group_name="work", replaces=(topics.FULFILLMENT_COMMANDS.name,
                                                  topics.WAREHOUSE_UPDATES.for_partner("all"))),
    ]


def runtime() -> ServiceRuntime[Deps]:
    return ServiceRuntime("fulfillment", Path(__file__).parent / "sql", bootstrap, subscriptions,
                          background=[poller("fulfillments", FulfillmentWork, expire), scorecards])
