"""The notification service's SQL."""

from __future__ import annotations

import asyncpg


async def add_contact(conn: asyncpg.Connection, order_key: str, email: str, phone: str | None, name: str) -> None:
    await conn.execute("INSERT INTO contacts (order_key, email, phone, name) VALUES ($1, $2, $3, $4) "
                       "ON CONFLICT DO NOTHING", order_key, email, phone, name)


async def contact(conn: asyncpg.Connection, order_key: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT email, phone, name FROM contacts WHERE order_key = $1", order_key)


async def add_notification(conn: asyncpg.Connection, notification_id: str, order_id: str, kind: str, shipment_id: str,
                           medium: str, recipient: str, subject: str, body: str) -> bool:
    """False when this order, kind and shipment was already notified."""
    return bool(await conn.fetchval(
        "INSERT INTO notifications (notification_id, order_id, kind, shipment_id, medium, recipient, subject, body) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING true",
        notification_id, order_id, kind, shipment_id, medium, recipient, subject, body))


async def claim_unsent(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT notification_id, order_id, kind, shipment_id, medium, recipient, subject, body FROM notifications "
        "WHERE sent_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED", limit)


async def mark_sent(conn: asyncpg.Connection, ids: list[str]) -> None:
    await conn.execute("UPDATE notifications SET sent_at = now() WHERE notification_id = ANY($1::text[])", ids)
