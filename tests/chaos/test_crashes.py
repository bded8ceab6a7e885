"""Scenario 11: services killed with SIGKILL again and again, the broker and the database restarted, mid-flow.

Afterwards every order is delivered or visibly waiting, nothing exists twice, and stock balances.
"""

from __future__ import annotations

import asyncio
import operator
import random
from functools import partial

import pytest

from oms_cli import workload
from order_service.domain import order_id_for
from tests.support.checks import duplicate_problems, event_problems, stock_problems
from tests.support.poll import eventually

pytestmark = pytest.mark.chaos

ORDERS = 500
SERVICES = ("order_service", "inventory_service", "fulfillment_service", "shipping_service", "notification_service")


@pytest.mark.oms_env(OMS_SIM_DELAY_MS="40", OMS_NETWORK_FILE="config/network.toml")
async def test_orders_survive_kills_and_restarts(oms, stack):
    await oms.seed(ORDERS)
    orders = workload.orders(oms.run, ORDERS, workload.Mix(split=0.1, express=0.2, held_payment=0.02))
    ids = {order_id_for(o["channel"], o["external_id"]) for o in orders}
    watch = await oms.watch()
    rng = random.Random(11)
    kills: list[str] = []
    try:
        async def seen() -> int:
            return len(watch.latest())

        async def submit() -> None:  # a stream of orders: each wave once the OMS has taken the one before
            for start in range(0, ORDERS, 25):
                await oms.submit(orders[start:start + 25])
                await eventually(seen, partial(operator.le, start + 25), f"wave {start // 25} received", timeout=240,
                                 interval=0.05)
        feeding = asyncio.create_task(submit())

        async def progress() -> int:
            return sum(1 for e in watch.latest().values() if e["status"] in ("delivered", "on_hold"))

        plan = [*(SERVICES * 3)]
        rng.shuffle(plan)
        for n, victim in enumerate(plan):
            target = min(ORDERS - 20, 25 * (n + 1))
            await eventually(progress, partial(operator.le, target), f"{target} orders through before kill {n}",
                             timeout=240, interval=0.05)
            oms.processes[victim].kill()
            kills.append(victim)
            oms.processes[victim].start()
            if n == 4:
                await asyncio.to_thread(stack.kafka.stop)
                await asyncio.to_thread(stack.kafka.start)
            if n == 9:
                await asyncio.to_thread(stack.postgres.stop, True)
                await asyncio.to_thread(stack.postgres.start)
        await feeding

        async def settled() -> dict[str, int]:
            return dict(watch.statuses())
        final = await eventually(settled, lambda s: sum(s.get(k, 0) for k in ("delivered", "on_hold")) == ORDERS,
                                 "every order delivered or on hold", timeout=300, interval=0.5)
    finally:
        await watch.stop()

    assert event_problems({k: v for k, v in watch.events.items() if k in ids}) == []
    assert await duplicate_problems(oms, ids) == []

    async def balance() -> list[str]:  # commits of shipped stock may still be queued
        return await stock_problems(oms.inventory, oms.run)
    await eventually(balance, lambda p: p == [], "stock balances", timeout=60)
    restarts = {name: proc.starts - 1 for name, proc in oms.processes.items()}
    print(f"orders {ORDERS}, final {final}, kills {len(kills)} {restarts}, broker restarted 1, database restarted 1, "
          "duplicates 0")


@pytest.mark.oms_env(OMS_SIM_DELAY_MS="20", OMS_NETWORK_FILE="config/network.toml")
async def test_a_second_instance_of_every_service_takes_over(request, oms):
    """Two instances of every service share the partitions; one of each dies for good mid-run; nothing is lost."""
    from tests.support.processes import ServiceProcess

    seconds = {f"{m}#2": ServiceProcess(f"{m}-2", [m], oms.processes[m].log_dir, oms.processes[m].env).start()
               for m in SERVICES}
    oms.processes.update(seconds)
    for proc in seconds.values():
        proc.wait_for_log("started", timeout=120)
    count = 300
    await oms.seed(count)
    orders = workload.orders(oms.run, count, workload.Mix(split=0.1, express=0.2))
    ids = {order_id_for(o["channel"], o["external_id"]) for o in orders}
    watch = await oms.watch()
    try:
        await oms.submit(orders)

        async def delivered() -> int:
            return watch.count("delivered")
        await eventually(delivered, partial(operator.le, count // 4), "a quarter delivered", timeout=120, interval=0.05)
        for module in SERVICES:
            oms.processes[module].kill()  # the first instance of each, for good
        await eventually(delivered, partial(operator.eq, count), "every order delivered by the survivors",
                         timeout=300, interval=0.5)
    finally:
        await watch.stop()
    assert event_problems({k: v for k, v in watch.events.items() if k in ids}) == []
    assert await duplicate_problems(oms, ids) == []
    await eventually(partial(stock_problems, oms.inventory, oms.run), lambda p: p == [], "stock balances", timeout=60)
