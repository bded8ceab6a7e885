"""Reading and writing topics on the real broker, for assertions."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from runtime import kafka_tools
from runtime.security import ADMIN, KafkaOptions, client_options


async def create_topic(name: str, partitions: int = 12) -> None:
    admin = AIOKafkaAdminClient(**client_options(who=ADMIN))
    await admin.start()
    try:
        if name not in await admin.list_topics():
            await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


SESSION_STARTED_MS = int(time.time() * 1000) - 1000  # the test run's start (this module is imported as it starts)
TEST_STARTED_MS = [0]  # when the running test started (set by tests/conftest.py): what it reads starts there


async def read_topic(topic: str, timeout: float = 10.0, kafka: KafkaOptions | None = None,
                     since_ms: int | None = None) -> list[ConsumerRecord]:
    """Every record written to the topic since the running test started (`since_ms`: since then instead; 0, ever),
    partition by partition, in offset order: a test reads what it caused, not the whole suite's backlog."""
    since = TEST_STARTED_MS[0] if since_ms is None else since_ms
    return await kafka_tools.read_topic(kafka or client_options(who=ADMIN), topic, timeout, since)


async def read_topics(topics: list[str], timeout: float = 10.0, kafka: KafkaOptions | None = None
                      ) -> dict[str, list[ConsumerRecord]]:
    """`read_topic` of several topics, with one consumer."""
    return await kafka_tools.read_topics(kafka or client_options(who=ADMIN), topics, timeout, TEST_STARTED_MS[0])


class Producer:
    """Sends raw bytes the way an outside system would: no CloudEvents headers required."""

    def __init__(self, max_request_size: int = 1048576, who: str | None = None) -> None:
        """As the stack's admin (a test feeding the OMS what a service would send), or as principal `who` (a
        channel, a partner, an operator)."""
        self._producer = AIOKafkaProducer(**client_options(who=who or ADMIN), acks="all",
                                          enable_idempotence=True, max_request_size=max_request_size)

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, topic: str, value: bytes, key: str | None = None, partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        await self._producer.send_and_wait(topic, value, key=key.encode() if key else None, partition=partition,
                                           headers=headers)
