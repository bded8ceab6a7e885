"""Which inbound units each waiting order is served from: the orders oldest first, each line from the earliest
units of its SKU not yet promised to an older order. Pure: the waiting orders and what is on its way in, the date
each order's units arrive out (none while they are not all on their way)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Inbound:
    expected_id: str
    sku: str
    quantity: int
    eta: datetime
    location_id: str = ""


def expected(waiting: Sequence[tuple[str, Mapping[str, int]]], inbound: Sequence[Inbound]) -> dict[str, datetime]:
    """Per order id, when the last of its units arrives, for the orders (oldest first) every unit of which is on
    its way; a line is served from the earliest units no older order took."""
    return {order_id: at for order_id, (at, _) in expected_where(waiting, inbound).items()}


def expected_where(waiting: Sequence[tuple[str, Mapping[str, int]]], inbound: Sequence[Inbound]
                   ) -> dict[str, tuple[datetime, str]]:
    """As `expected`, with the location the order's last units arrive at."""
    left = {i.expected_id: i.quantity for i in inbound}
    by_sku: dict[str, list[Inbound]] = {}
    for row in sorted(inbound, key=lambda i: (i.eta, i.expected_id)):
        by_sku.setdefault(row.sku, []).append(row)
    found: dict[str, tuple[datetime, str]] = {}
    for order_id, lines in waiting:
        taken: dict[str, int] = {}
        last: datetime | None = None
        where = ""
        complete = True
        for sku, wanted in sorted(lines.items()):
            for row in by_sku.get(sku, []):
                if wanted <= 0:
                    break
                n = min(wanted, left[row.expected_id] - taken.get(row.expected_id, 0))
                if n > 0:
                    taken[row.expected_id] = taken.get(row.expected_id, 0) + n
                    wanted -= n
                    if last is None or row.eta >= last:
                        last, where = row.eta, row.location_id
            complete = complete and wanted <= 0
        if complete and last is not None:  # the order's units are promised to it; a partial claim holds none
            for expected_id, n in taken.items():
                left[expected_id] -= n
            found[order_id] = (last, where)
    return found
