"""The order service's SQL: orders with their saga, lines and timeline."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from contracts.channels import OrderSubmitted
from contracts.order import OrderStatusChanged
from order_service.saga import Saga
from shared import outbox, rowbatch


def _unit(conn: asyncpg.Connection) -> Batch:
    """The orders of this connection's unit of work (`batch`): every read and write of an order goes through it."""
    found = _batch.get()
    if found is None or found.conn is not conn:
        raise RuntimeError("orders are read and written inside a unit of work (store.batch)")
    return found


async def insert_order(conn: asyncpg.Connection, order_id: str, msg: OrderSubmitted, saga: Saga, sequence: int,
                       deadline_at: datetime | None, events: list[OrderStatusChanged]) -> bool:
    """False when the order is already known (a second submission is the same order, and then nothing is
    written); written with its lines and first timeline rows when the unit of work ends."""
    return _unit(conn).insert(order_id, msg, saga, sequence, deadline_at, events)


async def insert_rejected(conn: asyncpg.Connection, order_id: str, channel: str, external_id: str) -> bool:
    return bool(await conn.fetchval(
        "INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga) "
        "VALUES ($1, $2, $3, 'rejected', 'rejected', '{}') ON CONFLICT DO NOTHING RETURNING true",
        order_id, channel, external_id))


COLUMNS = "SELECT order_id, channel, external_id, status, saga, sequence"
ROW = f"{COLUMNS} FROM orders"


async def lock_order(conn: asyncpg.Connection, order_id: str) -> Mapping[str, Any] | None:
    """The order's row as the unit of work has left it (read and locked once at its start; its `saga` then the
    saga itself, not its JSON: `saga_of` reads either)."""
    return _unit(conn).rows.get(order_id)


def saga_of(row: Mapping[str, Any]) -> Saga:
    """The saga of a row `lock_order` returned: parsed from its JSON, or as a batch's earlier message left it."""
    found = row["saga"]
    return found if isinstance(found, Saga) else Saga.model_validate_json(found)


async def save(conn: asyncpg.Connection, order_id: str, saga: Saga, sequence: int, deadline_at: datetime | None,
               events: list[OrderStatusChanged]) -> None:
    """The saga and status, and a timeline row per status change, written when the unit of work ends."""
    _unit(conn).save(order_id, saga, sequence, deadline_at, events)


async def claim_expired(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Orders whose saga is past its deadline, locked (others' are skipped, not waited for)."""
    return await conn.fetch(f"{COLUMNS}, saga_state FROM orders WHERE deadline_at < now() ORDER BY deadline_at LIMIT $1 "
                            "FOR UPDATE SKIP LOCKED", limit)


TIMELINE_COLUMNS = ("unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], "
                    "$7::timestamptz[])")


def timeline_rows(events: list[OrderStatusChanged]) -> list[list[Any]]:
    """The timeline's columns for unnest: $1..$7 of every statement that writes the timeline."""
    return [[e.order_id for e in events], [e.sequence for e in events], [e.status for e in events],
            [e.previous_status for e in events], [e.reason.model_dump_json() if e.reason else None for e in events],
            [orjson.dumps([s.model_dump(mode="json") for s in e.shipments]).decode() for e in events],
            [e.occurred_at for e in events]]


async def add_timeline(conn: asyncpg.Connection, events: list[OrderStatusChanged]) -> None:
    await conn.execute("INSERT INTO order_timeline (order_id, sequence, status, previous_status, reason, shipments, "
                       f"occurred_at) SELECT * FROM {TIMELINE_COLUMNS}", *timeline_rows(events))


@dataclass
class Batch:
    """A batch transaction's orders: read and locked once at the start, written back in one statement at the end
    (each saga turned into JSON once, however many of the batch's messages moved it).

    Handlers see no difference: `lock_order`, `insert_order` and `save` on the batch's connection go through it.
    """

    conn: asyncpg.Connection
    rows: dict[str, dict[str, Any]]
    new: dict[str, OrderSubmitted] = field(default_factory=dict)
    changed: dict[str, tuple[str, str, Saga, int, datetime | None]] = field(default_factory=dict)
    timeline: list[OrderStatusChanged] = field(default_factory=list)

    def insert(self, order_id: str, msg: OrderSubmitted, saga: Saga, sequence: int, deadline_at: datetime | None,
               events: list[OrderStatusChanged]) -> bool:
        if order_id in self.rows:
            return False
        self.rows[order_id] = {"order_id": order_id, "channel": msg.channel, "external_id": msg.external_id}
        self.new[order_id] = msg
        self.save(order_id, saga, sequence, deadline_at, events)
        return True

    def save(self, order_id: str, saga: Saga, sequence: int, deadline_at: datetime | None,
             events: list[OrderStatusChanged]) -> None:
        self.rows[order_id].update(status=saga.status or "received", saga=saga, sequence=sequence)
        self.changed[order_id] = (saga.status or "received", saga.state, saga, sequence, deadline_at)  # JSON at flush
        self.timeline.extend(events)

    async def flush(self) -> None:
        if not self.changed:
            return
        new = list(self.new.values())
        changed = {order_id: (status, state, saga.model_dump_json(), sequence, deadline_at)
                   for order_id, (status, state, saga, sequence, deadline_at) in self.changed.items()}
        lines = [(order_id, n, line) for order_id, msg in self.new.items() for n, line in enumerate(msg.lines, 1)]
        statement, args = outbox.carried(self.conn, (
            "n AS (INSERT INTO orders (order_id, channel, external_id, placed_at, currency, customer, "
            "shipping_address, payment, status, saga_state, saga, sequence, deadline_at) "
            "SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::jsonb[], "
            "$14::jsonb[], $15::jsonb[], $16::text[], $17::text[], $18::jsonb[], $19::int[], $20::timestamptz[]) "
            "ON CONFLICT DO NOTHING RETURNING order_id), "
            "l AS (INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price) "
            "SELECT * FROM unnest($21::text[], $22::int[], $23::text[], $24::int[], $25::numeric[])), "
            f"t AS (INSERT INTO order_timeline (order_id, sequence, status, previous_status, reason, shipments, "
            f"occurred_at) SELECT * FROM {TIMELINE_COLUMNS}), "
            "u AS (UPDATE orders o SET status = v.status, saga_state = v.state, saga = v.saga, sequence = v.sequence, "
            "deadline_at = v.deadline_at, updated_at = now() FROM unnest($26::text[], $27::text[], $28::text[], "
            "$29::jsonb[], $30::int[], $31::timestamptz[]) AS v(order_id, status, state, saga, sequence, deadline_at) "
            "WHERE o.order_id = v.order_id)"), [
            *timeline_rows(self.timeline),
            list(self.new), [m.channel for m in new], [m.external_id for m in new], [m.placed_at for m in new],
            [m.currency for m in new], [m.customer.model_dump_json() for m in new],
            [m.shipping_address.model_dump_json() for m in new],
            [m.payment.model_dump_json() if m.payment else None for m in new],
            *columns([changed[order_id] for order_id in self.new], 5),
            [o for o, _, _ in lines], [n for _, n, _ in lines], [line.sku for _, _, line in lines],
            [line.quantity for _, _, line in lines], [Decimal(line.unit_price) for _, _, line in lines],
            *columns([(o, *c) for o, c in changed.items() if o not in self.new], 6)], "(SELECT count(*) FROM n)")
        inserted = await self.conn.fetchval(statement, *args)
        if inserted != len(new):
            raise RuntimeError(f"{len(new) - inserted} of {len(new)} new orders already existed")


def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to the column lists `unnest` takes."""
    return [[row[i] for row in rows] for i in range(width)]


_batch: ContextVar[Batch | None] = ContextVar("order_batch", default=None)


@contextlib.asynccontextmanager
async def batch(conn: asyncpg.Connection, order_ids: list[str]) -> AsyncIterator[None]:
    """Locks a batch's orders in id order (so batches of different topics never deadlock on them), reads them
    once, and writes every change back in one statement before the transaction commits."""
    rows = await conn.fetch(f"{ROW} WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE",
                            sorted(set(order_ids)))
    current = Batch(conn, {r["order_id"]: dict(r) for r in rows})
    async with rowbatch.current_for(_batch, current):
        yield
