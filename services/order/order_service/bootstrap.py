"""The order service's dependencies: what every service has (no more: its handlers need nothing of their own)."""

from __future__ import annotations

from runtime.deps import Deps


def bootstrap(deps: Deps) -> Deps:
    return deps
