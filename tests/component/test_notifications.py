"""Notifications: the same notice asked for twice in one batch is recorded, announced and sent once."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from contracts import topics
from oms_cli import workload
from order_service.domain import order_id_for
from runtime.security import ADMIN, client_options
from runtime.settings import get_settings
from runtime.unit import inbox_key
from tests.conftest import LOGS, service_process
from tests.support.kafka import read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.component


async def test_a_notice_asked_twice_in_one_batch_is_sent_once(request, processes, stack):
    notify_file = LOGS / request.node.name / "notifications.jsonl"
    service = service_process(processes, request, "notification", "notification_service",
                              env={"OMS_NOTIFY_FILE": str(notify_file)})
    service.wait_for_log("service.started")
    submitted = workload.orders(workload.new_run_id(), 1, workload.Mix())[0]
    order_id = order_id_for(submitted["channel"], submitted["external_id"])
    accepted = {"type": "order.status_changed", "order_id": order_id, "channel": submitted["channel"],
                "external_id": submitted["external_id"], "status": "accepted", "previous_status": None,
                "sequence": 1, "occurred_at": submitted["placed_at"]}
    producer = AIOKafkaProducer(**client_options(who=ADMIN), linger_ms=20)
    await producer.start()
    try:
        await producer.send_and_wait(topics.ORDERS_INBOUND.name, orjson.dumps(submitted),
                                     key=f"{submitted['channel']}:{submitted['external_id']}".encode())
        # two messages (two ids, so the inbox lets both through) asking for the same confirmation, sent together
        futures = [await producer.send(topics.ORDERS_EVENTS.name, orjson.dumps({**accepted, "id": str(uuid.uuid4())}),
                                     key=order_id.encode()) for _ in range(2)]
        for future in futures:
            await future
    finally:
        await producer.stop()

    async def sent() -> list[dict]:
        lines = notify_file.read_bytes().splitlines() if notify_file.exists() else []
        return [n for n in map(orjson.loads, lines) if n["order_id"] == order_id]
    assert [n["kind"] for n in await eventually(sent, lambda found: len(found) >= 1, "the confirmation sent")] == \
        ["confirmation"]
    announced = await eventually(
        lambda: read_topic(topics.NOTIFICATIONS.name, timeout=120),
        lambda records: any(r.key == order_id.encode() for r in records), "the confirmation announced")
    assert [orjson.loads(r.value)["kind"] for r in announced if r.key == order_id.encode()] == ["confirmation"]
    conn = await asyncpg.connect(get_settings().database_for("notification"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM notifications WHERE order_id = $1", order_id) == 1
    finally:
        await conn.close()
    assert [n["kind"] for n in await sent()] == ["confirmation"]


async def test_a_status_change_that_tells_nobody_costs_no_transaction(request, processes, stack):
    """Most status changes (reserved, released, picked...) ask for no notice: they are acknowledged without a
    transaction, so the inbox does not grow with them; one that asks for a notice is remembered as before."""
    service = service_process(processes, request, "notification", "notification_service",
                              env={"OMS_NOTIFY_FILE": str(LOGS / request.node.name / "notifications.jsonl")})
    service.wait_for_log("service.started")
    submitted = workload.orders(workload.new_run_id(), 1, workload.Mix())[0]
    order_id = order_id_for(submitted["channel"], submitted["external_id"])
    event = {"type": "order.status_changed", "order_id": order_id, "channel": submitted["channel"],
             "external_id": submitted["external_id"], "occurred_at": submitted["placed_at"]}
    quiet = {**event, "id": str(uuid.uuid4()), "status": "reserved", "previous_status": "accepted", "sequence": 2}
    telling = {**event, "id": str(uuid.uuid4()), "status": "accepted", "previous_status": None, "sequence": 1}
    producer = AIOKafkaProducer(**client_options(who=ADMIN))
    await producer.start()
    try:
        await producer.send_and_wait(topics.ORDERS_INBOUND.name, orjson.dumps(submitted),
                                     key=f"{submitted['channel']}:{submitted['external_id']}".encode())
        for message in (quiet, telling):
            await producer.send_and_wait(topics.ORDERS_EVENTS.name, orjson.dumps(message), key=order_id.encode())
    finally:
        await producer.stop()
    conn = await asyncpg.connect(get_settings().database_for("notification"))
    try:
        await eventually(lambda: conn.fetchval("SELECT count(*) FROM notifications WHERE order_id = $1", order_id),
                         lambda n: n == 1, "the confirmation recorded")
        remembered = {r["message_id"] for r in await conn.fetch(
            "SELECT message_id FROM inbox WHERE message_id = ANY($1::text[])",
            [inbox_key(topics.ORDERS_EVENTS.name, m["id"]) for m in (quiet, telling)])}
        assert remembered == {inbox_key(topics.ORDERS_EVENTS.name, telling["id"])}
    finally:
        await conn.close()
