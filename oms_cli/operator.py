"""Operator actions: dead letters (list, show, replay), parked messages sent on, and the public requests an operator
sends (its reads are in `oms_cli.queries`)."""

from __future__ import annotations

import asyncio
import getpass
import os
import uuid
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from contracts import topics
from contracts.channels import order_id_for
from oms_cli.queries import orders as orders_read
from oms_cli.queries import parked
from runtime.kafka_tools import read_topics
from runtime.parking import mark_replayed
from runtime.security import OPERATOR_ACT, OPERATOR_REPLAY, client_options
from runtime.settings import Settings


async def dlq_topics(settings: Settings) -> list[str]:
    admin = AIOKafkaAdminClient(**client_options(settings, OPERATOR_REPLAY))
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.endswith(".dlq"))
    finally:
        await admin.close()


async def read_all(settings: Settings, topic: str) -> list[ConsumerRecord]:
    return (await read_every(settings, [topic]))[topic]


async def read_every(settings: Settings, names: list[str]) -> dict[str, list[ConsumerRecord]]:
    """Every record of these topics, as the operator who replays reads them, with one consumer."""
    return await read_topics(client_options(settings, OPERATOR_REPLAY), names, timeout=120)


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}


async def dlq_summary(settings: Settings) -> list[dict[str, Any]]:
    rows = []
    every = await read_every(settings, await dlq_topics(settings))
    for topic, records in sorted(every.items()):
        if records:
            last = headers_of(max(records, key=lambda r: (r.timestamp, r.offset)))
            rows.append({"topic": topic, "count": len(records), "last_reason": last.get("dlq_reason", ""),
                         "last_at": last.get("dlq_failed_at", "")})
    return rows


def operator_name(given: str | None) -> str:
    """Who is acting: `--operator`, else `OMS_OPERATOR`, else the login name."""
    return given or os.environ.get("OMS_OPERATOR") or getpass.getuser()


async def dead_letters(settings: Settings, topic: str, offsets: set[int] | None) -> list[ConsumerRecord]:
    if not topic.endswith(".dlq"):
        raise ValueError(f"{topic} is not a dead-letter topic (its name ends in .dlq)")
    return [r for r in await read_all(settings, topic) if offsets is None or r.offset in offsets]


async def replay(settings: Settings, topic: str, records: list[ConsumerRecord], operator: str,
                 watch_s: float = 5.0) -> tuple[int, int]:
    """Sends these dead letters back to the DLQ's own source topic (its name less `.dlq`, never what a header
    says), as they were (same key, same message id), marked with who replayed them. Each is sent once, however
    often it comes back. Returns how many were sent, and how many of them came back to the DLQ within `watch_s`.

    Idempotent: a message that was handled after all is absorbed by the consumer's inbox; one that is still bad
    comes back to the dead-letter topic with its reason.
    """
    source = topic.removesuffix(".dlq")
    before = len(await read_all(settings, topic))
    sent: set[str] = set()
    producer = AIOKafkaProducer(**client_options(settings, OPERATOR_REPLAY), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for record in records:
            mark = f"{topic}@{record.partition}:{record.offset}"
            kept = [(k, v) for k, v in (record.headers or ()) if not k.startswith(("dlq_", "replayed_"))]
            kept += [("replayed_from", mark.encode()), ("replayed_by", operator.encode())]
            await producer.send_and_wait(source, record.value, key=record.key, headers=kept)
            sent.add(mark)
    finally:
        await producer.stop()
    back = 0
    deadline = asyncio.get_running_loop().time() + watch_s
    while asyncio.get_running_loop().time() < deadline and back < len(sent):
        await asyncio.sleep(0.5)
        back = sum(1 for r in (await read_all(settings, topic))[before:] if headers_of(r).get("replayed_from") in sent)
    return len(sent), back


async def replay_parked(settings: Settings, service: str, ids: set[int]) -> int:
    """Sends parked messages on as they were: a consumed one back to the topic it was read from, an outbox row to
    the topic it was meant for. Each is marked replayed; one the broker still refuses stays parked, with an error."""
    conn = await asyncpg.connect(settings.database_for(service))
    producer = AIOKafkaProducer(**client_options(settings, OPERATOR_REPLAY), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        rows = await parked.to_replay(conn, ids)
        for row in rows:
            headers = [*zip(row["header_keys"], row["header_values"], strict=True),
                       ("parked_replayed_from", f"{service}/parked/{row['id']}".encode())]
            for topic in row["topic"].split(topics.SEPARATOR):  # an outbox row may be meant for several
                await producer.send_and_wait(topic, row["value"], key=row["key"], headers=headers)
            await mark_replayed(conn, row["id"])
    finally:
        await producer.stop()
        await conn.close()
    return len(rows)


async def publish_one(settings: Settings, topic: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """One operator message, acknowledged by every replica, with the operator's identity."""
    producer = AIOKafkaProducer(**client_options(settings, OPERATOR_ACT), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, orjson.dumps(body), key=key.encode())
    finally:
        await producer.stop()
    return body


def asked_by(reason: str | None, operator: str | None) -> str:
    return f"{reason or 'no reason given'} (by operator {operator_name(operator)})"


async def send_desk_request(settings: Settings, kind: str, ref: str, fields: dict[str, Any],
                            operator: str | None = None) -> dict[str, Any]:
    """Publishes one of the desk's requests (`order.hold_requested`, `order.note_added`,
    `fulfillment.move_requested`) for the order `ref` names, by its id, saying who asked (`by`)."""
    channel, external_id = await orders_read.ref(settings, ref)
    order_id = order_id_for(channel, external_id)
    body = {"type": kind, "id": str(uuid.uuid4()), "order_id": order_id, "by": operator_name(operator), **fields}
    return await publish_one(settings, topics.ORDERS_INBOUND.name, order_id, body)


async def pause_location(settings: Settings, location_id: str, paused: bool, reason: str | None,
                         operator: str | None = None) -> dict[str, Any]:
    """Publishes `location.paused` / `location.resumed` with the stock adjustments (what operators may write; the
    location's own updates topic is the location's alone), saying who asked."""
    body = {"type": "location.paused" if paused else "location.resumed", "id": str(uuid.uuid4()),
            "location_id": location_id, "reason": asked_by(reason, operator)}
    return await publish_one(settings, topics.INVENTORY_ADJUSTMENTS.name, location_id, body)


async def request_transfer(settings: Settings, sku: str, quantity: int, from_location: str, to_location: str,
                           reason: str | None, operator: str | None = None) -> dict[str, Any]:
    """Publishes `stock.transfer_requested` with the stock adjustments operators may write, saying who asked."""
    body = {"type": "stock.transfer_requested", "id": str(uuid.uuid4()), "sku": sku, "quantity": quantity,
            "from_location_id": from_location, "to_location_id": to_location, "reason": reason,
            "by": operator_name(operator)}
    return await publish_one(settings, topics.INVENTORY_ADJUSTMENTS.name, sku, body)


async def send_request(settings: Settings, kind: str, ref: str, reason: str | None,
                       operator: str | None = None) -> dict[str, Any]:
    """Publishes a public `order.cancel_requested` / `order.hold_released` on the inbound topic, as a channel would,
    saying who asked (the order's next event carries the reason)."""
    channel, external_id = await orders_read.ref(settings, ref)
    body = {"type": kind, "id": str(uuid.uuid4()), "channel": channel, "external_id": external_id,
            "reason": asked_by(reason, operator)}
    return await publish_one(settings, topics.ORDERS_INBOUND.name, f"{channel}:{external_id}", body)
