"""Scenario 11: services killed with SIGKILL again and again, the broker and the database restarted, mid-flow.

Afterwards every order is delivered or visibly waiting, nothing exists twice, and stock balances.
"""

from __future__ import annotations

import asyncio
import operator
import random
from functools import partial

import pytest
from aiokafka.errors import KafkaError

from notification_service.dispatch import DISPATCH_ROUND
from oms_cli import workload
from order_service.domain import order_id_for
from runtime.retries import LEASE
from runtime.security import KafkaOptions
from tests.support.checks import (
    completion_problems,
    duplicate_request_problems,
    event_problems,
    expected_notifications,
    notification_problems,
    refund_problems,
    restocked_by_location,
    shipped_by_location,
    stock_flow_problems,
    stock_levels,
    stock_problems,
    stored_outcomes,
)
from tests.support.poll import eventually

pytestmark = pytest.mark.chaos

ORDERS = 300
SERVICES = ("order_service", "inventory_service", "fulfillment_service", "shipping_service", "notification_service")


async def every_invariant_holds(oms, orders: list[dict], watch, seeded_for: int, network=None,
                                kafka: KafkaOptions | None = None, dispatcher_kills: int | None = None,
                                returned: frozenset[str] = frozenset()) -> None:
    """Each invariant against evidence the OMS did not write for itself: the orders sent (and the returns asked for
    them: `returned`, their external ids), the stock seeded, every call of the notification sender, the partners'
    request topics (read with `kafka`, the test's broker by default)."""
    def oid(order: dict) -> str:
        return order_id_for(order["channel"], order["external_id"])
    ids = {oid(o) for o in orders}
    latest = {k: v for k, v in watch.latest().items() if k in ids}
    assert event_problems({k: v for k, v in watch.events.items() if k in ids}) == []
    assert completion_problems(orders, latest, await stored_outcomes(oms.orders_db, oms.run), oid, returned) == []
    assert await duplicate_request_problems(network or oms.network, ids, kafka) == []
    prices = {oid(o): {line["sku"]: line["unit_price"] for line in o["lines"]} for o in orders}
    assert refund_problems([r for r in watch.refunds if r["order_id"] in ids], latest, prices) == []
    seeded = {(c["sku"], c["location_id"]): c["on_hand"] for c in workload.stock_counts(oms.run, seeded_for)}

    async def stock() -> list[str]:  # commits of shipped stock may still be queued
        flow = stock_flow_problems(seeded, shipped_by_location(latest), await stock_levels(oms.inventory, oms.run),
                                   restocked_by_location(latest))
        return flow + await stock_problems(oms.inventory, oms.run)
    await eventually(stock, lambda p: p == [], "stock fell by what was shipped and nothing stays reserved", timeout=60)
    # a dispatcher killed between sending and recording a round may send that round again (the receiver drops the
    # copies by their idempotency key): at most a round's copies per kill, in all
    kills = dispatcher_kills if dispatcher_kills is not None else sum(
        p.starts - 1 for name, p in oms.processes.items() if name.startswith("notification_service"))

    async def told() -> list[str]:
        return notification_problems(oms.sent_notifications(), expected_notifications(latest), kills=kills,
                                     round_size=DISPATCH_ROUND)
    # a round the killed dispatcher had claimed is sent again once its lease ends
    await eventually(told, lambda p: p == [], "every customer told once", timeout=LEASE.total_seconds() + 60)


@pytest.mark.oms_env(OMS_SIM_DELAY_MS="40", OMS_NETWORK_FILE="config/network.toml")
async def test_orders_survive_kills_and_restarts(oms, stack):
    await oms.seed(ORDERS)
    orders = workload.orders(oms.run, ORDERS, workload.Mix(split=0.1, express=0.2, held_payment=0.02))
    watch = await oms.watch()
    rng = random.Random(11)
    kills: list[str] = []
    try:
        async def seen() -> int:
            return len(watch.latest())

        async def submit() -> None:  # a stream of orders: each wave once the OMS has taken the one before
            for start in range(0, ORDERS, 25):
                wave = orders[start:start + 25]

                async def sent(wave: list[dict] = wave) -> bool:  # refused by the restarting broker: sent again
                    try:
                        await oms.submit(wave)
                        return True
                    except (KafkaError, OSError):
                        return False
                await eventually(sent, bool, f"wave {start // 25} sent", timeout=60, interval=1.0)
                await eventually(seen, partial(operator.le, start + 25), f"wave {start // 25} received", timeout=240,
                                 interval=0.05)
        feeding = asyncio.create_task(submit())

        class Progress(int):  # a count whose repr, shown when a wait times out, says where every order stands
            def __repr__(self) -> str:
                fed = f"; the feeding of orders failed: {feeding.exception()!r}" if feeding.done() and not \
                    feeding.cancelled() and feeding.exception() else ""
                return f"{int(self)} ({dict(watch.statuses())}){fed}"

        async def progress() -> int:
            return Progress(sum(1 for e in watch.latest().values() if e["status"] in ("delivered", "on_hold")))

        plan = [*(SERVICES * 3)]
        rng.shuffle(plan)
        for n, victim in enumerate(plan):
            target = min(ORDERS - 20, 15 * (n + 1))
            await eventually(progress, partial(operator.le, target), f"{target} orders through before kill {n}",
                             timeout=240, interval=0.05)
            oms.processes[victim].kill()
            kills.append(victim)
            oms.processes[victim].start()
            if n == 4:
                try:
                    await asyncio.to_thread(stack.kafka.stop)
                finally:  # a failure in between must not leave the shared broker down for every later test
                    await asyncio.to_thread(stack.kafka.start)
            if n == 9:
                try:
                    await asyncio.to_thread(stack.postgres.stop, True)
                finally:
                    await asyncio.to_thread(stack.postgres.start)
        await feeding

        async def settled() -> dict[str, int]:
            return dict(watch.statuses())
        final = await eventually(settled, lambda s: sum(s.get(k, 0) for k in ("delivered", "on_hold")) == ORDERS,
                                 "every order delivered or on hold", timeout=300, interval=0.5)

        # a share of the customers send their order back while the services that handle returns are killed
        asked = workload.returns([e for e in watch.latest().values() if e["status"] == "delivered"], 0.15)
        for n, victim in enumerate(("order_service", "fulfillment_service", "inventory_service")):
            await oms.send(*asked[n::3])
            oms.processes[victim].kill()
            kills.append(victim)
            oms.processes[victim].start()

        async def returned() -> int:
            return watch.count("returned")
        await eventually(returned, partial(operator.eq, len(asked)), f"{len(asked)} returns received", timeout=300,
                         interval=0.5)
    finally:
        await watch.stop()

    await every_invariant_holds(oms, orders, watch, ORDERS, returned=frozenset(r["external_id"] for r in asked))
    restarts = {name: proc.starts - 1 for name, proc in oms.processes.items()}
    print(f"orders {ORDERS}, final {final}, returns {len(asked)}, kills {len(kills)} {restarts}, broker restarted 1, "
          "database restarted 1, duplicates 0")


@pytest.mark.oms_env(OMS_SIM_DELAY_MS="20", OMS_NETWORK_FILE="config/network.toml")
async def test_a_second_instance_of_every_service_takes_over(request, oms):
    """Two instances of every service share the partitions; one of each dies for good mid-run; nothing is lost."""
    from tests.support.processes import ServiceProcess

    seconds = {f"{m}#2": ServiceProcess(f"{m}-2", [m], oms.processes[m].log_dir, oms.processes[m].env).start()
               for m in SERVICES}
    oms.processes.update(seconds)
    for proc in seconds.values():
        await proc.logged("started", timeout=120)
    count = 200
    await oms.seed(count)
    orders = workload.orders(oms.run, count, workload.Mix(split=0.1, express=0.2))
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
    await every_invariant_holds(oms, orders, watch, count, dispatcher_kills=1)  # the first instance, for good
