"""The notification dispatcher, a task of the notification service: each recorded notification sent once its
transaction committed, through the configured sender, with no transaction open meanwhile (`runtime.retries`)."""

from __future__ import annotations

import asyncio
from functools import partial

from notification_service import senders
from notification_service.bootstrap import NotificationDeps
from notification_service.senders import Sender
from notification_service.store import NotificationWork
from runtime import pollers
from runtime.consume import describe
from runtime.logging import log
from runtime.parking import storable
from runtime.retries import Failure, send_round
from runtime.tables import Row

DISPATCH_ROUND = 200  # notifications claimed, sent and marked in one round


async def dispatch(deps: NotificationDeps, sender: Sender, max_attempts: int = 8, backoff_s: float = 5.0,
                   send_timeout_s: float = 15.0) -> None:
    """Sends what was recorded, after its transaction committed, each notification on its own: one that fails is
    tried again later (the delay doubling from `backoff_s`), one that cannot be delivered or has failed
    `max_attempts` times is dead (shown by `oms notifications`, and an operator alert in the log). No transaction
    is open while sending (`runtime.retries`); a crash before marking re-sends at most a round, a minute later,
    which the sender drops by notification id."""

    async def send(row: Row) -> Failure | None:
        try:
            await asyncio.wait_for(sender.send(row), send_timeout_s)
            return None
        except Exception as exc:
            return storable(describe(exc), 500), senders.permanent(exc)

    async def round_() -> int:
        claimed, failed = await send_round(
            deps.pool, partial(NotificationWork, deps), lambda unit: unit.outgoing_notifications,
            lambda unit: unit.outgoing_notifications.claim(unit.now(), DISPATCH_ROUND), send, max_attempts, backoff_s)
        for row in failed:
            if row["dead_at"] is not None:
                log.error("notification.dead", order_id=row["order_id"], kind=row["kind"], attempts=row["attempts"])
            else:
                log.warning("notification.send_failed", order_id=row["order_id"], kind=row["kind"],
                            attempts=row["attempts"])
        return claimed

    await pollers.repeat(0.5, round_, "notification.dispatch", busy=DISPATCH_ROUND)
