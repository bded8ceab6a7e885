"""The transactional outbox: a unit of work writes its rows (`runtime.unit`); `OutboxRelay` publishes what committed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, TopicAuthorizationFailedError, UnknownTopicOrPartitionError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from contracts.base import Message
from contracts.topics import SEPARATOR
from runtime import metrics
from runtime.logging import log
from runtime.messaging import cloudevent_headers, encode
from runtime.parking import REFUSED_BY_BROKER, OversizedMessage, TopicMissing, park_outbox_rows
from runtime.security import KafkaOptions

# The largest payload an outbox row may carry: below the broker's default `message.max.bytes` (1 MiB) with room for
# the key and headers.
MAX_PAYLOAD_BYTES = 1_000_000
MAX_RECORD_BYTES = 1_048_000  # with key and headers: what the relay sends at most (the broker takes 1,048,588)


def refused_future(refusal: Exception) -> asyncio.Future[Any]:
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(refusal)
    return failed


# One statement a round: the rows the last round published go, the next ones are read (publish, then delete: a
# crash in between re-sends a round, which the inbox absorbs).
TAKE = """WITH published AS (DELETE FROM outbox WHERE id = ANY($2::bigint[]))
          SELECT id, topic, key, payload, headers, created_at FROM outbox WHERE id <> ALL($2::bigint[])
          ORDER BY id LIMIT $1"""


# The held state messages into the outbox, the latest of each only, in the order they were written.
RELEASE = """WITH taken AS (DELETE FROM outbox_held RETURNING *),
               latest AS (SELECT DISTINCT ON (topic, replaces) * FROM taken ORDER BY topic, replaces, id DESC)
          INSERT INTO outbox (topic, key, message_id, message_type, payload, headers)
          SELECT topic, key, message_id, message_type, payload, headers FROM latest ORDER BY id"""


async def relay_session(conn: asyncpg.Connection) -> None:
    """Settings of the connection a relay claims on. Losing a relay commit in a database crash only re-sends rows
    the inbox absorbs: no need to wait for the disk. Right after a vacuum the outbox looks empty to the planner,
    which then reads the whole heap, dead rows and all, and sorts it (docs/performance.md): the claim must always
    walk the id index, which soon skips the rows already taken. A disabled path the planner cannot avoid (the held
    messages' release reads its whole table) makes a plan look dear, and JIT would compile it at each call: off."""
    await conn.execute("SET synchronous_commit = off; SET enable_seqscan = off; SET enable_sort = off; SET jit = off")


KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}


def channel(service: str) -> str:
    """What a service's relay listens on: a unit of work that wrote outbox rows notifies it when it commits."""
    return f"outbox_{service}"


def held(message: Message) -> bool:
    """A state message (its type declares `latest_only`: a stock level, a channel's availability), whose latest value
    is all a reader needs."""
    return bool(getattr(type(message), "latest_only", None))  # a class attribute: no miss raised inside pydantic


def replaces(message: Message) -> str:
    """What a held message makes obsolete: an earlier one of its type with the same `latest_only` fields."""
    return "|".join([message.type, *(str(getattr(message, name)) for name in getattr(type(message), "latest_only", ()))])


def outbox_row(service: str, topic: str, key: str | None, message: Message, trace: str | None = None
               ) -> tuple[Any, ...]:
    """An outbox row's values: topic, key, message id and type, payload, headers (JSON). A message over the limit
    fails the unit of work that writes it (`OversizedMessage`, parked), never the relay that would send it."""
    payload = encode(message)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise OversizedMessage(f"{message.type} of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    headers = cloudevent_headers(message, service, trace)
    return topic, key, message.id, message.type, payload, orjson.dumps(headers).decode()


_PARTITIONER = DefaultPartitioner()


@functools.lru_cache(maxsize=1 << 16)
def key_hash(key: bytes) -> int:
    """Kafka's murmur2 of a key, as the producer's own partitioner takes it: in pure Python it costs 18 µs, and every
    message of an order (a dozen, each to one topic or two) has the same key."""
    return murmur2(key) & 0x7FFFFFFF


def partition_of(key: bytes | None, partitions: list[int]) -> int:
    """The partition the producer's default partitioner would choose (`partitions` sorted)."""
    if key is None:
        return int(_PARTITIONER(key, partitions, partitions))
    return partitions[key_hash(key) % len(partitions)]


def make_producer(kafka: KafkaOptions, client_id: str) -> AIOKafkaProducer:
    """The idempotent, acks=all producer every service publishes with. No linger: a relay round hands all its rows to
    the producer before it yields, so they leave in one request anyway, and a linger would delay every hop."""
    return AIOKafkaProducer(
        **kafka, client_id=client_id, acks="all", enable_idempotence=True,
        linger_ms=0, max_batch_size=256 * 1024, request_timeout_ms=10_000,
        retry_backoff_ms=200)


@dataclass
class OutboxRelay:
    """Publishes committed outbox rows in id order (so per key), then deletes them.

    One relay per service is active at a time (a PostgreSQL advisory lock, held by the connection it relays and
    listens on), which is what keeps per-key order with several instances. A round's rows are deleted by the next
    round's statement (or once the relay has been idle for `settle`): a relay that stops in between leaves them to
    the next leader, which sends them again, and the inboxes absorb the copies.
    """

    dsn: str
    service: str
    kafka: KafkaOptions
    batch_size: int = 500
    poll_interval: float = 1.0
    send_timeout: float = 15.0
    # a leader that stops talking to the database for this long is cut off by the server, and the lead passes on
    # (it sends a statement at least every poll interval while it leads)
    lead_idle_timeout: float = 30.0
    settle: float = 0.05  # caught up and not woken for this long: the published rows are deleted on their own
    hold_interval: float = 1.0  # how often the held state messages are released (the latest of each)
    linger: float = 0.0  # after a wake-up, how long the commits of the moment are let gather into one round
    _release_at: float = 0.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _producer: AIOKafkaProducer | None = None
    _published: list[int] = field(default_factory=list)  # acked, deleted by the next round's statement
    sent_total: int = 0
    metadata_wait: float = 3.0  # for a topic's partitions; then the broker is asked whether it has the topic at all
    _missing: dict[str, float] = field(default_factory=dict)  # topics found missing, and when

    async def run(self) -> None:
        """Runs until cancelled, through broker and database outages."""
        backoff = 0.2
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox.relay_failed", error=repr(exc), retry_in_s=backoff)
                await self._drop_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                backoff = 0.2

    async def _lead(self) -> None:
        # A leader that hangs must not keep the lead: every statement is bounded, and the server ends a session that
        # went quiet (idle_session_timeout) or whose peer stopped answering (TCP keepalives), which releases the
        # advisory lock to another instance.
        quiet_ms = int(max(self.lead_idle_timeout, 3 * self.poll_interval) * 1000)
        listener = await asyncpg.connect(self.dsn, timeout=10, command_timeout=30, server_settings={
            **KEEPALIVES, "idle_session_timeout": str(quiet_ms)})
        try:
            while not await listener.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", channel(self.service)):
                await asyncio.sleep(self.poll_interval)
            await listener.add_listener(channel(self.service), lambda *_: self._wake.set())
            await relay_session(listener)
            log.info("outbox.relay_leading")
            sent = self.batch_size
            while True:
                if self.linger and sent < self.batch_size:
                    await asyncio.sleep(self.linger)
                self._wake.clear()
                if time.monotonic() >= self._release_at:
                    await self.release_held(listener)
                sent = await self.relay_once(listener)
                if sent < self.batch_size and not await self._woken(self.settle):
                    if self._published:
                        await self.relay_once(listener, read=False)
                    await self._woken(self.poll_interval)
                if listener.is_closed():
                    raise ConnectionError("listen connection closed")
        finally:
            self._published = []  # whoever leads next reads them again: re-sent, absorbed by the inboxes
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.close(), 5)

    async def _woken(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
            return True
        return False

    async def release_held(self, conn: asyncpg.Connection) -> int:
        """The latest of each held state message into the outbox (the rest of them dropped): the next round sends
        them. Whoever leads does it, so each is released once."""
        self._release_at = time.monotonic() + self.hold_interval
        moved = int((await conn.execute(RELEASE)).rsplit(" ", 1)[1])
        if moved:
            log.debug("outbox.held_released", rows=moved)
        return moved

    async def relay_once(self, conn: asyncpg.Connection, read: bool = True) -> int:
        """One round: one statement (the last round's rows deleted, the next ones read), one send to the broker.
        Rows the broker refuses for good (too large, a topic it will not take) are parked, and the rest go on."""
        producer = await self._ensure_producer()
        rows = await conn.fetch(TAKE, self.batch_size if read else 0, self._published)
        self._published = []
        if not rows:
            return 0
        started = time.perf_counter()
        sends = await self._send(producer, rows)
        try:
            results = await asyncio.wait_for(asyncio.gather(*(future for future, _ in sends), return_exceptions=True),
                                             self.send_timeout)
        except TimeoutError as exc:
            raise ConnectionError(f"broker did not ack {len(rows)} rows: {exc!r}") from exc
        refused: dict[str, list[int]] = {}
        for result, (_, ids) in zip(results, sends, strict=True):
            if isinstance(result, REFUSED_BY_BROKER):
                refused.setdefault(f"the broker refused it: {result!r}", []).extend(ids)
        for reason, ids in refused.items():
            await park_outbox_rows(conn, self.service, ids, reason)
        if failed := next((r for r in results if isinstance(r, BaseException) and not isinstance(r, REFUSED_BY_BROKER)),
                          None):  # the round is read again (a refusal also upsets the idempotent producer's sequence)
            raise ConnectionError(f"broker did not ack {len(rows)} rows: {failed!r}") from failed
        parked = {i for ids in refused.values() for i in ids}
        self._published = [row["id"] for row in rows if row["id"] not in parked]
        self.sent_total += len(self._published)
        metrics.relay_published(self.service, len(self._published), time.time() - rows[0]["created_at"].timestamp())
        log.debug("outbox.relayed", rows=len(rows), ms=round((time.perf_counter() - started) * 1000, 1))
        return len(rows)

    async def _send(self, producer: AIOKafkaProducer, rows: list[asyncpg.Record]) -> list[tuple[Any, list[int]]]:
        """The rows as one record batch per partition, in id order within each (so per key), each partition chosen
        as the producer's own partitioner would; each send with the ids of the rows it carries (a row over the size
        limit: a send that failed). About a quarter less CPU a row than a `send` each, which keeps a future, a
        partitioner call and an accumulator lookup per record."""
        batches: dict[tuple[str, int], tuple[Any, list[int]]] = {}
        sends: list[tuple[Any, list[int]]] = []
        known: dict[str, list[int] | Exception] = {}  # each topic's partitions as the producer knows them now
        for row in rows:
            key = row["key"].encode() if row["key"] is not None else None
            record = {"timestamp": None, "key": key, "value": row["payload"],
                      "headers": [(k, v.encode()) for k, v in orjson.loads(row["headers"]).items()]}
            if DefaultRecordBatchBuilder.estimate_size_in_bytes(key, record["value"], record["headers"]) > \
                    MAX_RECORD_BYTES:  # a batch takes its first record whatever its size: the broker would refuse it
                sends.append((refused_future(MessageSizeTooLargeError(f"over {MAX_RECORD_BYTES} bytes")), [row["id"]]))
                continue
            for topic in row["topic"].split(SEPARATOR):  # a row for several topics (a channel's copy) goes to each
                partitions = known.get(topic)
                if partitions is None:
                    partitions = known[topic] = await self._partitions(producer, topic)
                if isinstance(partitions, Exception):
                    sends.append((refused_future(partitions), [row["id"]]))
                    continue
                where = (topic, partition_of(key, partitions))
                batch, ids = batches.get(where, (None, []))
                if batch is not None and batch.append(**record) is not None:
                    ids.append(row["id"])
                    continue
                if batch is not None:  # full: it goes, and the partition's next rows start another after it
                    sends.append((await producer.send_batch(batch, where[0], partition=where[1]), ids))
                batch = producer.create_batch()
                batch.append(**record)
                batches[where] = (batch, [row["id"]])
        for (topic, partition), (batch, ids) in batches.items():
            sends.append((await producer.send_batch(batch, topic, partition=partition), ids))
        return sends

    async def _partitions(self, producer: AIOKafkaProducer, topic: str) -> list[int] | Exception:
        """A topic's partitions, or why its rows are parked (a topic this service may not write, or one the broker
        does not have): only those rows wait for an operator, the others flow. A missing topic is asked about
        once a minute, not waited for each round."""
        known = producer.client.cluster.partitions_for_topic(topic)
        if known is not None:
            return sorted(known)
        missing_since = self._missing.get(topic)
        if missing_since is not None and time.monotonic() - missing_since < 60:
            return TopicMissing(f"{topic} does not exist (and the broker does not create topics)")
        try:
            # asked without creating it: the relay never makes a topic (it would get the broker's default partitions)
            answer = await asyncio.wait_for(producer.client.send(
                producer.client.get_random_node(), MetadataRequest([topic], allow_auto_topic_creation=False)),
                self.metadata_wait)
            code = next((t[0] for t in answer.topics if t[1] == topic), 0)
            if code == UnknownTopicOrPartitionError.errno:
                raise UnknownTopicOrPartitionError(topic)
            if code == TopicAuthorizationFailedError.errno:
                return TopicAuthorizationFailedError(topic)
            return sorted(await asyncio.wait_for(producer.partitions_for(topic), self.metadata_wait))
        except TopicAuthorizationFailedError as refusal:
            return refusal
        except (TimeoutError, UnknownTopicOrPartitionError):
            if not await topic_missing(producer, topic):
                raise  # the broker does not answer: an outage, the round is tried again
            self._missing[topic] = time.monotonic()
            log.error("outbox.topic_missing", topic=topic)
            return TopicMissing(f"{topic} does not exist (and the broker does not create topics)")

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self.kafka, f"{self.service}-relay")
            try:
                await asyncio.wait_for(producer.start(), self.send_timeout)
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 5)
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    async def close(self) -> None:
        await self._drop_producer()


async def topic_missing(producer: AIOKafkaProducer, topic: str) -> bool:
    """True when the broker answers and has no such topic; False when it does not answer (an outage)."""
    try:
        metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), 5)
    except Exception:
        return False
    return topic not in metadata.topics()
