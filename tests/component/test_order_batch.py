"""An order moved by several messages of one batch: its saga is read once, handed from message to message as it
is, and written as JSON once, when the batch ends."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from contracts.base import Address, SkuQuantity
from order_service import store
from order_service.saga import Saga, SagaState
from order_service.store import OrderWork
from runtime.db import create_pool, migrate
from runtime.postgres import Postgres
from runtime.settings import get_settings
from tests.support.memory import deps_of

pytestmark = pytest.mark.component

ORDER_SQL = Path(store.__file__).parent / "sql"


async def test_a_batch_hands_the_saga_on_and_writes_it_once(stack) -> None:
    pool = await create_pool(get_settings().database_for("order"), max_size=2)
    order_id = f"ORD-BATCH-{uuid.uuid4().hex[:8]}"
    first = Saga(order_id=order_id, channel="web", external_id=order_id, state="awaiting_stock",
                 lines=[SkuQuantity(sku="SKU-1", quantity=1)],
                 ship_to=Address(name="A", line1="1 Rue", city="Paris", postal_code="75001", country="FR"))
    try:
        migrator = await create_pool(get_settings().migrations_dsn("order"), min_size=1, max_size=1)
        await migrate(migrator, ORDER_SQL)
        await migrator.close()
        await pool.execute("INSERT INTO orders (order_id, channel, external_id, status, saga_state, saga) "
                           "VALUES ($1, 'web', $1, 'accepted', 'awaiting_stock', $2)", order_id, first.model_dump_json())
        async with pool.acquire() as conn, conn.transaction():
            unit = OrderWork(deps_of("order", pool), Postgres(conn))
            await unit.orders.load_keys([order_id])
            row = await unit.orders.get(order_id)
            assert row is not None and unit.orders.saga(row) == first
            moved = first.model_copy(update={"state": SagaState.FULFILLING, "status": "reserved"})
            unit.orders.save_saga(moved, 1, None, [])
            again = await unit.orders.get(order_id)
            assert again is not None and unit.orders.saga(again) is moved, "the next message gets the saga itself"
            done = moved.model_copy(update={"status": "released"})
            unit.orders.save_saga(done, 2, None, [])
            assert await conn.fetchval("SELECT saga_state FROM orders WHERE order_id = $1", order_id) == \
                "awaiting_stock", "nothing written before the flush"
            await unit.flush()
        saved = await pool.fetchrow("SELECT status, saga_state, saga, sequence FROM orders WHERE order_id = $1",
                                    order_id)
        assert (saved["status"], saved["saga_state"], saved["sequence"]) == ("released", "fulfilling", 2)
        assert Saga.model_validate_json(saved["saga"]) == done
    finally:
        await pool.execute("DELETE FROM orders WHERE order_id = $1", order_id)
        await pool.close()
