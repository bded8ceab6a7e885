"""A consumer group that replaces others starts where they stopped, once, and then keeps its own offsets; a batch
commits the partitions it read, not every partition the consumer holds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from runtime.kafka_tools import Commits, LagReader, adopt_offsets, consumer_lag
from runtime.security import ADMIN, client_options
from tests.support.kafka import create_topic

pytestmark = pytest.mark.component


async def commit(group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(**client_options(who=ADMIN), group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def committed(group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(**client_options(who=ADMIN))
    await admin.start()
    try:
        return {tp: o.offset for tp, o in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()


async def test_a_merged_consumer_group_starts_where_the_groups_it_replaces_stopped(stack) -> None:
    run = uuid.uuid4().hex[:8]
    a, b, unrelated = f"test.adopt.a.{run}", f"test.adopt.b.{run}", f"test.adopt.c.{run}"
    for topic in (a, b, unrelated):
        await create_topic(topic, partitions=3)
    await commit(f"old-a-{run}", {TopicPartition(a, 0): 5, TopicPartition(a, 1): 7})
    await commit(f"old-b-{run}", {TopicPartition(b, 0): 3, TopicPartition(unrelated, 0): 11})
    merged, old = f"merged-{run}", (f"old-a-{run}", f"old-b-{run}")

    assert await adopt_offsets(client_options(who=ADMIN), merged, old, (a, b)) == 3
    assert await committed(merged) == {TopicPartition(a, 0): 5, TopicPartition(a, 1): 7, TopicPartition(b, 0): 3}

    await commit(merged, {TopicPartition(a, 0): 9})  # the merged group moves on: a later start keeps its offsets
    assert await adopt_offsets(client_options(who=ADMIN), merged, old, (a, b)) == 0
    assert (await committed(merged))[TopicPartition(a, 0)] == 9


async def test_a_handled_batch_commits_only_the_partitions_it_read(stack) -> None:
    topic, group = f"test.commits.{uuid.uuid4().hex[:8]}", f"commits-{uuid.uuid4().hex[:8]}"
    await create_topic(topic, partitions=4)
    producer = AIOKafkaProducer(**client_options(who=ADMIN))
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(topic, f"m{n}".encode(), partition=2)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **client_options(who=ADMIN), group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        records: list[ConsumerRecord] = []
        deadline = asyncio.get_running_loop().time() + 30
        while len(records) < 3 and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        assert len(records) == 3, f"read {len(records)} of 3 records"
        assert len(consumer.assignment()) == 4  # it holds all four partitions, three of them empty

        commits = Commits(every_s=0)  # each batch at once
        await commits.handled(consumer, records[:2])
        assert await committed(group) == {TopicPartition(topic, 2): 2}
        await commits.handled(consumer, records[2:])
        assert await committed(group) == {TopicPartition(topic, 2): 3}
    finally:
        await consumer.stop()


async def test_oms_lag_shows_what_a_group_has_not_read_yet(stack) -> None:
    run = uuid.uuid4().hex[:8]
    topic, group = f"test.lag.{run}", f"test-lag-{run}"
    await create_topic(topic, partitions=2)
    producer = AIOKafkaProducer(**client_options(who=ADMIN))
    await producer.start()
    try:
        for n in range(5):
            await producer.send_and_wait(topic, b"x", partition=0 if n < 4 else 1)
    finally:
        await producer.stop()
    await commit(group, {TopicPartition(topic, 0): 1, TopicPartition(topic, 1): 1})

    lags = await consumer_lag(client_options(who=ADMIN), [group])
    assert [(lag.partition, lag.committed, lag.end, lag.behind) for lag in lags] == [(0, 1, 4, 3), (1, 1, 1, 0)]
    reader = LagReader(client_options(who=ADMIN))  # what each service samples every 10 s: logged in once
    try:
        first = await reader.lags([group])
        clients = (reader.admin, reader.consumer)
        assert await reader.lags([group]) == first and (reader.admin, reader.consumer) == clients
    finally:
        await reader.close()
    shown = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "oms_cli.main", "lag", "--group", group],
                                    capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    rows = [line for line in shown.stdout.splitlines() if topic in line]
    assert len(rows) == 1 and rows[0].split("│")[-2].strip() == "3", shown.stdout  # partition 1 is not behind
    assert f"{group} 3" in shown.stdout
