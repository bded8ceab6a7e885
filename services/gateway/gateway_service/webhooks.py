"""Webhook deliveries, a task of the gateway service: each recorded delivery posted to its subscriber once the
transaction that recorded it committed, signed with the subscriber's secret; retried, and dead when it cannot
arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from functools import partial

import httpx

from gateway_service import store
from gateway_service.bootstrap import GatewayDeps
from gateway_service.store import GatewayWork
from runtime import pollers, security, signing
from runtime.logging import log
from runtime.parking import storable
from runtime.retries import Failure, send_round
from runtime.tables import Row

IN_FLIGHT = 8  # posts at once to one subscriber
ROUND_EACH = 50  # deliveries claimed per subscriber and round: one with a backlog does not hold back the others


def permanent(status: int) -> bool:
    """A refusal that will be the same next time (4xx other than 408, 425 and 429)."""
    return 400 <= status < 500 and status not in (408, 425, 429)


async def webhook_dispatcher(deps: GatewayDeps) -> None:
    """Posts each recorded delivery after its transaction committed, signed with its subscriber's secret, with no
    transaction open meanwhile (`runtime.retries`); a failed one is posted again later (the wait doubling from
    `webhook_backoff_s`), one refused for good or failed `webhook_max_attempts` times is dead (`oms webhooks --dead`,
    and an operator alert in the log)."""
    settings = deps.settings
    subscribers = {s.id: s for s in deps.subscribers}
    secrets = {i: security.subscriber_secret(settings, i) for i in subscribers}

    async with deps.pool.acquire() as conn, conn.transaction():
        gone = await store.ORPHANED_DELIVERIES.run(conn, list(subscribers))
    if gone:
        log.warning("webhook.subscriber_gone", deliveries=gone)
    in_flight = {i: asyncio.Semaphore(IN_FLIGHT) for i in subscribers}  # per subscriber: a receiver is not flooded
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        async def post(row: Row) -> Failure | None:
            subscriber = subscribers.get(row["subscriber"])
            if subscriber is None:
                return "no such subscriber in the webhooks file any more", True
            body = row["payload"].encode()
            try:
                async with in_flight[subscriber.id]:
                    answer = await client.post(subscriber.url, content=body, headers={
                        signing.HEADER: signing.sign(secrets[subscriber.id], body), "content-type": "application/json",
                        "X-OMS-Event-Id": row["message_id"], "X-OMS-Event-Type": row["message_type"],
                        "Idempotency-Key": row["delivery_id"]})
            except httpx.HTTPError as exc:
                return storable(f"{type(exc).__name__}: {exc}", 500), False
            if answer.is_success:
                return None
            return f"HTTP {answer.status_code}", permanent(answer.status_code)

        def claim(unit: GatewayWork) -> Awaitable[list[Row]]:
            return unit.outgoing_deliveries.claim_each(unit.now(), list(subscribers), ROUND_EACH)

        async def round_() -> int:
            claimed, failed = await send_round(deps.pool, partial(GatewayWork, deps),
                                               lambda unit: unit.outgoing_deliveries, claim, post,
                                               settings.webhook_max_attempts, settings.webhook_backoff_s, at_once=True)
            for row in failed:
                if row["dead_at"] is not None:
                    log.error("webhook.dead", order_id=row["order_id"], subscriber=row["subscriber"],
                              attempts=row["attempts"])
                else:
                    log.warning("webhook.post_failed", order_id=row["order_id"], subscriber=row["subscriber"],
                                attempts=row["attempts"], error=row["last_error"])
            return claimed

        await pollers.repeat(0.5, round_, "webhook.dispatch", busy=ROUND_EACH)
