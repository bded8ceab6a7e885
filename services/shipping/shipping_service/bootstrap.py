"""The shipping service's dependencies: the carriers' recent failure rates, as this process last worked them out."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.deps import Deps


@dataclass(kw_only=True)
class ShippingDeps(Deps):
    failure_rates: dict[str, float] = field(default_factory=dict)  # carrier: its weighed failure rate


def bootstrap(deps: Deps) -> ShippingDeps:
    return deps.extended(ShippingDeps)
