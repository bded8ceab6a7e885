"""The order service's SQL: orders with their saga, lines and timeline."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import orjson

from contracts.channels import OrderSubmitted
from contracts.order import OrderStatusChanged
from order_service.saga import Saga


async def insert_order(conn: asyncpg.Connection, order_id: str, msg: OrderSubmitted, saga: Saga) -> bool:
    """False when the order is already known: a second submission is the same order."""
    inserted = await conn.fetchval(
        "INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga, placed_at, currency, customer, "
        "shipping_address, payment) VALUES ($1, $2, $3, 'received', $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT DO NOTHING RETURNING true",
        order_id, msg.channel, msg.external_id, saga.state, saga.model_dump_json(), msg.placed_at, msg.currency,
        msg.customer.model_dump_json(), msg.shipping_address.model_dump_json(),
        msg.payment.model_dump_json() if msg.payment else None)
    if not inserted:
        return False
    await conn.executemany(
        "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price) VALUES ($1, $2, $3, $4, $5::numeric)",
        [(order_id, n, line.sku, line.quantity, line.unit_price) for n, line in enumerate(msg.lines, 1)])
    return True


async def insert_rejected(conn: asyncpg.Connection, order_id: str, channel: str, external_id: str) -> bool:
    return bool(await conn.fetchval(
        "INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga) "
        "VALUES ($1, $2, $3, 'rejected', 'rejected', '{}') ON CONFLICT DO NOTHING RETURNING true",
        order_id, channel, external_id))


async def lock_order(conn: asyncpg.Connection, order_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT order_id, channel, external_id, status, saga, sequence FROM orders WHERE order_id = $1 FOR UPDATE",
        order_id)


async def save(conn: asyncpg.Connection, order_id: str, saga: Saga, sequence: int, deadline_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE orders SET status = $2, saga_state = $3, saga = $4, sequence = $5, deadline_at = $6, updated_at = now() "
        "WHERE order_id = $1",
        order_id, saga.status or "received", saga.state, saga.model_dump_json(), sequence, deadline_at)


async def add_timeline(conn: asyncpg.Connection, event: OrderStatusChanged) -> None:
    await conn.execute(
        "INSERT INTO order_timeline (order_id, sequence, status, previous_status, reason, shipments, occurred_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        event.order_id, event.sequence, event.status, event.previous_status,
        event.reason.model_dump_json() if event.reason else None,
        orjson.dumps([s.model_dump(mode="json") for s in event.shipments]).decode(), event.occurred_at)
