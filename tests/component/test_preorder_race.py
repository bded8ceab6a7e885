"""Pre-orders on PostgreSQL: orders for what is on its way, placed in transactions of their own all at once, are
dated only as far as the purchase order's units go (never more units promised than are coming), and the units are
promised oldest order first; a second part of the purchase order dates the next ones."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.base import SkuQuantity
from contracts.inventory import StockInboundExpected, StockReservationFailed
from contracts.order import Destination, ReserveStock
from inventory_service.handlers import change_level, expected_dates, reserve_stock
from inventory_service.store import InventoryWork
from rules.inbound import Inbound, expected
from runtime.db import create_pool
from runtime.faults import Action, classify
from runtime.postgres import within
from runtime.settings import get_settings
from tests.support.memory import deps_of

pytestmark = pytest.mark.component

LOCATION = "dc-rotterdam"
ETA = datetime(2031, 3, 2, 9, tzinfo=UTC)


async def test_thirty_pre_orders_at_once_for_ten_units_coming_date_ten_oldest_first(stack):
    pool = await create_pool(get_settings().database_for("inventory"), min_size=2, max_size=20)
    deps = deps_of("inventory", pool=pool)
    sku = f"PRE-{random.randrange(10**9)}"
    work = partial(InventoryWork, deps)

    async def in_a_transaction(handler, message) -> list:  # run again when it lost to another, as the consumer does
        for _ in range(30):
            try:
                async with within(pool, work) as unit:
                    await handler(message, unit)
                    return [m for _, _, m in unit.outgoing]
            except Exception as exc:
                if classify(exc).action is not Action.RETRY:
                    raise
        raise AssertionError(f"{message.type} never went through")

    def order(n: int) -> ReserveStock:
        return ReserveStock(order_id=f"{sku}-o{n:02d}", lines=[SkuQuantity(sku=sku, quantity=1)],
                            destination=Destination(country="NL"), channel="web")
    try:
        await in_a_transaction(change_level, StockInboundExpected(sku=sku, location_id=LOCATION, quantity=10, eta=ETA,
                                                                  po_id=f"PO-{sku}"))
        answers = await asyncio.gather(*(in_a_transaction(reserve_stock, order(n)) for n in range(30)))
        told = [m for sent in answers for m in sent if isinstance(m, StockReservationFailed)]
        assert len(told) == 30 and {m.reason for m in told} == {"insufficient_stock"}, "every one waits"
        dated = sorted(m.order_id for m in told if m.expected_at is not None)
        assert len(dated) == 10 and {m.expected_at for m in told if m.expected_at} == {ETA}, \
            "told a date: no more orders than units coming"

        async with within(pool, work) as unit:
            now_dated = await expected_dates(unit, [sku])
        waiting = await pool.fetch("SELECT order_id FROM backorders WHERE order_id LIKE $1 ORDER BY created_at, "
                                   "order_id", f"{sku}-%")
        oldest = [r["order_id"] for r in waiting][:10]
        assert sorted(now_dated) == sorted(oldest) == dated, "the ten oldest hold the ten units"

        second = await in_a_transaction(change_level, StockInboundExpected(
            sku=sku, location_id="3pl-berlin", quantity=5, eta=ETA + timedelta(days=7), po_id=f"PO-{sku}-2"))
        newly = [m for m in second if m.type == "inventory.stock_expected"]
        assert sorted(m.order_id for m in newly) == sorted(r["order_id"] for r in waiting[10:15])
        assert {m.expected_at for m in newly} == {ETA + timedelta(days=7)} and not any(m.previous for m in newly)
    finally:
        for table in ("backorders", "inbound_expected", "stock"):
            await pool.execute(f"DELETE FROM {table} WHERE {'order_id' if table == 'backorders' else 'sku'} LIKE $1",
                               f"{sku}%")
        await pool.close()


@st.composite
def waiting_and_inbound(draw):
    skus = ["A", "B", "C"]
    inbound = [Inbound(f"e{n}", draw(st.sampled_from(skus)), draw(st.integers(1, 6)),
                       ETA + timedelta(days=draw(st.integers(0, 30)))) for n in range(draw(st.integers(0, 6)))]
    orders = [(f"o{n:02d}", {sku: draw(st.integers(1, 4)) for sku in draw(st.lists(st.sampled_from(skus), min_size=1,
                                                                                   max_size=3, unique=True))})
              for n in range(draw(st.integers(0, 12)))]
    return orders, inbound


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(waiting_and_inbound())
def test_the_orders_dated_never_take_more_units_than_are_coming_and_each_is_dated_by_its_last_unit(case):
    orders, inbound = case
    dates = expected(orders, inbound)
    for sku in {i.sku for i in inbound} | {s for _, lines in orders for s in lines}:
        promised = sum(lines.get(sku, 0) for order_id, lines in orders if order_id in dates)
        assert promised <= sum(i.quantity for i in inbound if i.sku == sku)
    for order_id, lines in orders:
        if order_id in dates:
            assert dates[order_id] in {i.eta for i in inbound if i.sku in lines}
    if orders and all(qty <= sum(i.quantity for i in inbound if i.sku == sku) for sku, qty in orders[0][1].items()):
        assert orders[0][0] in dates, "the oldest order is served first"
