"""The inventory service's wiring: stock feeds and saga commands in, levels and replies out."""

from __future__ import annotations

from pathlib import Path

from contracts import topics
from inventory_service.handlers import HANDLERS_ADJUSTMENTS, HANDLERS_COMMANDS, batch, command_batch
from shared.consume import Subscription
from shared.handling import bind
from shared.service import Deps, ServiceRuntime


def subscriptions(deps: Deps) -> list[Subscription]:
    return [
        Subscription(topics.INVENTORY_ADJUSTMENTS, (topics.INVENTORY_ADJUSTMENTS.name,), bind(deps, HANDLERS_ADJUSTMENTS),
                     batch=batch),
        Subscription(topics.INVENTORY_COMMANDS, (topics.INVENTORY_COMMANDS.name,), bind(deps, HANDLERS_COMMANDS),
                     batch=command_batch, urgent=True),
    ]


def runtime() -> ServiceRuntime:
    return ServiceRuntime("inventory", Path(__file__).parent / "sql", subscriptions)
