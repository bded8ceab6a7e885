"""A consumer group that replaces others starts where they stopped, once, and then keeps its own offsets."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from shared.kafka_tools import adopt_offsets
from shared.settings import get_settings
from tests.support.kafka import create_topic

pytestmark = pytest.mark.component


async def commit(group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=get_settings().kafka_bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def committed(group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=get_settings().kafka_bootstrap)
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

    assert await adopt_offsets(get_settings().kafka_bootstrap, merged, old, (a, b)) == 3
    assert await committed(merged) == {TopicPartition(a, 0): 5, TopicPartition(a, 1): 7, TopicPartition(b, 0): 3}

    await commit(merged, {TopicPartition(a, 0): 9})  # the merged group moves on: a later start keeps its offsets
    assert await adopt_offsets(get_settings().kafka_bootstrap, merged, old, (a, b)) == 0
    assert (await committed(merged))[TopicPartition(a, 0)] == 9
