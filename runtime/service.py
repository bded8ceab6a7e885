"""How every service runs: pool and migrations, FastStream subscribers under the consume policy, the relay."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaClient, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry.trace import Tracer

from runtime import inbox, metrics, pollers, security, tracing
from runtime.consume import ConsumePolicy, Linger, Subscription
from runtime.db import create_pool, migrate, unapplied
from runtime.deps import Deps
from runtime.kafka_tools import Commits, LagReader, adopt_offsets
from runtime.logging import configure_logging, log
from runtime.outbox import OutboxRelay, make_producer, topic_missing
from runtime.parking import REFUSED_BY_BROKER, TopicMissing
from runtime.security import KafkaOptions
from runtime.settings import Settings, get_settings


def freeze_startup_objects() -> int:
    """Moves what starting made (modules, message schemas, clients: alive as long as the process) out of the cyclic
    collector's sight, so a full collection walks only what handling messages made since (docs/performance.md: its
    pauses were what every message in flight waited for). Returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def supervised(name: str, job: Callable[[], Coroutine[Any, Any, None]], restarts: int = 20,
                     backoff_s: float = 0.5) -> None:
    """Runs a background job for the life of the process: one that fails is restarted after a pause, and one that
    keeps failing (`restarts` times in a row) takes the process down, so its supervisor restarts the whole instead
    of a process that looks alive while its relay or dispatcher is dead."""
    failures = 0
    while True:
        started = asyncio.get_running_loop().time()
        try:
            await job()
            raise RuntimeError(f"{name} returned")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures = 1 if asyncio.get_running_loop().time() - started > 60 else failures + 1
            log.error("background.failed", job=name, error=repr(exc), in_a_row=failures, exc_info=exc)
            if failures >= restarts:
                log.critical("background.giving_up", job=name)
                os._exit(70)
            await asyncio.sleep(min(backoff_s * 2 ** failures, 30.0))


D = TypeVar("D", bound=Deps)
SubscriptionFactory = Callable[[D], Sequence[Subscription]]
Background = Callable[[D], Coroutine[Any, Any, None]]


async def undecoded(msg: KafkaMessage) -> KafkaMessage:
    """Decoding is the consume policy's job, so bad bytes reach it instead of crashing the subscriber; the handler
    gets the message itself (no dependency injection: `apply_types=False` keeps the per-message cost down)."""
    return msg


@dataclass
class ServiceRuntime(Generic[D]):
    """A service: its migrations, its dependencies (`bootstrap`, from what every service has), the subscriptions and
    background jobs given them."""

    name: str
    migrations: Path
    bootstrap: Callable[[Deps], D]
    subscriptions: SubscriptionFactory[D]
    background: Sequence[Background[D]] = ()
    probes: Sequence[metrics.Probe] = ()  # the service's own gauges, sampled from its database
    settings: Settings = field(default_factory=get_settings)
    tracer: Tracer | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def migrates(self) -> bool:
        """Whether this process applies its migrations itself: only one that holds the migration role's login (a
        process launched with its own credentials does not: the stack's setup migrated before it started)."""
        return self.settings.credentials_file is None or \
            bool(os.environ.get(f"OMS_{self.name.upper()}_MIGRATIONS_DATABASE_URL"))

    async def run(self) -> None:
        """Runs the service until it is stopped. A broker that goes away while the service starts (restarted at that
        moment) is waited for again rather than ending the service."""
        configure_logging(self.name, self.settings.log_level)
        metrics.serve(self.settings, self.name)
        self.tracer = tracing.configure(self.name, self.settings.otlp_endpoint)
        if self.tracer is not None:
            log.info("tracing.exporting", endpoint=self.settings.otlp_endpoint)
        while not await self._run_once():
            await asyncio.sleep(1)

    async def _run_once(self) -> bool:
        """False when the broker went away before the service had started (what it had opened is closed)."""
        dsn = self.settings.database_for(self.name)
        if self.migrates:
            migrations = await self._connect(self.settings.migrations_dsn(self.name), size=1)
            try:
                await migrate(migrations, self.migrations)
            finally:
                await migrations.close()
        pool = await self._connect(dsn)
        if not self.migrates and (missing := await unapplied(pool, self.migrations)):
            await pool.close()
            raise SystemExit(f"{self.name}: migrations not applied ({', '.join(missing)}): the stack's setup applies "
                             "them (make infra-up, oms up)")
        deps = self.bootstrap(Deps.of(self.name, self.settings, pool))
        kafka = deps.kafka
        await deps.clock.sync(pool)
        dlq_producer = make_producer(kafka, f"{self.name}-dlq")
        # faststream takes a string as one host: the cluster profile's list goes as a list
        broker = KafkaBroker(self.settings.kafka_bootstrap.split(","), security=security.faststream(kafka),
                             client_id=self.name, acks="all",
                             enable_idempotence=True, graceful_timeout=20.0, logger=None, apply_types=False)
        policy = ConsumePolicy(self.name, self._publisher(dlq_producer), pool, self.settings.consume_max_attempts,
                               self.settings.consume_backoff_ms / 1000, tracer=self.tracer)
        subscriptions = self.subscriptions(deps)
        commits = [Commits(self.settings.consume_commit_interval_ms / 1000) for _ in subscriptions]
        for sub, committer in zip(subscriptions, commits, strict=True):
            self._subscribe(broker, policy, sub, committer)
        relay = OutboxRelay(dsn, self.name, kafka, self.settings.relay_batch_size,
                            self.settings.relay_poll_interval_ms / 1000,
                            hold_interval=self.settings.hold_state_ms / 1000,
                            # a service none of whose consumers is urgent is off every order's way to `released`
                            linger=0.0 if any(sub.urgent for sub in subscriptions) else
                            self.settings.consume_patient_linger_ms / 1000)
        app = FastStream(broker, logger=None)
        started = False

        @app.after_startup
        async def start_background() -> None:
            nonlocal started
            started = True
            await dlq_producer.start()
            groups = [self.group_id(sub) for sub in subscriptions]
            jobs: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
                ("outbox.relay", relay.run), ("inbox.prune", partial(self._prune_inbox, pool)),
                ("metrics.sampler", partial(metrics.sampler, self.name, pool, list(self.probes),
                                            partial(metrics.sample_lag, LagReader(kafka), groups))),
                ("database.clock", partial(self._keep_clock, deps)),
                *((getattr(job, "__name__", "background"), partial(job, deps)) for job in self.background)]
            self._tasks = [asyncio.create_task(supervised(name, job)) for name, job in jobs]
            log.warning("service.started", subscriptions=len(broker.subscribers),  # shown at every log level
                        frozen_objects=freeze_startup_objects())

        @app.on_shutdown
        async def commit_handled() -> None:  # before the consumers stop; what they finish meanwhile commits at once
            await asyncio.gather(*(committer.close() for committer in commits))

        @app.after_shutdown
        async def stop_background() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await relay.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(dlq_producer.stop(), 5)
            await pool.close()
            log.info("service.stopped")

        lost = False
        try:
            await self._wait_for_broker(kafka)
            for sub in subscriptions:
                if sub.replaces:
                    adopted = await adopt_offsets(kafka, self.group_id(sub), tuple(
                        f"{self.name}.{old}{self.settings.consumer_group_suffix}" for old in sub.replaces), sub.names)
                    log.info("consume.offsets_adopted", group=sub.group, partitions=adopted)
            await app.run()
        except* KafkaConnectionError as lost_broker:
            if started:
                raise
            lost = True
            log.warning("kafka.lost_while_starting", error=repr(lost_broker.exceptions[0]))
        if lost:
            with contextlib.suppress(Exception):
                await broker.stop()
            await pool.close()
        return not lost

    async def _prune_inbox(self, pool: asyncpg.Pool, rows_a_round: int = 5000) -> None:
        """Every `inbox_prune_interval_s`, forgets the messages handled more than `inbox_retention_hours` ago, a
        round of `rows_a_round` after another until none is left."""
        older_than = timedelta(hours=self.settings.inbox_retention_hours)

        async def prune(conn: asyncpg.Connection) -> int:
            pruned = await inbox.prune(conn, older_than, rows_a_round)
            if pruned:
                log.info("inbox.pruned", rows=pruned, older_than_hours=self.settings.inbox_retention_hours)
            return pruned
        await pollers.every(pool, self.settings.inbox_prune_interval_s, prune, "inbox.prune", busy=rows_a_round)

    @staticmethod
    async def _keep_clock(deps: Deps, interval_s: float = 60.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await deps.clock.sync(deps.pool)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # an outage: the last offset holds
                log.warning("database.clock_unread", error=repr(exc))

    async def _wait_for_broker(self, kafka: KafkaOptions, timeout: float = 120.0) -> None:
        """A service (re)started while the broker is down waits for it, as it does for the database."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            client = AIOKafkaClient(**kafka, client_id=f"{self.name}-probe")
            try:
                await client.bootstrap()
                return
            except KafkaError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                log.warning("kafka.unreachable", error=repr(exc))
                await asyncio.sleep(1)
            finally:
                await client.close()

    async def _connect(self, dsn: str, size: int | None = None) -> asyncpg.Pool:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                return await create_pool(dsn, min_size=min(2, size or 2), max_size=size or self.settings.db_pool_size)
            except (OSError, asyncpg.PostgresError) as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                log.warning("db.unreachable", error=repr(exc))
                await asyncio.sleep(1)

    def group_id(self, sub: Subscription) -> str:
        return f"{self.name}.{sub.group}{self.settings.consumer_group_suffix}"

    def _subscribe(self, broker: KafkaBroker, policy: ConsumePolicy, sub: Subscription, commits: Commits) -> None:
        """One batch subscriber (one consumer) per subscription, however many topics it names: each fetch is
        handled in one transaction (every partition's records in order; `handle_batch` falls back to one by one
        when that fails), then the offsets of its partitions are committed (`Commits`: at most every
        `consume_commit_interval_ms`, off the batch's way). A batch smaller than the most a fetch may bring waits
        for more first while records keep coming (`Linger`): `consume_linger_ms` where a customer waits for the
        order to be released (`Subscription.urgent`), `consume_patient_linger_ms` elsewhere: fewer, fuller
        transactions there leave the machine to the orders on their way."""
        most = self.settings.consume_batch_size
        # The broker answers a fetch as soon as a record is there (an idle consumer asks twice a second), and a small
        # batch waits in the client to grow while records keep coming (`Linger`): a stream of records costs one fetch
        # and one transaction per linger, not one per record, a lone record goes at once, and an idle consumer costs
        # the broker and this process next to nothing.
        linger = Linger((self.settings.consume_linger_ms if sub.urgent else self.settings.consume_patient_linger_ms)
                        / 1000)

        @broker.subscriber(*sub.names, group_id=self.group_id(sub), auto_offset_reset="earliest",
                           ack_policy=AckPolicy.MANUAL, batch=True, max_records=self.settings.consume_batch_size,
                           batch_timeout_ms=20 if sub.urgent else self.settings.consume_patient_linger_ms,
                           fetch_min_bytes=1, fetch_max_wait_ms=500,
                           decoder=undecoded, session_timeout_ms=self.settings.consume_session_timeout_ms,
                           heartbeat_interval_ms=self.settings.consume_session_timeout_ms // 5)
        async def consume(msg: KafkaMessage) -> None:
            records: list[ConsumerRecord] = list(msg.raw_message)  # type: ignore[arg-type]
            if wait := linger.before(len(records), most):  # fewer, fuller transactions while records keep coming
                await asyncio.sleep(wait)
                more = await msg.consumer.getmany(timeout_ms=0, max_records=most - len(records))  # type: ignore[attr-defined]
                records += [record for batch in more.values() for record in batch]
            try:
                await policy.handle_batch(records, sub)
            except Exception as exc:  # nothing of this fetch is committed: it is read again
                await policy.unexpected_failure(msg.consumer, records, exc)  # type: ignore[attr-defined]
                return
            finally:
                linger.handled()
            await commits.handled(msg.consumer, records)  # type: ignore[attr-defined]
            policy.handled()

    @staticmethod
    def _publisher(producer: AIOKafkaProducer) -> Callable[..., Awaitable[None]]:
        async def publish(topic: str, key: bytes | None, value: bytes | None,
                          headers: list[tuple[str, bytes]]) -> None:
            try:
                await asyncio.wait_for(producer.send_and_wait(topic, value, key=key, headers=headers), 15)
            except (TimeoutError, KafkaError) as exc:  # an outage is waited out; a topic that is not there, not
                if not isinstance(exc, REFUSED_BY_BROKER) and await topic_missing(producer, topic):
                    raise TopicMissing(f"{topic} does not exist (and the broker does not create topics)") from exc
                raise
        return publish
