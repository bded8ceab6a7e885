"""The notification service's SQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from contracts.notification import NotificationRequested
from shared import rowbatch

Then = Callable[[], Awaitable[None]]
NOTIFICATION_COLUMNS = "notification_id, order_id, kind, shipment_id, medium, recipient, subject, body"
ADD_NOTIFICATIONS = (f"INSERT INTO notifications ({NOTIFICATION_COLUMNS}) SELECT * FROM unnest("
                     + ", ".join(f"${i}::text[]" for i in range(1, 9)) + ") ON CONFLICT DO NOTHING "
                     "RETURNING notification_id")


@dataclass
class Batch:
    """A batch transaction's contacts (read once at the start, new ones written in one statement at the end) and its
    notifications (written in one statement at the end, each new one then announced)."""

    conn: asyncpg.Connection
    contacts: dict[str, Mapping[str, Any]]
    new: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    notifications: dict[str, tuple[tuple[str, ...], Then]] = field(default_factory=dict)  # by id, the first kept

    async def flush(self) -> None:
        if self.new:
            await self.conn.execute(
                "INSERT INTO contacts (order_key, email, phone, name) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
                *([row[i] for row in self.new] for i in range(4)))
        if self.notifications:
            rows = [row for row, _ in self.notifications.values()]
            added = {r[0] for r in await self.conn.fetch(ADD_NOTIFICATIONS, *([row[i] for row in rows] for i in range(8)))}
            for notification_id, (_, then) in self.notifications.items():
                if notification_id in added:
                    await then()


_batch: ContextVar[Batch | None] = ContextVar("notification_batch", default=None)


def current(conn: asyncpg.Connection) -> Batch:
    """The contacts and notifications of this connection's unit of work (`batch`): every write goes through it."""
    found = _batch.get()
    if found is None or found.conn is not conn:
        raise RuntimeError("contacts and notifications are written inside a unit of work (store.batch)")
    return found


@contextlib.asynccontextmanager
async def batch(conn: asyncpg.Connection, order_keys: list[str]) -> AsyncIterator[None]:
    rows = await conn.fetch("SELECT order_key, email, phone, name FROM contacts WHERE order_key = ANY($1::text[])",
                            list(set(order_keys)))
    current = Batch(conn, {r["order_key"]: r for r in rows})
    async with rowbatch.current_for(_batch, current):
        yield


async def add_contact(conn: asyncpg.Connection, order_key: str, email: str, phone: str | None, name: str) -> None:
    batch = current(conn)
    if order_key not in batch.contacts:
        batch.contacts[order_key] = {"email": email, "phone": phone, "name": name}
        batch.new.append((order_key, email, phone, name))


async def contact(conn: asyncpg.Connection, order_key: str) -> Mapping[str, Any] | None:
    """As the unit of work read or learnt it, or else as another transaction has stored it since."""
    batch = current(conn)
    if order_key in batch.contacts:
        return batch.contacts[order_key]
    return await conn.fetchrow("SELECT email, phone, name FROM contacts WHERE order_key = $1", order_key)


async def add_notification(conn: asyncpg.Connection, requested: NotificationRequested, then: Then) -> None:
    """Records a notification, and runs `then` if this order, kind and shipment was not notified before, when the
    unit of work writes its notifications (all in one statement)."""
    row = (requested.id, requested.order_id, requested.kind, requested.shipment_id or "", requested.medium,
           requested.recipient, requested.subject, requested.body)
    current(conn).notifications.setdefault(requested.id, (row, then))


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Notifications to send now: never sent, not dead, their next attempt due; locked until the round commits."""
    return await conn.fetch(
        "SELECT notification_id, order_id, kind, shipment_id, medium, recipient, subject, body, attempts "
        "FROM notifications WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now() "
        "ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED", limit)


async def mark_sent(conn: asyncpg.Connection, ids: list[str]) -> None:
    if ids:
        await conn.execute("UPDATE notifications SET sent_at = now(), last_error = NULL "
                           "WHERE notification_id = ANY($1::text[])", ids)


async def mark_failed(conn: asyncpg.Connection, failures: list[tuple[str, str, bool]], max_attempts: int,
                      backoff_s: float) -> list[asyncpg.Record]:
    """Failed sends `(notification_id, error, permanent)`: tried again after a backoff that doubles, or dead when
    the failure is permanent or the attempts are used up. Returns the ones that died now."""
    if not failures:
        return []
    ids, errors, permanent = (list(column) for column in zip(*failures, strict=True))
    return await conn.fetch(
        """UPDATE notifications n SET attempts = n.attempts + 1, last_error = f.error,
               next_attempt_at = now() + make_interval(secs => least($4 * 2 ^ n.attempts, 3600)),
               dead_at = CASE WHEN f.permanent OR n.attempts + 1 >= $5 THEN now() END
           FROM unnest($1::text[], $2::text[], $3::bool[]) AS f(id, error, permanent)
           WHERE n.notification_id = f.id
           RETURNING n.notification_id, n.order_id, n.kind, n.attempts, n.dead_at IS NOT NULL AS dead""",
        ids, errors, permanent, backoff_s, max_attempts)
