"""Small aiokafka helpers the tools and tests share."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from runtime.logging import log
from runtime.security import KafkaOptions


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str, timeout: float = 30.0) -> list[TopicPartition]:
    """The topic's partitions, asking the broker for metadata until it knows the topic."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topic {topic} not known to the broker")
        await consumer._client._wait_on_metadata(topic)  # the public API only learns topics it subscribes to


async def read_topic(kafka: KafkaOptions, topic: str, timeout: float = 30.0, since_ms: int = 0) -> list[ConsumerRecord]:
    """Every record on the topic now (written at `since_ms` or later, in ms since the epoch), partition by
    partition, in offset order (a reader without a group)."""
    return (await read_topics(kafka, [topic], timeout, since_ms))[topic]


async def read_topics(kafka: KafkaOptions, topics: list[str], timeout: float = 30.0, since_ms: int = 0
                      ) -> dict[str, list[ConsumerRecord]]:
    """`read_topic` of several topics with one consumer (one connection, one login), which fetches only from the
    partitions that have records."""
    consumer = AIOKafkaConsumer(**kafka, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [tp for topic in topics for tp in await topic_partitions(consumer, topic)]
        ends = await consumer.end_offsets(partitions)
        if since_ms:
            found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
            starts = {tp: found[tp].offset if found[tp] is not None else ends[tp] for tp in partitions}
        else:
            starts = await consumer.beginning_offsets(partitions)
        unread = [tp for tp in partitions if starts[tp] < ends[tp]]
        consumer.assign(unread)
        for tp in unread:
            consumer.seek(tp, starts[tp])
        records: dict[str, list[ConsumerRecord]] = {topic: [] for topic in topics}
        deadline = asyncio.get_running_loop().time() + timeout
        while [tp for tp in unread if await consumer.position(tp) < ends[tp]]:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"could not read {', '.join(topics)} to the end in {timeout}s")
            for tp, batch in (await consumer.getmany(timeout_ms=500, max_records=10_000)).items():
                records[tp.topic].extend(r for r in batch if r.offset < ends[tp])
        return records
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Lag:
    """How far one consumer group is behind on one partition: the records written there it has not committed."""

    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def behind(self) -> int:
        return max(self.end - self.committed, 0)


class LagReader:
    """Consumer groups' lag, read with one admin client and one consumer kept open between readings (each new client
    costs the broker and this process a login: SCRAM's thousands of hash rounds, on every connection)."""

    def __init__(self, kafka: KafkaOptions) -> None:
        self.kafka = kafka
        self.admin: AIOKafkaAdminClient | None = None
        self.consumer: AIOKafkaConsumer | None = None

    async def lags(self, groups: list[str] | None = None) -> list[Lag]:
        """Every group's committed offset against each partition's end (groups listed by the broker unless given); a
        partition a group never committed is not shown. A failure closes the clients: the next reading opens new."""
        try:
            if self.admin is None:
                self.admin = AIOKafkaAdminClient(**self.kafka)
                await self.admin.start()
            names = groups if groups is not None else sorted(str(g[0]) for g in await self.admin.list_consumer_groups())
            committed = {group: {tp: o.offset for tp, o in (await self.admin.list_consumer_group_offsets(group)).items()
                                 if o.offset >= 0} for group in names}
            partitions = sorted({tp for offsets in committed.values() for tp in offsets})
            if not partitions:
                return []
            if self.consumer is None:
                self.consumer = AIOKafkaConsumer(**self.kafka, group_id=None, enable_auto_commit=False)
                await self.consumer.start()
            ends = await self.consumer.end_offsets(partitions)
        except BaseException:
            await self.close()
            raise
        return [Lag(group, tp.topic, tp.partition, offset, ends[tp])
                for group, offsets in committed.items() for tp, offset in sorted(offsets.items())]

    async def close(self) -> None:
        admin, consumer, self.admin, self.consumer = self.admin, self.consumer, None, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()


async def consumer_lag(kafka: KafkaOptions, groups: list[str] | None = None) -> list[Lag]:
    """The lag, read once (`LagReader`)."""
    reader = LagReader(kafka)
    try:
        return await reader.lags(groups)
    finally:
        await reader.close()


async def start_groups(kafka: KafkaOptions, groups: dict[str, tuple[tuple[str, ...], int | None]]) -> int:
    """Each new consumer group (name: the topics it will read, and from when in ms since the epoch, or None for
    now) starts there, not at the topics' beginning: for a run that must not inherit what earlier runs left
    unread. Returns the partitions set."""
    done = 0
    for group, (names, since_ms) in groups.items():
        consumer = AIOKafkaConsumer(**kafka, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [tp for topic in names for tp in await topic_partitions(consumer, topic)]
            consumer.assign(partitions)
            starts = await consumer.end_offsets(partitions)
            if since_ms is not None:
                found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
                starts |= {tp: at.offset for tp, at in found.items() if at is not None}
            await consumer.commit({tp: OffsetAndMetadata(at, "start of a run") for tp, at in starts.items()})
            done += len(starts)
        finally:
            await consumer.stop()
    return done


async def adopt_offsets(kafka: KafkaOptions, group: str, previous: tuple[str, ...], topics: tuple[str, ...],
                        timeout: float = 120.0) -> int:
    """A consumer group that replaces others starts where they stopped: for every partition of `topics` that
    `group` has no offset for, the offset one of the `previous` groups committed is committed for `group`.
    Returns how many were adopted (none once `group` has committed its own). A broker that is still starting (no
    group coordinator yet, the offsets topic being created) is waited for."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await _adopt(kafka, group, previous, topics)
        except KafkaError as exc:
            if not exc.retriable or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _adopt(kafka: KafkaOptions, group: str, previous: tuple[str, ...], topics: tuple[str, ...]) -> int:
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        have = await admin.list_consumer_group_offsets(group)
        wanted: dict[TopicPartition, OffsetAndMetadata] = {}
        for old in previous:
            for tp, committed in (await admin.list_consumer_group_offsets(old)).items():
                if tp.topic in topics and tp not in have and committed.offset >= 0:
                    wanted[tp] = OffsetAndMetadata(committed.offset, f"adopted from {old}")
    finally:
        await admin.close()
    if not wanted:
        return 0
    consumer = AIOKafkaConsumer(**kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        await consumer.commit(wanted)
    except CommitFailedError:  # another instance already consumes as `group`: it adopted them when it started
        return 0
    finally:
        await consumer.stop()
    return len(wanted)


def handled_offsets(records: list[ConsumerRecord], into: dict[TopicPartition, int] | None = None
                    ) -> dict[TopicPartition, int]:
    """The offset after the last of these records, per partition (merged `into` a dict given)."""
    offsets = {} if into is None else into
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        if record.offset + 1 > offsets.get(tp, 0):
            offsets[tp] = record.offset + 1
    return offsets


async def commit_offsets(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    """Commits these offsets, for the partitions the consumer still holds only.

    A consumer's own `commit()` writes the position of every partition it is assigned, changed or not: one record in
    `__consumer_offsets` per partition and commit, about twice as many as this writes (docs/performance.md). A
    partition taken away meanwhile is left to its new owner, which re-reads from the last commit (the inbox absorbs
    what was handled twice)."""
    owned = consumer.assignment()
    offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
    if offsets:
        await consumer.commit(offsets)


@dataclass
class Commits:
    """One consumer's handled offsets, committed at most every `every_s` (0: after each batch), the last of a quiet
    spell by a timer. Every commit is a request the client builds and the broker writes to `__consumer_offsets`;
    at a steady trickle a batch of one or two records had one each. What a crash leaves uncommitted (at most
    `every_s` of records) is read again and absorbed by the inbox, as after any crash between commit and handling."""

    every_s: float
    consumer: AIOKafkaConsumer | None = None
    pending: dict[TopicPartition, int] = field(default_factory=dict)
    closing: bool = False  # the service stops: each batch is committed at once
    _last: float = 0.0
    _timer: asyncio.Task[None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def handled(self, consumer: AIOKafkaConsumer, records: list[ConsumerRecord]) -> None:
        self.consumer = consumer
        handled_offsets(records, self.pending)
        wait = self._last + self.every_s - asyncio.get_running_loop().time()
        if self.closing or wait <= 0:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._later(wait))

    async def _later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._timer = None
        try:
            await self.flush()
        except Exception as exc:  # kept pending: the next batch or the next timer tries again
            log.warning("consume.commit_failed", error=repr(exc))

    async def flush(self) -> None:
        """Commits what is pending; what fails stays pending (unless a later offset of its partition came since)."""
        async with self._lock:
            offsets, self.pending = self.pending, {}
            self._last = asyncio.get_running_loop().time()
            if not offsets or self.consumer is None:
                return
            try:
                await commit_offsets(self.consumer, offsets)
            except BaseException:
                for tp, offset in offsets.items():
                    if offset > self.pending.get(tp, 0):
                        self.pending[tp] = offset
                raise

    async def close(self) -> None:
        """From now on each batch is committed at once, and what is pending now too."""
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
        with contextlib.suppress(Exception):
            await self.flush()
