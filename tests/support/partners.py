"""A test playing one partner on its public topics: it reads the OMS's requests and answers as the partner would."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.base import Message
from runtime.kafka_tools import topic_partitions
from runtime.messaging import encode
from runtime.security import PARTNER_TOPICS, client_options, principal
from tests.support.poll import eventually


class PlayedPartner:
    """`kind` is `warehouse`, `carrier` or `supplier`; requests are collected from the moment `start` returns."""

    def __init__(self, kind: str, partner_id: str) -> None:
        requests, updates = PARTNER_TOPICS[kind]
        self.requests_topic, self.updates_topic = requests.for_partner(partner_id), updates.for_partner(partner_id)
        kafka = client_options(who=principal(kind, partner_id))  # as that partner: its own topics only
        self.consumer = AIOKafkaConsumer(**kafka, group_id=None, enable_auto_commit=False)
        self.producer = AIOKafkaProducer(**kafka, acks="all", enable_idempotence=True)
        self.received: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> PlayedPartner:
        await self.consumer.start()
        await self.producer.start()
        partitions = await topic_partitions(self.consumer, self.requests_topic)
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self.consumer.position(tp)
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            for records in batch.values():
                self.received.extend(orjson.loads(r.value) for r in records)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()
        await self.producer.stop()

    def requests(self, order_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.received
                if (order_id is None or r["order_id"] == order_id) and (kind is None or r["type"] == kind)]

    async def wait_for(self, order_id: str, kind: str, timeout: float = 60.0, count: int = 1) -> dict[str, Any]:
        async def seen() -> list[dict[str, Any]]:
            return self.requests(order_id, kind)
        found = await eventually(seen, lambda found: len(found) >= count,
                                 f"{count} {kind} for {order_id} on {self.requests_topic}", timeout=timeout, interval=0.1)
        return found[count - 1]

    async def answer(self, order_id: str, message: Message | dict[str, Any]) -> None:
        value = encode(message) if isinstance(message, Message) else orjson.dumps(
            {"id": str(uuid.uuid4()), **message})
        await self.producer.send_and_wait(self.updates_topic, value, key=order_id.encode())
