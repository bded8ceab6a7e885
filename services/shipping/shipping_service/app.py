"""The shipping service's wiring: booking commands in, every carrier's updates topic followed."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts import topics
from runtime import pollers
from runtime.consume import Subscription
from runtime.deadlines import on_tick, poller
from runtime.personal_data import retention
from runtime.service import ServiceRuntime
from shipping_service.bootstrap import ShippingDeps, bootstrap
from shipping_service.handlers import COMMANDS, expire, request_pickups, updates_from
from shipping_service.scorecards import scorecards
from shipping_service.store import ShippingWork


def subscriptions(deps: ShippingDeps) -> list[Subscription]:
    """One consumer (group `shipping.work`) for the saga's booking commands and every carrier's updates (a carrier is
    told by the topic its update came on). Earlier versions had a group for each (`replaces`): it starts where they
    stopped."""
    carriers = {topics.CARRIER_UPDATES.for_partner(c.id): updates_from(c.id) for c in deps.network.carriers}
    return [Subscription(topics.SHIPPING_COMMANDS, (topics.SHIPPING_COMMANDS.name, *carriers), COMMANDS,
                         partial(ShippingWork, deps), by_topic=carriers, also=(topics.CARRIER_UPDATES,), group_name="work",
                         replaces=(topics.SHIPPING_COMMANDS.name, topics.CARRIER_UPDATES.for_partner("all")))]


def runtime() -> ServiceRuntime[ShippingDeps]:
    return ServiceRuntime("shipping", Path(__file__).parent / "sql", bootstrap, subscriptions,
                          background=[poller("shipments", ShippingWork, expire), retention(), scorecards,
                                      pickup_requests])


async def pickup_requests(deps: ShippingDeps) -> None:
    """Every `OMS_PICKUP_POLL_S`: the pickups due within `OMS_PICKUP_LEAD_S` asked for (`request_pickups`)."""
    if any(location.pickups for location in deps.network.locations):
        await pollers.every(deps.pool, deps.settings.pickup_poll_s, on_tick(partial(ShippingWork, deps),
                                                                          request_pickups), "shipping.pickups")
