"""The order service's SQL: orders with their saga, lines and timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import asyncpg
import orjson

from contracts.channels import OrderSubmitted
from contracts.order import OrderStatusChanged
from order_service.saga import Saga


async def insert_order(conn: asyncpg.Connection, order_id: str, msg: OrderSubmitted, saga: Saga, sequence: int,
                       deadline_at: datetime | None) -> bool:
    """False when the order is already known: a second submission is the same order. One round trip."""
    return bool(await conn.fetchval(
        "WITH o AS (INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga, placed_at, currency, "
        "customer, shipping_address, payment, sequence, deadline_at) "
        "VALUES ($1, $2, $3, $15, $4, $5, $6, $7, $8, $9, $10, $16, $17) "
        "ON CONFLICT DO NOTHING RETURNING order_id), "
        "l AS (INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price) "
        "SELECT o.order_id, u.* FROM o, unnest($11::int[], $12::text[], $13::int[], $14::numeric[]) AS u) "
        "SELECT count(*) = 1 FROM o",
        order_id, msg.channel, msg.external_id, saga.state, saga.model_dump_json(), msg.placed_at, msg.currency,
        msg.customer.model_dump_json(), msg.shipping_address.model_dump_json(),
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


async def save(conn: asyncpg.Connection, order_id: str, saga: Saga, sequence: int, deadline_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE orders SET status = $2, saga_state = $3, saga = $4, sequence = $5, deadline_at = $6, updated_at = now() "
        "WHERE order_id = $1",
        order_id, saga.status or "received", saga.state, saga.model_dump_json(), sequence, deadline_at)


async def add_timeline(conn: asyncpg.Connection, events: list[OrderStatusChanged]) -> None:
    if not events:
        return
    await conn.execute(
        "INSERT INTO order_timeline (order_id, sequence, status, previous_status, reason, shipments, occurred_at) "
        "SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::timestamptz[])",
        [e.order_id for e in events], [e.sequence for e in events], [e.status for e in events],
        [e.previous_status for e in events], [e.reason.model_dump_json() if e.reason else None for e in events],
        [orjson.dumps([s.model_dump(mode="json") for s in e.shipments]).decode() for e in events],
        [e.occurred_at for e in events])
