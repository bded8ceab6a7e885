"""A service's handlers without Kafka or PostgreSQL: messages go through the service's own subscriptions and units
of work, as the consume loop sends them, over `MemoryDatabase`. Milliseconds a test."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import orjson

from contracts.examples import example
from contracts.topics import SEPARATOR
from rules.network import Network, load_network
from runtime.consume import Subscription
from runtime.deps import Deps
from runtime.messaging import parse
from runtime.pollers import Tick
from runtime.security import SERVICES
from runtime.settings import get_settings
from runtime.unit import run
from tests.support.memory_database import MemoryDatabase


def deps_of(service: str, pool: asyncpg.Pool | None = None, network: Network | None = None) -> Any:
    """A service's dependencies, as its bootstrap builds them (without a database unless `pool` is given; the
    settings' network file unless `network` is)."""
    settings = get_settings()
    base = Deps(service=service, settings=settings, pool=pool,  # type: ignore[arg-type]
                network=network or load_network(settings.network_file))
    bootstrap = importlib.import_module(f"{service}_service.bootstrap").bootstrap if service in SERVICES else None
    return bootstrap(base) if bootstrap else base


def body(kind: str, /, **fields: Any) -> dict[str, Any]:
    """The contract's example of `kind` with these fields, under a new message id."""
    return {**example(kind), "id": str(uuid.uuid4()), **fields}


class InMemory:
    """One service: `deliver` messages on a topic (one unit of work for all of them, as one fetch), then look at
    `db`'s tables and what was sent."""

    def __init__(self, service: str) -> None:
        self.db = MemoryDatabase()
        self.deps = deps_of(service)
        self.subscriptions: list[Subscription] = list(
            importlib.import_module(f"{service}_service.app").subscriptions(self.deps))

    def subscription(self, topic: str) -> Subscription:
        return next(s for s in self.subscriptions if topic in s.names)

    async def deliver(self, topic: str, *bodies: dict[str, Any]) -> list[Any]:
        """The messages as one fetch: parsed as the consume loop parses them, those the subscription ignores left
        out, the rest through their handlers in one unit of work (undone if it fails). Returns what it sent."""
        sub = self.subscription(topic)
        messages = [parse(orjson.dumps(b), sub.topic_for(topic)) for b in bodies]
        items = [(m, sub.handlers_for(topic)[m.type]) for m in messages if sub.ignores is None or not sub.ignores(m)]
        sent = len(self.db.outbox)
        unit = sub.work(self.db)
        async with self.db.transaction():
            await run(unit, self.deps.service, items, sources=[topic] * len(items))
        unit.committed()
        return [m for _, _, m in self.db.outbox[sent:]]

    async def handle(self, handler: Callable[[Any, Any], Awaitable[None]], message: Any,
                     topic: str | None = None) -> list[Any]:
        """`handler(message, unit)` in a unit of work of the subscription of `topic` (the first by default), flushed
        and committed as the runtime does. Returns what it sent."""
        sub = self.subscription(topic) if topic else self.subscriptions[0]
        sent = len(self.db.outbox)
        unit = sub.work(self.db)
        async with self.db.transaction():
            await handler(message, unit)
            await unit.flush()
        unit.committed()
        return [m for _, _, m in self.db.outbox[sent:]]

    async def tick(self, handler: Callable[[Tick, Any], Awaitable[None]], topic: str | None = None) -> list[Any]:
        """A poller's round now (`handler(Tick(now), unit)`). Returns what it sent."""
        return await self.handle(handler, Tick(self.deps.clock.now()), topic)

    def later(self, seconds: float) -> None:
        """Deadlines written from now on are `seconds` earlier: as if that much time had passed since."""
        self.deps.clock.offset -= timedelta(seconds=seconds)

    def caught_up(self) -> None:
        """The clock back to the host's: the time `later` skipped has now passed."""
        self.deps.clock.offset = timedelta(0)

    def sent(self, topic: str | None = None, kind: str | None = None) -> list[Any]:
        return [m for t, _, m in self.db.outbox
                if (topic is None or topic in t.split(SEPARATOR)) and (kind is None or m.type == kind)]

    def row(self, table: str, *key: Any) -> dict[str, Any]:
        """The stored row with this key (it must exist)."""
        found = self.db.table(table).get(key)
        assert found is not None, f"no row {key} in {table}"
        return found
