"""The gateway's wiring: the read model's consumers, and the HTTP server (uvicorn) beside them in one process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts import topics
from contracts.base import Message
from gateway_service import store
from gateway_service.api import Gate, Unavailable, create_app
from gateway_service.handlers import EVENTS, INBOUND, from_channel
from gateway_service.store import GatewayWork
from shared import security
from shared.consume import Subscription
from shared.logging import log
from shared.messaging import cloudevent_headers, encode
from shared.outbox import make_producer
from shared.service import Deps, ServiceRuntime
from shared.settings import Settings


def subscriptions(deps: Deps) -> list[Subscription]:
    deps.extra["tracking_secret"] = security.tracking_secret(deps.settings)
    work = partial(GatewayWork, deps)
    channels = {topics.channel_topic(c): from_channel(c) for c in deps.network.channels}
    return [
        Subscription(topics.ORDERS_EVENTS, (topics.ORDERS_EVENTS.name,), EVENTS, work, dead_letter_invalid=False),
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


class PostgresReads:
    def __init__(self, pool: asyncpg.Pool, secret: str) -> None:
        self.pool, self.secret = pool, secret

    async def order(self, channel: str, external_id: str) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            return await store.order_view(conn, channel=channel, external_id=external_id)

    async def tracked(self, token: str) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            return await store.order_view(conn, token=token)

    async def search(self, email: str | None, phone: str | None) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await store.search(conn, self.secret, email, phone)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the service's runtime owns SIGTERM, and stops this task
        yield


def listen_port(settings: Settings) -> int:
    return settings.gateway_port or urlsplit(settings.gateway_url).port or 8080


async def http_server(deps: Deps) -> None:
    settings = deps.settings
    producers = ChannelProducers(settings)
    gate = Gate(deps.network, {c: security.channel_secrets(settings, c) for c in deps.network.channels},
                security.operator_api_token(settings), producers.publish,
                PostgresReads(deps.pool, security.tracking_secret(settings)))
    config = uvicorn.Config(create_app(gate), host=settings.gateway_host, port=listen_port(settings),
                            log_config=None, access_log=False, lifespan="off")
    server = _Server(config)
    log.info("gateway.listening", url=settings.gateway_url, port=config.port)
    try:
        await server.serve()
    finally:
        server.should_exit = True
        await producers.close()


def runtime() -> ServiceRuntime:
    return ServiceRuntime("gateway", Path(__file__).parent / "sql", subscriptions, background=[http_server])
