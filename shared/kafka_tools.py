"""Small aiokafka helpers the tools and tests share."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition


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
