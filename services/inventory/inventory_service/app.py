"""The inventory service's wiring: stock feeds and saga commands in, levels and replies out."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from contracts import topics
from inventory_service.bootstrap import InventoryDeps, bootstrap
from inventory_service.handlers import (
    HANDLERS_ADJUSTMENTS,
    HANDLERS_COMMANDS,
    HANDLERS_SCORES,
    from_feed,
    propose_transfers,
)
from inventory_service.store import FORGET_QUOTES, InventoryWork
from runtime import pollers
from runtime.consume import Subscription
from runtime.deadlines import on_tick
from runtime.service import ServiceRuntime


def subscriptions(deps: InventoryDeps) -> list[Subscription]:
    work = partial(InventoryWork, deps)
    feeds = {topics.feed_topic(feed.id): from_feed(feed) for feed in deps.network.feeds}
    return [
        Subscription(topics.INVENTORY_ADJUSTMENTS, (topics.INVENTORY_ADJUSTMENTS.name, *feeds), HANDLERS_ADJUSTMENTS,
                     work, by_topic=feeds, also=(topics.FEED_ADJUSTMENTS,)),
        Subscription(topics.INVENTORY_COMMANDS, (topics.INVENTORY_COMMANDS.name,), HANDLERS_COMMANDS, work,
                     urgent=True),
        Subscription(topics.PARTNER_SCORES, (topics.PARTNER_SCORES.name,), HANDLERS_SCORES, work),
    ]


async def forget_quotes(deps: InventoryDeps) -> None:
    """Quotes a day past their expiry are forgotten (an order naming one is planned anew either way), hourly."""
    await pollers.every(deps.pool, 3600, FORGET_QUOTES.run, "inventory.forget_quotes")


async def transfer_proposals(deps: InventoryDeps) -> None:
    """The network file's `[transfers]`: every `check_every_s`, transfers where one location has stock to spare and
    another is short (none without the table)."""
    rules = deps.network.transfers
    if rules is None:
        await asyncio.Event().wait()  # nothing to do for the life of the process (a job that returns is restarted)
    assert rules is not None
    await pollers.every(deps.pool, rules.check_every_s, on_tick(partial(InventoryWork, deps), propose_transfers),
                        "inventory.transfer_proposals")


def runtime() -> ServiceRuntime[InventoryDeps]:
    return ServiceRuntime("inventory", Path(__file__).parent / "sql", bootstrap, subscriptions,
                          background=[forget_quotes, transfer_proposals])
