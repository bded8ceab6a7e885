"""Every order from every channel goes from placement to delivery, on the real stack with every service running."""

from __future__ import annotations

from collections import Counter

import pytest

from oms_cli import workload
from tests.support.checks import event_problems, notification_counts, shipped_by_location, stock_levels, stock_problems
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

ORDERS = 120


async def order_row_updates(oms) -> tuple[int, int]:
    """Rewrites of order rows so far, and how many of them were HOT (in place, no index touched)."""
    row = await oms.orders_db.fetchrow("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = "
                                       "'orders'")
    return row["n_tup_upd"], row["n_tup_hot_upd"]


def personal_data_in_logs(processes: list[ServiceProcess], orders: list[dict]) -> list[str]:
    """Every place a log line of the run carries a customer's e-mail, phone, name or street (each process's lines
    since this test began: a process may have been kept from an earlier test)."""
    personal = {value for o in orders for value in (
        o["customer"]["email"], o["customer"].get("phone"), o["customer"]["name"], o["shipping_address"]["line1"],
        o["shipping_address"]["name"]) if value}
    assert len(processes) >= 6 and any(p.log_text() for p in processes), "the services logged"
    found = []
    for process in processes:
        for n, line in enumerate(process.log_text().splitlines(), 1):
            found += [f"{process.name}:{n}: {kind}" for kind in ("e-mail", "phone", "name or street")
                      if any(value in line for value in personal if _kind(value) == kind)]
    return found


def _kind(value: str) -> str:
    return "e-mail" if "@" in value else "phone" if value.startswith("+") else "name or street"


async def test_orders_from_every_channel_are_delivered(oms, mix):
    await oms.seed(ORDERS)
    before = await stock_levels(oms.inventory, oms.run)
    updates_before, hot_before = await order_row_updates(oms)
    orders = workload.orders(oms.run, ORDERS, mix)
    assert {o["channel"] for o in orders} == {c for c, _ in workload.CHANNELS}
    watch = await oms.watch()
    try:
        await oms.submit(orders)

        async def delivered() -> int:
            return watch.count("delivered")

        await eventually(delivered, lambda n: n == ORDERS, f"{ORDERS} orders delivered", timeout=240, interval=0.5)
        latest = watch.latest()
        events = dict(watch.events)
    finally:
        await watch.stop()

    assert event_problems(events) == []

    shipped = {k: v for k, v in shipped_by_location(latest).items() if v}

    async def fell() -> dict:  # inventory commits shipped stock from its own queue: eventually consistent
        after = await stock_levels(oms.inventory, oms.run)
        return {key: before[key]["on_hand"] - level["on_hand"] for key, level in after.items()
                if before[key]["on_hand"] != level["on_hand"]}

    assert await eventually(fell, lambda f: f == shipped, "on-hand fell by what was shipped", timeout=60) == shipped
    assert all(level["reserved"] == 0 for level in (await stock_levels(oms.inventory, oms.run)).values())
    assert await stock_problems(oms.inventory, oms.run) == []

    split_orders = [o for o in orders if any(line["sku"].endswith("-VASE") for line in o["lines"])]
    assert split_orders, "the mix should contain orders that must split"
    by_key = {e["external_id"]: e for e in latest.values()}
    for order in split_orders:
        locations = {s["location_id"] for s in by_key[order["external_id"]]["shipments"]}
        assert locations == {"store-paris", "3pl-berlin"}, locations

    async def notifications() -> dict:
        return notification_counts(oms.sent_notifications(), set(latest))

    expected = {(oid, "confirmation", ""): 1 for oid in latest}
    for oid, event in latest.items():
        for shipment in event["shipments"]:
            expected[(oid, "shipped", shipment["shipment_id"])] = 1
            expected[(oid, "delivered", shipment["shipment_id"])] = 1
    sent = await eventually(notifications, lambda c: len(c) >= len(expected), "every notification sent", timeout=60)
    assert dict(sent) == expected

    # each step of a saga rewrites the order's row: most of them in place, touching no index
    updates, hot = await eventually(lambda: order_row_updates(oms), lambda c: c[0] - updates_before >= 2 * ORDERS,
                                    "the order rows' updates counted")
    assert hot - hot_before >= (updates - updates_before) / 3, (updates - updates_before, hot - hot_before)
    assert personal_data_in_logs(list(oms.processes.values()), orders) == [], \
        "logs carry no customer's personal data"
    print(f"channels: {Counter(o['channel'] for o in orders)}; split orders: {len(split_orders)}")
