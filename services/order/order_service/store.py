"""The order service's SQL: orders with their saga, lines and timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from contracts.channels import OrderSubmitted
from contracts.order import OrderStatusChanged
from order_service.saga import Saga


async def insert_order(conn: asyncpg.Connection, order_id: str, msg: OrderSubmitted, saga: Saga, sequence: int,
                       deadline_at: datetime | None, events: list[OrderStatusChanged]) -> bool:
    """The order, its lines and its first timeline rows in one round trip; False when the order is already known
    (a second submission is the same order, and then nothing is written)."""
    return bool(await conn.fetchval(
        "WITH o AS (INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga, placed_at, currency, "
        "customer, shipping_address, payment, sequence, deadline_at) "
        "VALUES ($8, $9, $10, $22, $11, $12, $13, $14, $15, $16, $17, $23, $24) "
        "ON CONFLICT DO NOTHING RETURNING order_id), "
        "l AS (INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price) "
        "SELECT o.order_id, u.* FROM o, unnest($18::int[], $19::text[], $20::int[], $21::numeric[]) AS u), "
        "t AS (INSERT INTO order_timeline (order_id, sequence, status, previous_status, reason, shipments, occurred_at) "
        f"SELECT u.* FROM o, {TIMELINE_COLUMNS} AS u) "
        "SELECT count(*) = 1 FROM o",
        *timeline_rows(events), order_id, msg.channel, msg.external_id, saga.state, saga.model_dump_json(),
        msg.placed_at, msg.currency, msg.customer.model_dump_json(), msg.shipping_address.model_dump_json(),
        msg.payment.model_dump_json() if msg.payment else None, list(range(1, len(msg.lines) + 1)),
        [line.sku for line in msg.lines], [line.quantity for line in msg.lines],
        [Decimal(line.unit_price) for line in msg.lines], saga.status or "received", sequence, deadline_at))


async def insert_rejected(conn: asyncpg.Connection, order_id: str, channel: str, external_id: str) -> bool:
    return bool(await conn.fetchval(
        "INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga) "
        "VALUES ($1, $2, $3, 'rejected', 'rejected', '{}') ON CONFLICT DO NOTHING RETURNING true",
        order_id, channel, external_id))


async def lock_orders(conn: asyncpg.Connection, order_ids: list[str]) -> None:
    """Locks a batch's orders in id order, so two batches touching the same orders never deadlock."""
    await conn.execute("SELECT 1 FROM orders WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE",
                       sorted(set(order_ids)))


async def lock_order(conn: asyncpg.Connection, order_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT order_id, channel, external_id, status, saga, sequence FROM orders WHERE order_id = $1 FOR UPDATE",
        order_id)


async def save(conn: asyncpg.Connection, order_id: str, saga: Saga, sequence: int, deadline_at: datetime | None,
               events: list[OrderStatusChanged]) -> None:
    """The saga and status, and a timeline row per status change, in one round trip."""
    await conn.execute(
        "WITH t AS (INSERT INTO order_timeline (order_id, sequence, status, previous_status, reason, shipments, "
        f"occurred_at) SELECT * FROM {TIMELINE_COLUMNS}) "
        "UPDATE orders SET status = $9, saga_state = $10, saga = $11, sequence = $12, deadline_at = $13, "
        "updated_at = now() WHERE order_id = $8",
        *timeline_rows(events), order_id, saga.status or "received", saga.state, saga.model_dump_json(), sequence,
        deadline_at)


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
