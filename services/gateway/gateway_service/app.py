"""The gateway's wiring: the read model's consumers, and the HTTP server (uvicorn) beside them in one process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts import topics
from contracts.base import Message
from gateway_service import store
from gateway_service.api import Gate, TokenBuckets, Unavailable, create_app
from gateway_service.handlers import EVENTS, INBOUND, NOTIFICATIONS, from_channel, tells_no_subscriber
from gateway_service.store import GatewayWork
from gateway_service.subscribers import Subscriber, load_subscribers
from shared import pollers, security, signing
from shared.consume import Subscription
from shared.db import create_pool
from shared.logging import log
from shared.messaging import cloudevent_headers, encode
from shared.outbox import make_producer
from shared.parking import storable
from shared.personal_data import retention
from shared.service import Deps, ServiceRuntime
from shared.settings import Settings


def subscriptions(deps: Deps) -> list[Subscription]:
    deps.extra["tracking_secret"] = security.tracking_secret(deps.settings)
    deps.extra.setdefault("subscribers", load_subscribers(deps.settings.webhooks_file))
    work = partial(GatewayWork, deps)
    channels = {topics.channel_topic(c): from_channel(c) for c in deps.network.channels}
    notified = any("notification.requested" in s.events for s in deps.extra["subscribers"])  # type: ignore[attr-defined]
    return [
        Subscription(topics.ORDERS_EVENTS, (topics.ORDERS_EVENTS.name,), EVENTS, work, dead_letter_invalid=False),
        *([Subscription(topics.NOTIFICATIONS, (topics.NOTIFICATIONS.name,), NOTIFICATIONS, work,
                        dead_letter_invalid=False, ignores=tells_no_subscriber(deps))]
          if notified else []),  # nobody wants them: not even read
        Subscription(topics.ORDERS_INBOUND, (topics.ORDERS_INBOUND.name, *channels), INBOUND, work,
                     dead_letter_invalid=False, by_topic=channels, also=(topics.CHANNEL_INBOUND,)),
    ]


class ChannelProducers:
    """One idempotent acks=all producer per channel, logged in as that channel (so the broker's ACLs hold for what
    the gateway writes too), made when the channel first posts."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.settings, self.timeout_s = settings, timeout_s
        self.producers: dict[str, AIOKafkaProducer] = {}
        self.lock = asyncio.Lock()

    async def producer(self, channel: str) -> AIOKafkaProducer:
        async with self.lock:
            if channel not in self.producers:
                kafka = security.client_options(self.settings, security.principal("channel", channel))
                producer = make_producer(kafka, f"gateway-{topics.channel_partner(channel)}")
                await asyncio.wait_for(producer.start(), self.timeout_s)
                self.producers[channel] = producer
            return self.producers[channel]

    async def publish(self, channel: str, key: str, message: Message) -> None:
        try:
            producer = await self.producer(channel)
            headers = [(k, v.encode()) for k, v in cloudevent_headers(message, "gateway").items()]
            await asyncio.wait_for(producer.send_and_wait(topics.channel_topic(channel), encode(message),
                                                          key=key.encode(), headers=headers), self.timeout_s)
        except (TimeoutError, KafkaError) as exc:
            await self.drop(channel)  # a fresh producer next time: one the broker stopped accepting never recovers
            raise Unavailable(repr(exc)) from exc

    async def drop(self, channel: str) -> None:
        async with self.lock:
            producer = self.producers.pop(channel, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    async def close(self) -> None:
        for channel in list(self.producers):
            await self.drop(channel)


class PostgresReplays:
    """The requests answered already, in the gateway's database (every instance's, across restarts)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def answered(self, key: str) -> dict[str, Any] | None:
        found = await self.pool.fetchval("SELECT answer FROM answered_requests WHERE replay_key = $1 "
                                         "AND keep_until > now()", key)
        return cast(dict[str, Any], orjson.loads(found)) if found else None

    async def remember(self, key: str, answer: dict[str, Any], keep_s: float) -> None:
        await self.pool.execute(
            "INSERT INTO answered_requests (replay_key, answer, keep_until) VALUES ($1, $2::jsonb, now() + $3 * "
            "interval '1 second') ON CONFLICT (replay_key) DO UPDATE SET answer = EXCLUDED.answer, keep_until = "
            "EXCLUDED.keep_until WHERE answered_requests.keep_until <= now()", key, orjson.dumps(answer).decode(),
            keep_s)


async def forget_answered(deps: Deps) -> None:
    """Requests past their keeping time are forgotten (a replay of one is stale by then), every few minutes."""
    async def forget(conn: asyncpg.Connection) -> int:
        status = await conn.execute("DELETE FROM answered_requests WHERE keep_until < now()")
        return int(status.rsplit(" ", 1)[1])
    await pollers.every(deps.pool, 300, forget, "gateway.forget_answered")


class PostgresReads:
    def __init__(self, pool: asyncpg.Pool, secret: str, tracking: asyncpg.Pool | None = None) -> None:
        self.pool, self.secret, self.tracking = pool, secret, tracking or pool

    async def order(self, channel: str, external_id: str) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            return await store.order_view(conn, channel=channel, external_id=external_id)

    async def tracked(self, token: str) -> dict[str, Any] | None:
        async with self.tracking.acquire() as conn:  # a pool of its own: customers are served whatever channels do
            return await store.order_view(conn, token=token)

    async def search(self, email: str | None, phone: str | None) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await store.search(conn, self.secret, email, phone)


    async def retry_dead(self, subscriber: str | None) -> int:
        async with self.pool.acquire() as conn:
            return await store.retry_dead(conn, subscriber)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the service's runtime owns SIGTERM, and stops this task
        yield


def listen_port(settings: Settings) -> int:
    return settings.gateway_port or urlsplit(settings.gateway_url).port or 8080


async def http_server(deps: Deps) -> None:
    settings = deps.settings
    producers = ChannelProducers(settings)
    tracking = await create_pool(settings.database_for("gateway"), min_size=1, max_size=settings.gateway_tracking_pool)
    gate = Gate(deps.network, {c: security.channel_secrets(settings, c) for c in deps.network.channels},
                security.operator_api_token(settings), producers.publish,
                PostgresReads(deps.pool, security.tracking_secret(settings), tracking), replays=PostgresReplays(deps.pool),
                limits=TokenBuckets(settings.gateway_rate_per_s, settings.gateway_burst))
    config = uvicorn.Config(create_app(gate), host=settings.gateway_host, port=listen_port(settings),
                            log_config=None, access_log=False, lifespan="off",
                            timeout_keep_alive=30)  # senders that keep connections open are not cut off under them
    server = _Server(config)
    log.info("gateway.listening", url=settings.gateway_url, port=config.port)
    try:
        await server.serve()
    finally:
        server.should_exit = True
        await producers.close()
        await tracking.close()


IN_FLIGHT = 8  # posts at once to one subscriber


def permanent(status: int) -> bool:
    """A refusal that will be the same next time (4xx other than 408, 425 and 429)."""
    return 400 <= status < 500 and status not in (408, 425, 429)


async def webhook_dispatcher(deps: Deps) -> None:
    """Posts each recorded delivery after its transaction committed, signed with its subscriber's secret; a failed
    one is posted again later (the wait doubling from `webhook_backoff_s`), one refused for good or failed
    `webhook_max_attempts` times is dead (`oms webhooks --dead`, and an operator alert in the log)."""
    settings = deps.settings
    subscribers = {s.id: s for s in cast(list[Subscriber], deps.extra.get("subscribers", []))}
    secrets = {i: security.subscriber_secret(settings, i) for i in subscribers}

    async with deps.pool.acquire() as conn:
        gone = await store.orphaned(conn, list(subscribers))
    if gone:
        log.warning("webhook.subscriber_gone", deliveries=gone)
    in_flight = {i: asyncio.Semaphore(IN_FLIGHT) for i in subscribers}  # per subscriber: a receiver is not flooded
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        async def post(row: asyncpg.Record) -> tuple[str, str, bool] | None:
            subscriber = subscribers.get(row["subscriber"])
            if subscriber is None:
                return row["delivery_id"], "no such subscriber in the webhooks file any more", True
            body = row["payload"].encode()
            try:
                async with in_flight[subscriber.id]:
                    answer = await client.post(subscriber.url, content=body, headers={
                        signing.HEADER: signing.sign(secrets[subscriber.id], body), "content-type": "application/json",
                        "X-OMS-Event-Id": row["message_id"], "X-OMS-Event-Type": row["message_type"],
                        "Idempotency-Key": row["delivery_id"]})
            except httpx.HTTPError as exc:
                return row["delivery_id"], storable(f"{type(exc).__name__}: {exc}", 500), False
            if answer.is_success:
                return None
            return row["delivery_id"], f"HTTP {answer.status_code}", permanent(answer.status_code)

        async def send_round(conn: asyncpg.Connection) -> int:
            rows = await store.claim_due(conn, list(subscribers), 50)
            results = await asyncio.gather(*(post(row) for row in rows))
            await store.POSTS.mark_sent(conn, [row["delivery_id"] for row, failed in zip(rows, results, strict=True)
                                         if failed is None])
            failures = [failed for failed in results if failed is not None]
            errors = {delivery_id: error for delivery_id, error, _ in failures}
            for row in await store.POSTS.mark_failed(conn, failures, settings.webhook_max_attempts,
                                               settings.webhook_backoff_s):
                if row["dead"]:
                    log.error("webhook.dead", order_id=row["order_id"], subscriber=row["subscriber"],
                              attempts=row["attempts"])
                else:
                    log.warning("webhook.post_failed", order_id=row["order_id"], subscriber=row["subscriber"],
                                attempts=row["attempts"], error=errors.get(row["delivery_id"]))
            return len(rows)

        await pollers.every(deps.pool, 0.5, send_round, "webhook.dispatch", busy=50)


def runtime() -> ServiceRuntime:
    return ServiceRuntime("gateway", Path(__file__).parent / "sql", subscriptions,
                          background=[http_server, webhook_dispatcher, forget_answered, retention()])
