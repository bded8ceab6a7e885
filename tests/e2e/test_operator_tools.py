"""The operators' tools, run as an operator would: `oms hold release`, `oms order cancel`, `oms dlq`, `oms sagas`."""

from __future__ import annotations

import asyncio
import subprocess

import orjson
import pytest

from contracts import topics
from order_service.domain import order_id_for
from runtime.settings import REPO_ROOT
from tests.e2e.conftest import everyone_but
from tests.e2e.test_when_things_go_wrong import until_reached
from tests.support.cli import oms_cli
from tests.support.kafka import read_topic
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e


async def until(watch, order: dict, status: str) -> None:
    async def latest() -> str:
        event = watch.latest().get(order_id_for(order["channel"], order["external_id"]))
        return event["status"] if event else ""
    await eventually(latest, lambda s: s == status, f"{order['external_id']} {status}")


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"), OMS_NETWORK_FILE="config/network.toml")
async def test_operators_release_cancel_replay_and_find_stuck_sagas(oms):
    await oms.stock({"OPS": {"dc-rotterdam": 10}, "SLOW": {"3pl-berlin": 5}, "GONE": {"dc-rotterdam": 0}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        held = oms.order(1, {"OPS": 1}, payment={"status": "pending", "reference": "p"})
        waiting = oms.order(2, {"GONE": 1})
        early_cancel = oms.request("order.cancel_requested", waiting)
        await oms.send(early_cancel)  # before the order exists: dead-lettered ("no order")

        async def dead_letter() -> list:
            return [r for r in await read_topic("oms.orders.inbound.v1.dlq")
                    if r.key == f"{waiting['channel']}:{waiting['external_id']}".encode()]
        [letter] = await eventually(dead_letter, lambda rs: len(rs) == 1, "the early cancel dead-lettered")
        assert "no order" in dict(letter.headers)["dlq_reason"].decode()
        assert "oms.orders.inbound.v1.dlq" in await oms_cli("dlq", "list")
        assert "no order" in await oms_cli("dlq", "show", "oms.orders.inbound.v1.dlq")

        slow = oms.order(3, {"SLOW": 1})
        await oms.send(held, waiting, slow)
        await until(watch, held, "on_hold")
        await until(watch, waiting, "backordered")
        await berlin.wait_for(order_id_for(slow["channel"], slow["external_id"]), "fulfillment.requested")

        await oms_cli("hold", "release", f"{held['channel']}:{held['external_id']}", "--operator", "ada",
                      "--reason", "payment confirmed by phone")
        await until(watch, held, "delivered")
        released = next(e for e in watch.events[order_id_for(held["channel"], held["external_id"])]
                        if (e.get("reason") or {}).get("code") == "hold_released")
        assert released["reason"]["message"] == "payment confirmed by phone (by operator ada)"

        for _ in range(2):  # replaying twice is the same as once
            said = await oms_cli("dlq", "replay", "oms.orders.inbound.v1.dlq", "--offset", str(letter.offset),
                                 "--operator", "ada")
            assert "to oms.orders.inbound.v1 (by ada)" in said
        await until(watch, waiting, "cancelled")
        cancelled = [e for e in watch.events[order_id_for(waiting["channel"], waiting["external_id"])]
                     if e["status"] == "cancelled"]
        assert len(cancelled) == 1

        stuck = await oms_cli("sagas", "--stuck", "--idle-minutes", "0")
        assert order_id_for(slow["channel"], slow["external_id"]) in stuck
        await oms_cli("order", "cancel", f"{slow['channel']}:{slow['external_id']}", "--operator", "bob")
        request = await berlin.wait_for(order_id_for(slow["channel"], slow["external_id"]),
                                        "fulfillment.cancel_requested")
        assert "(by operator bob)" in str(request)
        shown = await oms_cli("order", f"{held['channel']}:{held['external_id']}")
        assert "payment_pending" in shown and "delivered" in shown
    finally:
        await berlin.stop()
        await watch.stop()


def kafka_console(topic: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`make kafka-console`, as an operator types it: the broker's own console consumer, logged in as `operator`."""
    return subprocess.run(["make", "-s", "kafka-console", f"TOPIC={topic}", f"ARGS={' '.join(args)}"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=180)


async def test_operators_read_events_with_kafkas_own_console_consumer_and_no_personal_data(oms):
    await oms.stock({"CONSOLE": {"dc-rotterdam": 5}})
    order = oms.order(1, {"CONSOLE": 1})
    watch = await oms.watch()
    try:
        await oms.send(order)
        await until_reached(watch, order, "released")
    finally:
        await watch.stop()
    shown = await asyncio.to_thread(kafka_console, topics.ORDERS_EVENTS.name, "--max-messages", "1",
                                    "--timeout-ms", "60000")
    assert shown.returncode == 0, shown.stderr[-2000:]
    *_, key, value = shown.stdout.strip().splitlines()[0].split("\t")  # headers, key, value
    assert orjson.loads(value)["type"] == "order.status_changed" and orjson.loads(value)["order_id"] == key
    refused = await asyncio.to_thread(kafka_console, topics.ORDERS_INBOUND.name, "--max-messages", "1",
                                      "--timeout-ms", "20000")
    said = refused.stdout + refused.stderr  # the console consumer reports the refusal and ends with nothing read
    assert "Not authorized" in said and "Processed a total of 0 messages" in said, "customers' data"


def test_operators_list_topics_and_groups_with_kafkas_own_tools(stack):
    for target, expected in (("kafka-topics", f"Topic: {topics.ORDERS_EVENTS.name}"), ("kafka-groups", "LAG")):
        shown = subprocess.run(["make", "-s", target], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
        assert expected in shown.stdout, (shown.stdout + shown.stderr)[-2000:]
