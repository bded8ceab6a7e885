"""Follows `oms.orders.events.v1` for one run's orders: the latest status of each and every event seen."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from contracts import topics
from contracts.order import ENDED
from runtime.kafka_tools import topic_partitions
from runtime.security import KafkaOptions

WAITING = {"on_hold", "backordered", "ready_for_pickup"}  # a customer who has not come yet waits visibly too
TERMINAL = ENDED


class OrderWatch:
    def __init__(self, kafka: KafkaOptions, run: str) -> None:
        self.run = run
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.received_at: dict[tuple[str, int], datetime] = {}
        self.reached: dict[str, dict[str, datetime]] = defaultdict(dict)  # status -> external id -> first time
        self._refunds: list[dict[str, Any]] = []  # every refund.requested seen (the run's are picked when asked)
        self._captures: list[dict[str, Any]] = []  # every payment.capture_requested seen
        self.availability: dict[tuple[str, str], list[int]] = defaultdict(list)  # (sku, channel) -> numbers told
        self._consumer = AIOKafkaConsumer(**kafka, group_id=None, enable_auto_commit=False)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Starts at the topic's current end, so only what happens from now on is seen."""
        await self._consumer.start()
        partitions = [tp for name in (topics.ORDERS_EVENTS.name, topics.PAYMENTS.name, topics.AVAILABILITY.name)
                      for tp in await topic_partitions(self._consumer, name)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                for record in records:
                    event = orjson.loads(record.value)
                    if record.topic == topics.PAYMENTS.name:
                        (self._captures if event["type"] == "payment.capture_requested" else self._refunds).append(
                            event)
                        continue
                    if record.topic == topics.AVAILABILITY.name:
                        if event["sku"].startswith(self.run):
                            self.availability[(event["sku"], event["channel"])].append(event["available"])
                        continue
                    if str(event.get("external_id", "")).startswith(self.run):
                        self.events[event["order_id"]].append(event)
                        when = datetime.fromtimestamp(record.timestamp / 1000).astimezone()
                        self.received_at[(event["order_id"], event["sequence"])] = when
                        if event["previous_status"] != event["status"]:
                            self.reached[event["status"]].setdefault(event["external_id"], when)

    @property
    def refunds(self) -> list[dict[str, Any]]:
        """The refunds asked for the run's orders (known from their events), each with where its return arrived."""
        found = []
        for refund in self._refunds:
            events = self.events.get(refund["order_id"])
            if events:
                returns = {r["return_id"]: r for e in events for r in e.get("returns", [])}
                found.append({**refund, "location_id": returns.get(refund.get("return_id"), {}).get("location_id")})
        return found

    @property
    def captures(self) -> list[dict[str, Any]]:
        """The captures asked for the run's orders, each with its order's channel."""
        channels = {oid: events[0]["channel"] for oid, events in self.events.items() if events}
        return [{**c, "channel": channels[c["order_id"]]} for c in self._captures if c["order_id"] in channels]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def latest(self) -> dict[str, dict[str, Any]]:
        return {order_id: max(events, key=lambda e: e["sequence"]) for order_id, events in self.events.items()}

    def statuses(self) -> Counter[str]:
        return Counter(e["status"] for e in self.latest().values())

    def settled(self, expected: int) -> bool:
        """Every order has reached a terminal or a visible waiting status."""
        latest = self.latest()
        return len(latest) >= expected and all(e["status"] in TERMINAL | WAITING for e in latest.values())

    def count(self, status: str) -> int:
        return sum(1 for e in self.latest().values() if e["status"] == status)
