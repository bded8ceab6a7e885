"""The inventory service's dependencies: what its allocations read at most once a second per process (the paused
locations, the partners' standings), kept in `Fresh` caches that a unit of work refreshes only once it committed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from inventory_service.domain import Standing
from runtime.deps import Deps

T = TypeVar("T")
FRESH_S = 1.0  # a pause or a scorecard applies within a second in every process (at once in the one that took it)


@dataclass
class Fresh(Generic[T]):
    """A value read from the database, good for `fresh_s` seconds."""

    fresh_s: float = FRESH_S
    value: T | None = None
    read_at: float = 0.0

    def get(self) -> T | None:
        return self.value if self.value is not None and time.monotonic() - self.read_at < self.fresh_s else None

    def put(self, value: T) -> None:
        self.value, self.read_at = value, time.monotonic()

    def forget(self) -> None:
        self.value = None


@dataclass(kw_only=True)
class InventoryDeps(Deps):
    paused: Fresh[frozenset[str]] = field(default_factory=Fresh)  # the paused locations
    standings: Fresh[dict[str, Standing]] = field(default_factory=Fresh)  # each partner's scorecard


def bootstrap(deps: Deps) -> InventoryDeps:
    return deps.extended(InventoryDeps)
