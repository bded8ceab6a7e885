"""One order as operators read it (`oms order`, and the demo's split order): its lines, returns, timeline and the
allocation decisions, from the services' databases as the operators' read-only role."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson
import typer
from rich.console import Console
from rich.table import Column

from oms_cli.queries import inventory as inventory_read
from oms_cli.queries import orders as orders_read
from oms_cli.tables import Table, styled
from runtime.settings import get_settings

console = Console(width=None if Console().is_terminal else 150, markup=False)  # data is shown as it is


def whole(header: str, width: int) -> Column:
    """A column of ids, which are copied into the next command: never cut (a column keeps its rows: one per
    table)."""
    return Column(header, no_wrap=True, min_width=width)


def order_column() -> Column:
    return whole("order", 36)


def timeline_table(rows: list[asyncpg.Record]) -> Table:
    table = Table("#", "when", "status", "from", "reason", "shipments")
    for row in rows:
        reason = orjson.loads(row["reason"]) if row["reason"] else None
        shipments = ", ".join(
            f"{s['location_id']}:{s['status']}" + (f" {s['carrier_id']} {s['tracking_number']}" if s["carrier_id"] else "")
            for s in orjson.loads(row["shipments"]))
        table.add_row(str(row["sequence"]), row["occurred_at"].strftime("%H:%M:%S.%f")[:-3], row["status"],
                      row["previous_status"] or "", f"{reason['code']}: {reason['message']}" if reason else "", shipments)
    return table


def order(ref: str) -> None:
    """One order with its lines and its full timeline."""
    settings = get_settings()
    found = asyncio.run(orders_read.order(settings, ref))
    if found is None:
        console.print(styled((f"no order {ref}", "red")))
        raise typer.Exit(1)
    console.print(styled((found["order_id"], "bold"), f"  {found['channel']}:{found['external_id']}  status ",
                         (found["status"], "bold"), f"  saga {found['saga_state']}"))
    for line in found["lines"]:
        gone = f"  ({line.cancelled} cancelled)" if line.cancelled else ""
        console.print(f"  {line.quantity} x {line.sku} @ {line.unit_price} {found['currency'] or ''}{gone}")
    for returned in found["returns"]:
        asked = ", ".join(f"{line.quantity} x {line.sku}" for line in returned.lines)
        came = ", ".join(f"{line.quantity} x {line.sku} {line.condition}" for line in returned.received)
        console.print(f"  return {returned.return_id} to {returned.location_id}: {returned.status}; "
                      f"asked {asked}" + (f"; received {came}" if came else ""))
    if (money := found["money"]) is not None:
        console.print(f"  money ({money.currency}): paid {money.paid} (discount {money.discount}, tax {money.tax}, "
                      f"shipping {money.shipping}); captured {money.captured}; refunded {money.refunded}; "
                      f"outstanding {money.outstanding}")
    for doc in asyncio.run(orders_read.documents(settings, found["order_id"])):
        number = f"{doc['channel']}/{doc['number']}" if doc["number"] is not None else "(not numbered yet)"
        what = (f"shipment {doc['shipment_id']}" if doc["kind"] == "invoice"
                else f"refund of {doc['return_id'] or 'a cancel'}")
        console.print(f"  {doc['kind'].replace('_', ' ')} {number}: {doc['amount']} {doc['currency']} for {what}, "
                      f"{doc['issued_at']:%Y-%m-%d %H:%M:%S}")
    console.print(timeline_table(asyncio.run(orders_read.timeline(settings, found["order_id"]))))
    for decision in asyncio.run(inventory_read.decisions(settings, found["order_id"])):
        console.print(f"allocated {decision['decided_at']:%H:%M:%S.%f}"[:-3] + f": {decision['chosen']}")
        others = orjson.loads(decision["alternatives"])
        if not others:
            console.print("  no other plan could ship it")
        for other in others:
            where = " + ".join(f"{loc} ({', '.join(f'{q} x {s}' for s, q in part.items())})"
                               for loc, part in other["plan"])
            why = ", ".join(f"{k} {v:.1f}" for k, v in other["parts"].items() if v)
            console.print(f"  not taken: {where}: {other['total']:.1f} ({why})")
