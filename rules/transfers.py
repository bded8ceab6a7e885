"""When inventory proposes a transfer: a location holding more than `cover_days` days of a SKU's sales has units
to spare; a location at or below the SKU's reorder point (or with fewer than the orders waiting for it) is short.
Pure: the levels, sales and waiting orders in, the proposals out."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class TransferRules(BaseModel):
    """The network file's `[transfers]`: when to propose one (none without the table)."""

    model_config = ConfigDict(frozen=True)

    cover_days: float = 30  # a location holding more than this many days of its own sales has stock to spare
    demand_days: float = 7  # sales are counted over this many days
    check_every_s: float = 300  # how often inventory looks
    min_units: int = 1  # no transfer of fewer units


@dataclass(frozen=True)
class Proposal:
    sku: str
    quantity: int
    from_location_id: str
    to_location_id: str
    reason: str


def proposals(available: Mapping[tuple[str, str], int], sold: Mapping[tuple[str, str], int],
              reorder_point: Callable[[str], int], waiting: Mapping[str, int], under_way: Collection[tuple[str, str]],
              ships: Collection[str], rules: TransferRules) -> list[Proposal]:
    """`available` and `sold` (in `rules.demand_days`) by (location, sku); `waiting`: units of each SKU orders wait
    for; `under_way`: (sku, destination) with a transfer open already (none proposed again)."""
    found = []
    for sku in sorted({s for _, s in available}):
        at = {loc: n for (loc, s), n in available.items() if s == sku and loc in ships}
        point, wanted = reorder_point(sku), waiting.get(sku, 0)
        spare = {loc: n - math.ceil(sold.get((loc, sku), 0) / rules.demand_days * rules.cover_days)
                 for loc, n in at.items()}
        short = sorted((loc for loc, n in at.items() if (n <= point or n < wanted) and (sku, loc) not in under_way),
                       key=lambda loc: (at[loc], loc))
        for to in short:
            need = max(2 * point - at[to], wanted - at[to], rules.min_units)
            donors = sorted((loc for loc in spare if loc != to and loc not in short and spare[loc] >= rules.min_units),
                            key=lambda loc: (-spare[loc], loc))
            if not donors:
                continue
            source = donors[0]
            quantity = min(need, spare[source])
            spare[source] -= quantity
            daily = sold.get((source, sku), 0) / rules.demand_days
            cover = f"{at[source] / daily:.0f} days of cover" if daily else f"no sales in {rules.demand_days:g} days"
            found.append(Proposal(sku, quantity, source, to, (
                f"{source} has {at[source]} available, {cover}; {to} has {at[to]} (reorder point {point}"
                + (f", {wanted} waited for" if wanted else "") + ")")))
    return found
