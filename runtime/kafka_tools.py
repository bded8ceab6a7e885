"""Small aiokafka helpers the tools and tests share."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

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
    consumer = AIOKafkaConsumer(**kafka, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic)
        consumer.assign(partitions)
        if since_ms:
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
            for tp in partitions:
                consumer.seek(tp, starts[tp].offset if starts[tp] is not None else ends[tp])
        else:
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout}s")
            for batch in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                records.extend(batch)
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


async def commit_handled(consumer: AIOKafkaConsumer, records: list[ConsumerRecord]) -> None:
    """Commits the offset after the last of these records, for their partitions only.

    A consumer's own `commit()` writes the position of every partition it is assigned, changed or not: one record in
    `__consumer_offsets` per partition and commit, about twice as many as this writes (docs/performance.md). A
    partition taken away during the batch is left to its new owner, which re-reads from the last commit (the inbox
    absorbs what was handled twice)."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    owned = consumer.assignment()
    offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
    if offsets:
        await consumer.commit(offsets)
