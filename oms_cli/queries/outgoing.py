"""What the gateway and the notification service send out and could not: webhook deliveries and notifications
that failed, the dead ones first."""

from __future__ import annotations

import asyncpg

from oms_cli.queries import read
from runtime.settings import Settings


async def webhook_deliveries(settings: Settings, dead_only: bool, limit: int, order_id: str | None = None
                             ) -> list[asyncpg.Record]:
    """Outgoing webhooks that failed (of one order, or all): dead ones first (an operator must act), then those
    waiting to be posted again; with `dead_only`, the dead ones only."""
    return await read(settings, "gateway",
                      "SELECT delivery_id, subscriber, order_id, message_type, attempts, last_error, next_attempt_at, "
                      "dead_at FROM webhook_deliveries WHERE sent_at IS NULL AND last_error IS NOT NULL "
                      "AND (dead_at IS NOT NULL OR NOT $1) AND ($3::text IS NULL OR order_id = $3) "
                      "ORDER BY dead_at IS NULL, dead_at DESC, next_attempt_at LIMIT $2", dead_only, limit, order_id)


async def failed_notifications(settings: Settings, limit: int) -> list[asyncpg.Record]:
    return await read(settings, "notification",
                      "SELECT notification_id, order_id, kind, attempts, last_error, next_attempt_at, dead_at "
                      "FROM notifications WHERE sent_at IS NULL AND last_error IS NOT NULL "
                      "ORDER BY dead_at IS NULL, next_attempt_at LIMIT $1", limit)
