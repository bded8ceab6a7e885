"""Operator actions: dead letters (list, show, replay), stuck sagas, and the public requests an operator sends."""

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
from oms_cli.tables import ORDER_BY_REF, order_ref_args
from runtime.kafka_tools import read_topic
from runtime.parking import mark_replayed
from runtime.security import DATABASE_OPERATOR, OPERATOR_ACT, OPERATOR_REPLAY, client_options
from runtime.settings import SERVICES, Settings


async def dlq_topics(settings: Settings) -> list[str]:
    admin = AIOKafkaAdminClient(**client_options(settings, OPERATOR_REPLAY))
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.endswith(".dlq"))
    finally:
        await admin.close()


async def read_all(settings: Settings, topic: str) -> list[ConsumerRecord]:
    return await read_topic(client_options(settings, OPERATOR_REPLAY), topic, timeout=120)


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}


async def dlq_summary(settings: Settings) -> list[dict[str, Any]]:
    rows = []
    for topic in await dlq_topics(settings):
        records = await read_all(settings, topic)
        if records:
            last = headers_of(records[-1])
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


async def parked(settings: Settings, service: str | None = None, waiting_only: bool = True) -> list[dict[str, Any]]:
    """Parked messages of every service (or one): what no retry could help, with where from and why."""
    rows = []
    for name in [service] if service else list(SERVICES):
        try:
            found = await fetch(settings, name, 'SELECT id, origin, consumer, topic, partition, "offset", key, '
                                "length(value) AS size, reason, parked_at, replayed_at FROM parked_messages "
                                "WHERE NOT $1 OR replayed_at IS NULL ORDER BY id", waiting_only)
        except asyncpg.UndefinedTableError:  # a service that has never run has parked nothing
            continue
        rows += [{"service": name, **dict(r)} for r in found]
    return rows


async def replay_parked(settings: Settings, service: str, ids: set[int]) -> int:
    """Sends parked messages on as they were: a consumed one back to the topic it was read from, an outbox row to
    the topic it was meant for. Each is marked replayed; one the broker still refuses stays parked, with an error."""
    conn = await asyncpg.connect(settings.database_for(service))
    producer = AIOKafkaProducer(**client_options(settings, OPERATOR_REPLAY), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        rows = await conn.fetch("SELECT * FROM parked_messages WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL",
                                sorted(ids))
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


async def fetch(settings: Settings, service: str, query: str, *args: object) -> list[asyncpg.Record]:
    """A read of one service's database, as the operators' read-only role."""
    conn = await asyncpg.connect(settings.database_for(service, DATABASE_OPERATOR))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def webhook_deliveries(settings: Settings, dead_only: bool, limit: int, order_id: str | None = None
                             ) -> list[asyncpg.Record]:
    """Outgoing webhooks that failed (of one order, or all): dead ones first (an operator must act), then those
    waiting to be posted again; with `dead_only`, the dead ones only."""
    return await fetch(settings, "gateway",
                       "SELECT delivery_id, subscriber, order_id, message_type, attempts, last_error, next_attempt_at, "
                       "dead_at FROM webhook_deliveries WHERE sent_at IS NULL AND last_error IS NOT NULL "
                       "AND (dead_at IS NOT NULL OR NOT $1) AND ($3::text IS NULL OR order_id = $3) "
                       "ORDER BY dead_at IS NULL, dead_at DESC, next_attempt_at LIMIT $2", dead_only, limit, order_id)


async def failed_notifications(settings: Settings, limit: int) -> list[asyncpg.Record]:
    return await fetch(settings, "notification",
                       "SELECT notification_id, order_id, kind, attempts, last_error, next_attempt_at, dead_at "
                       "FROM notifications WHERE sent_at IS NULL AND last_error IS NOT NULL "
                       "ORDER BY dead_at IS NULL, next_attempt_at LIMIT $1", limit)


async def stuck_sagas(settings: Settings, idle_minutes: float) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_for("order", DATABASE_OPERATOR))
    try:
        return await conn.fetch(
            "SELECT order_id, channel, external_id, status, saga_state, deadline_at, updated_at, "
            "CASE WHEN deadline_at < now() THEN 'past its deadline in ' || saga_state "
            "ELSE 'no progress for ' || round(extract(epoch FROM now() - updated_at) / 60) || ' min in ' || saga_state "
            "END AS why FROM orders WHERE saga_state NOT IN ('completed', 'cancelled', 'rejected') AND "
            "(deadline_at < now() OR (updated_at < now() - make_interval(mins => $1) "
            "AND saga_state NOT IN ('on_hold', 'backordered', 'returning'))) ORDER BY updated_at LIMIT 200",
            int(idle_minutes))
    finally:
        await conn.close()


async def returns(settings: Settings, open_only: bool, limit: int = 200) -> list[asyncpg.Record]:
    """Returns on their way back, first to expire first (`open_only`), or every return, newest first."""
    return await fetch(
        settings, "order",
        "SELECT o.order_id, o.channel, o.external_id, o.status, r->>'return_id' AS return_id, "
        "r->>'location_id' AS location_id, r->>'status' AS return_status, r->'lines' AS lines, "
        "r->'received' AS received, (r->>'expires_at')::timestamptz AS expires_at "
        "FROM orders o, jsonb_array_elements(o.saga->'returns') r "
        "WHERE ($1 AND o.saga_state = 'returning' AND r->>'status' = 'requested') OR "
        "(NOT $1 AND o.saga ? 'returns') ORDER BY CASE WHEN $1 THEN r->>'expires_at' END, "
        "r->>'expires_at' DESC LIMIT $2",
        open_only, limit)


async def late(settings: Settings, open_only: bool, limit: int = 200) -> list[asyncpg.Record]:
    """Shipments that broke a promise (of orders still open, with `open_only`), the longest late first."""
    return await fetch(
        settings, "order",
        "SELECT o.order_id, o.channel, o.external_id, o.status, f->>'shipment_id' AS shipment_id, "
        "f->>'location_id' AS location_id, f->>'step' AS step, f->'late' AS late, "
        "(f->>'ship_by')::timestamptz AS ship_by, (f->>'deliver_by')::timestamptz AS deliver_by, "
        "(f->>'estimated_delivery')::timestamptz AS estimated_delivery "
        "FROM orders o, jsonb_array_elements(o.saga->'fulfillments') f "
        "WHERE f->'late' <> '[]'::jsonb AND (f->>'active')::boolean "
        "AND (NOT $1 OR o.saga_state NOT IN ('completed', 'cancelled', 'rejected')) "
        "ORDER BY (f->>'ship_by')::timestamptz LIMIT $2",
        open_only, limit)


async def order_ref(settings: Settings, ref: str) -> tuple[str, str]:
    """(channel, external_id) of an order given by id or as channel:external_id (either may hold colons)."""
    conn = await asyncpg.connect(settings.database_for("order", DATABASE_OPERATOR))
    try:
        row = await conn.fetchrow(f"SELECT channel, external_id FROM orders o WHERE {ORDER_BY_REF}",
                                  *order_ref_args(ref))
    finally:
        await conn.close()
    if row is None:
        raise LookupError(f"no order {ref}")
    return row["channel"], row["external_id"]


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


async def pause_location(settings: Settings, location_id: str, paused: bool, reason: str | None,
                         operator: str | None = None) -> dict[str, Any]:
    """Publishes `location.paused` / `location.resumed` with the stock adjustments (what operators may write; the
    location's own updates topic is the location's alone), saying who asked."""
    body = {"type": "location.paused" if paused else "location.resumed", "id": str(uuid.uuid4()),
            "location_id": location_id, "reason": asked_by(reason, operator)}
    return await publish_one(settings, topics.INVENTORY_ADJUSTMENTS.name, location_id, body)


async def send_request(settings: Settings, kind: str, ref: str, reason: str | None,
                       operator: str | None = None) -> dict[str, Any]:
    """Publishes a public `order.cancel_requested` / `order.hold_released` on the inbound topic, as a channel would,
    saying who asked (the order's next event carries the reason)."""
    channel, external_id = await order_ref(settings, ref)
    body = {"type": kind, "id": str(uuid.uuid4()), "channel": channel, "external_id": external_id,
            "reason": asked_by(reason, operator)}
    return await publish_one(settings, topics.ORDERS_INBOUND.name, f"{channel}:{external_id}", body)
