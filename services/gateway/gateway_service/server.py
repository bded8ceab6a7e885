"""The gateway's HTTP server, a task of the gateway service: uvicorn serving the app (`api.py`) on the gate it is
given here, one producer per channel, the read model and the requests answered already in PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.process
import os
import socket
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg
import orjson
import uvicorn
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts import topics
from contracts.base import Message
from gateway_service import store
from gateway_service.agents import FORGET_SESSIONS, Agents
from gateway_service.api import create_app
from gateway_service.bootstrap import GatewayDeps, bootstrap
from gateway_service.edge import Desk, Gate, QuoteWaiters, TokenBuckets, Unavailable
from gateway_service.store import GatewayWork
from runtime import metrics, pollers, security
from runtime.db import create_pool
from runtime.deps import Deps
from runtime.logging import configure_logging, log
from runtime.messaging import cloudevent_headers, encode
from runtime.outbox import make_producer
from runtime.postgres import within
from runtime.service import freeze_startup_objects
from runtime.settings import Settings, get_settings


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


class DeskRequests:
    """The desk's requests to `oms.orders.inbound.v1`, as the gateway's own principal (which may write there and to
    no channel's topic), acknowledged by every replica before the agent is told they were sent."""

    def __init__(self, deps: GatewayDeps, timeout_s: float = 10.0) -> None:
        self.deps, self.timeout_s = deps, timeout_s
        self.producer: AIOKafkaProducer | None = None
        self.lock = asyncio.Lock()

    async def send(self, key: str, message: Message) -> None:
        try:
            async with self.lock:
                if self.producer is None:
                    producer = make_producer(self.deps.kafka, "gateway-desk")
                    await asyncio.wait_for(producer.start(), self.timeout_s)
                    self.producer = producer
            headers = [(k, v.encode()) for k, v in cloudevent_headers(message, "gateway").items()]
            await asyncio.wait_for(self.producer.send_and_wait(topics.ORDERS_INBOUND.name, encode(message),
                                                               key=key.encode(), headers=headers), self.timeout_s)
        except (TimeoutError, KafkaError) as exc:
            await self.close()
            raise Unavailable(repr(exc)) from exc

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)


class PostgresReplays:
    """The requests answered already, in the gateway's database (every instance's, across restarts). What a request
    was answered is written off its path: kept in memory at once (a replay to this instance is known from then on),
    and written by `run` with every other answer of the moment in one transaction, a few milliseconds later."""

    def __init__(self, deps: GatewayDeps, linger_s: float = 0.005) -> None:
        self.deps, self.linger_s = deps, linger_s
        self.pending: dict[str, tuple[dict[str, Any], float]] = {}  # not yet committed: answer, keep_s
        self.wake = asyncio.Event()

    async def answered(self, key: str) -> dict[str, Any] | None:
        if (known := self.pending.get(key)) is not None:
            return known[0]
        found = await self.deps.pool.fetchval("SELECT answer FROM answered_requests WHERE replay_key = $1 "
                                              "AND keep_until > now()", key)
        return cast(dict[str, Any], orjson.loads(found)) if found else None

    async def remember(self, key: str, answer: dict[str, Any], keep_s: float) -> None:
        """Kept until `keep_s` from now (one kept already stays as it is: a replay past its time, refused by its
        signature's age or its message id, is not answered again)."""
        self.pending.setdefault(key, (answer, keep_s))
        self.wake.set()

    async def write(self) -> int:
        """The answers not yet written, in one unit of work; they stay pending (and known) until it committed."""
        batch = dict(self.pending)
        if batch:
            async with within(self.deps.pool, partial(GatewayWork, self.deps)) as unit:
                for key, (answer, keep_s) in batch.items():
                    unit.answers.add({"replay_key": key, "answer": orjson.dumps(answer).decode(),
                                      "keep_until": unit.now() + timedelta(seconds=keep_s)})
            for key in batch:
                self.pending.pop(key, None)
        return len(batch)

    async def run(self) -> None:
        """Writes what was answered, a batch at a time, until cancelled (then what is left, once more); a database
        outage keeps the answers pending and is waited out."""
        try:
            while True:
                await self.wake.wait()
                await asyncio.sleep(self.linger_s)  # the answers of the moment together
                self.wake.clear()
                try:
                    await self.write()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("gateway.answers_not_written", error=repr(exc), pending=len(self.pending))
                    self.wake.set()
                    await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.write(), 5)


async def forget_answered(deps: GatewayDeps) -> None:
    """Requests past their keeping time are forgotten (a replay of one is stale by then), every few minutes."""
    await asyncio.gather(pollers.every(deps.pool, 300, store.FORGET_ANSWERED.run, "gateway.forget_answered"),
                         pollers.every(deps.pool, 3600, FORGET_SESSIONS.run, "gateway.forget_sessions"))


class PostgresReads:
    def __init__(self, deps: GatewayDeps, tracking: asyncpg.Pool | None = None) -> None:
        self.deps, self.pool, self.tracking = deps, deps.pool, tracking or deps.pool

    async def order(self, channel: str, external_id: str) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            return await store.order_view(conn, channel=channel, external_id=external_id)

    async def tracked(self, token: str) -> dict[str, Any] | None:
        async with self.tracking.acquire() as conn:  # a pool of its own: customers are served whatever channels do
            return await store.order_view(conn, token=token)

    async def search(self, email: str | None, phone: str | None) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await store.search(conn, self.deps.tracking_secret, email, phone)

    async def desk_order(self, order_id: str) -> dict[str, Any] | None:
        """One order as the desk shows it: the view and timeline, its notifications, the customer's other orders."""
        async with self.pool.acquire() as conn:
            view = await store.order_view(conn, order_id=order_id)
            if view is not None:
                view["notifications"] = await store.notifications_of(conn, order_id)
                view["money"] = await store.money_of(conn, order_id)
                view["others"] = await store.same_customer(conn, order_id)
            return view

    async def desk_search(self, text: str) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await store.desk_search(conn, self.deps.tracking_secret, text)

    async def attention(self) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await store.attention(conn)

    async def retry_dead(self, subscriber: str | None) -> int:
        async with within(self.pool, partial(GatewayWork, self.deps)) as unit:
            return await unit.outgoing_deliveries.revive(unit.now(), subscriber)


async def listen_for_quotes(deps: GatewayDeps, waiters: QuoteWaiters, ready: asyncio.Event) -> None:
    """Every `promise.quoted` from now on, to the promise requests this instance waits to answer. No consumer group:
    each instance reads every partition from its end (the answer may come on any). Through broker outages."""
    while True:
        consumer = AIOKafkaConsumer(topics.QUOTES.name, **deps.kafka, client_id="gateway-quotes", group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="latest", fetch_max_wait_ms=500)
        try:
            await consumer.start()  # without a group: every partition is assigned once the topic's metadata is in
            deadline = asyncio.get_running_loop().time() + 30
            while not consumer.assignment():
                if asyncio.get_running_loop().time() > deadline:
                    raise KafkaError(f"no partitions of {topics.QUOTES.name}")
                await asyncio.sleep(0.1)
            for partition in consumer.assignment():
                await consumer.position(partition)  # its end, from which on every quote is read
            ready.set()
            while True:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                            waiters.arrived(orjson.loads(record.value or b"{}"))
        except KafkaError as exc:
            log.warning("gateway.quotes_unread", error=repr(exc))
            await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the service's runtime owns SIGTERM, and stops this task
        yield


def listen_port(settings: Settings) -> int:
    return settings.gateway_port or urlsplit(settings.gateway_url).port or 8080


def shared_socket(host: str, port: int) -> socket.socket:
    """The listening socket, shared with every other gateway instance on this host (SO_REUSEPORT: the kernel hands
    each new connection to one of them), so more instances are more HTTP workers on one port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


async def http_server(deps: GatewayDeps) -> None:
    """The HTTP edge, a task of the gateway service: in `gateway_http_workers` processes of its own (so a request
    never waits behind a batch of the read model's projection in this one), or in this process when that is 0."""
    if deps.settings.gateway_http_workers <= 0:
        await serve(deps)
    else:
        await run_workers(deps.settings.gateway_http_workers)


async def run_workers(count: int, check_s: float = 1.0) -> None:
    """`count` worker processes serving HTTP on the shared port, each started again when it exits; stopped with
    the service (and each stops by itself when the service is gone: `worker`)."""
    context = multiprocessing.get_context("spawn")
    workers: list[multiprocessing.process.BaseProcess] = []
    try:
        while True:
            for n in range(count):
                if n < len(workers) and workers[n].is_alive():
                    continue
                if n < len(workers):
                    log.error("gateway.worker_exited", worker=n, code=workers[n].exitcode)
                process = context.Process(target=worker, args=(os.getpid(),), name=f"gateway-http-{n}", daemon=True)
                process.start()
                workers[n:n + 1] = [process]
            await asyncio.sleep(check_s)
    finally:
        for each in workers:
            each.terminate()
        for each in workers:
            await asyncio.to_thread(each.join, 10)
            if each.is_alive():
                each.kill()


def worker(parent: int) -> None:
    """One HTTP worker process: the gateway's dependencies of its own (pool, producers), serving until it is
    stopped or its service process is gone."""
    uvloop.run(_worker(parent))


async def _worker(parent: int) -> None:
    settings = get_settings()
    configure_logging("gateway", settings.log_level)
    metrics.serve(settings, "gateway")
    pool = await create_pool(settings.database_for("gateway"), min_size=1, max_size=settings.db_pool_size)
    deps = bootstrap(Deps.of("gateway", settings, pool))
    await deps.clock.sync(pool)
    serving = asyncio.create_task(serve(deps, signals=True))
    freeze_startup_objects()
    try:
        while not serving.done() and os.getppid() == parent:  # an orphan (its service killed) stops
            await asyncio.wait({serving}, timeout=1.0)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await pool.close()


async def serve(deps: GatewayDeps, signals: bool = False) -> None:
    """uvicorn on the shared port; `signals`: it handles SIGTERM itself (a worker process), else the service's
    runtime stops it."""
    settings = deps.settings
    producers = ChannelProducers(settings)
    tracking = await create_pool(settings.database_for("gateway"), min_size=1, max_size=settings.gateway_tracking_pool)
    replays = PostgresReplays(deps)
    writer = asyncio.create_task(replays.run())
    reads, requests = PostgresReads(deps, tracking), DeskRequests(deps)
    desk = Desk(Agents(deps), reads, requests.send,
                Decimal(str(settings.desk_refund_limit)), secure_cookies=settings.gateway_url.startswith("https:"))
    gate = Gate(deps.network, {c: security.channel_secrets(settings, c) for c in deps.network.channels},
                security.operator_api_token(settings), producers.publish, reads, replays=replays,
                limits=TokenBuckets(settings.gateway_rate_per_s, settings.gateway_burst), desk=desk)
    listening_for_quotes = asyncio.Event()
    quotes = asyncio.create_task(listen_for_quotes(deps, gate.quotes, listening_for_quotes))
    with contextlib.suppress(TimeoutError):  # until then a promise request could miss its answer
        await asyncio.wait_for(listening_for_quotes.wait(), 30)
    config = uvicorn.Config(create_app(gate), host=settings.gateway_host, port=listen_port(settings),
                            log_config=None, access_log=False, lifespan="off", http="httptools",
                            timeout_keep_alive=30)  # senders that keep connections open are not cut off under them
    server = uvicorn.Server(config) if signals else _Server(config)
    listening = shared_socket(settings.gateway_host, config.port)
    log.warning("gateway.listening", url=settings.gateway_url, port=config.port)  # shown at every log level
    try:
        await server.serve(sockets=[listening])
    finally:
        server.should_exit = True
        writer.cancel()
        quotes.cancel()
        await asyncio.gather(writer, quotes, return_exceptions=True)
        await producers.close()
        await requests.close()
        await tracking.close()
