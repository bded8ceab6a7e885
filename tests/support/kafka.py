"""Reading and writing topics on the real broker, for assertions."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from shared.kafka_tools import topic_partitions
from shared.settings import get_settings


async def create_topic(name: str, partitions: int = 12) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=get_settings().kafka_bootstrap)
    await admin.start()
    try:
        if name not in await admin.list_topics():
            await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def read_topic(topic: str, timeout: float = 10.0) -> list[ConsumerRecord]:
    """Every record on the topic now, partition by partition, in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=get_settings().kafka_bootstrap, enable_auto_commit=False,
                                group_id=None, client_id=f"test-reader-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout}s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp_records in batch.values():
                records.extend(tp_records)
        return records
    finally:
        await consumer.stop()


class Producer:
    """Sends raw bytes the way an outside system would: no CloudEvents headers required."""

    def __init__(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=get_settings().kafka_bootstrap, acks="all",
                                          enable_idempotence=True)

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, topic: str, value: bytes, key: str | None = None) -> None:
        await self._producer.send_and_wait(topic, value, key=key.encode() if key else None)
