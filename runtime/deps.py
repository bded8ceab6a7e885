"""What a service's units of work and background jobs are given: its database, the network and the settings. A service
whose handlers need more (a secret, its subscribers, a process cache) subclasses `Deps` in its `bootstrap.py` and builds
it there, so every dependency has a name and a type."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import asyncpg

from rules.network import Network, load_network
from runtime import security
from runtime.db import DatabaseClock
from runtime.security import KafkaOptions
from runtime.settings import Settings


@dataclass(kw_only=True)
class Deps:
    """What every service has."""

    service: str
    settings: Settings
    pool: asyncpg.Pool
    network: Network
    kafka: KafkaOptions = field(default_factory=dict)  # how the service's clients reach the broker, as itself
    clock: DatabaseClock = field(default_factory=DatabaseClock)  # deadlines are written on the database's time

    @classmethod
    def of(cls, service: str, settings: Settings, pool: asyncpg.Pool) -> Deps:
        """What every process of `service` has: its pool, the network file, the broker as the service."""
        return cls(service=service, settings=settings, pool=pool, network=load_network(settings.network_file),
                   kafka=security.client_options(settings, security.principal("service", service)))

    def extended(self, kind: type[D], **more: Any) -> D:
        """A service's own dependencies (`kind`, a subclass): the fields every service has, and `more`."""
        return kind(**{f.name: getattr(self, f.name) for f in fields(Deps)}, **more)


D = TypeVar("D", bound=Deps)
