"""One order as operators read it (`oms order`, and the demo's split order): its lines, returns, timeline and the
allocation decisions, from the services' databases as the operators' read-only role."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson
import typer
from rich.console import Console
from rich.table import Column

from oms_cli.tables import ORDER_BY_REF, Table, order_ref_args, styled
from runtime import security
from runtime.settings import get_settings

console = Console(width=None if Console().is_terminal else 150, markup=False)  # data is shown as it is


def whole(header: str, width: int) -> Column:
    """A column of ids, which are copied into the next command: never cut (a column keeps its rows: one per
    table)."""
    return Column(header, no_wrap=True, min_width=width)


def order_column() -> Column:
    return whole("order", 36)


async def fetch(service: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """A read of one service's database, as the operators' read-only role."""
    conn = await asyncpg.connect(get_settings().database_for(service, security.DATABASE_OPERATOR))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def order_where(ref: str) -> tuple[str, list[Any]]:
    return ORDER_BY_REF, order_ref_args(ref)


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
    where, args = order_where(ref)
    rows = asyncio.run(fetch("order", f"SELECT o.*, (SELECT json_agg(l ORDER BY line_no) FROM order_lines l "
                                      f"WHERE l.order_id = o.order_id) AS lines FROM orders o WHERE {where}", *args))
    if not rows:
        console.print(styled((f"no order {ref}", "red")))
        raise typer.Exit(1)
    found = rows[0]
    console.print(styled((found["order_id"], "bold"), f"  {found['channel']}:{found['external_id']}  status ",
                         (found["status"], "bold"), f"  saga {found['saga_state']}"))
    saga = orjson.loads(found["saga"] or "{}")
    left = {line["sku"]: line["quantity"] for line in saga.get("lines", [])}
    for line in orjson.loads(found["lines"] or "[]"):
        kept = min(line["quantity"], left.get(line["sku"], 0))
        left[line["sku"]] = left.get(line["sku"], 0) - kept
        gone = f"  ({line['quantity'] - kept} cancelled)" if saga.get("lines") and kept < line["quantity"] else ""
        console.print(f"  {line['quantity']} x {line['sku']} @ {line['unit_price']} {found['currency'] or ''}{gone}")
    for returned in saga.get("returns", []):
        asked = ", ".join(f"{line['quantity']} x {line['sku']}" for line in returned["lines"])
        came = ", ".join(f"{line['quantity']} x {line['sku']} {line['condition']}" for line in returned["received"])
        console.print(f"  return {returned['return_id']} to {returned['location_id']}: {returned['status']}; "
                      f"asked {asked}" + (f"; received {came}" if came else ""))
    timeline = asyncio.run(fetch("order", "SELECT * FROM order_timeline WHERE order_id = $1 ORDER BY sequence",
                                 found["order_id"]))
    console.print(timeline_table(timeline))
    decisions = asyncio.run(fetch("inventory", "SELECT chosen, alternatives, decided_at FROM allocation_decisions "
                                               "WHERE order_id = $1 ORDER BY id", found["order_id"]))
    for decision in decisions:
        console.print(f"allocated {decision['decided_at']:%H:%M:%S.%f}"[:-3] + f": {decision['chosen']}")
        others = orjson.loads(decision["alternatives"])
        if not others:
            console.print("  no other plan could ship it")
        for other in others:
            where = " + ".join(f"{loc} ({', '.join(f'{q} x {s}' for s, q in part.items())})"
                               for loc, part in other["plan"])
            why = ", ".join(f"{k} {v:.1f}" for k, v in other["parts"].items() if v)
            console.print(f"  not taken: {where}: {other['total']:.1f} ({why})")
