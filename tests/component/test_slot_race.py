"""Delivery windows and quotes on PostgreSQL: fifty orders claiming a window of ten in fifty transactions at once get
ten claims (the window's count and its claims agree, as for the last unit of stock); old quotes are forgotten."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
import pytest

from inventory_service.store import FORGET_QUOTES, InventoryWork
from runtime.db import create_pool
from runtime.faults import Action, classify
from runtime.postgres import within
from runtime.settings import get_settings
from tests.support.memory import deps_of

pytestmark = pytest.mark.component


async def test_fifty_concurrent_claims_of_a_window_of_ten_give_ten(stack):
    pool = await create_pool(get_settings().database_for("inventory"), min_size=2, max_size=20)
    deps = deps_of("inventory", pool=pool)
    start = datetime(2031, 1, 6, 8, tzinfo=UTC) + timedelta(days=7 * random.randrange(5000))  # a window of its own
    zone = f"race-{random.randrange(10**9)}"
    attempts: list[int] = []

    async def claim(n: int) -> bool:
        for attempt in range(1, 20):  # as the consume policy does: a transaction lost to another is run again
            try:
                async with within(pool, partial(InventoryWork, deps)) as unit:
                    taken = await unit.slots.take(f"{zone}-o{n}", "postnl", zone, start, start + timedelta(hours=2), 10)
                attempts.append(attempt)
                return taken
            except Exception as exc:  # the fault table decides, as in the consumer
                if classify(exc).action is not Action.RETRY and not isinstance(exc, RuntimeError):
                    raise
        raise AssertionError(f"order {n} never got an answer")
    try:
        taken = await asyncio.gather(*(claim(n) for n in range(50)))
        assert taken.count(True) == 10 and taken.count(False) == 40
        row = await pool.fetchrow("SELECT claimed FROM delivery_slots WHERE zone = $1", zone)
        claims = await pool.fetchval("SELECT count(*) FROM slot_claims WHERE zone = $1", zone)
        assert (row["claimed"], claims) == (10, 10)
    finally:
        await pool.execute("DELETE FROM slot_claims WHERE zone = $1", zone)
        await pool.execute("DELETE FROM delivery_slots WHERE zone = $1", zone)
        await pool.close()


async def test_quotes_a_day_past_their_expiry_are_forgotten_and_live_ones_kept(stack):
    conn = await asyncpg.connect(get_settings().database_for("inventory"))
    run = f"forget-{random.randrange(10**9)}"
    try:
        for quote_id, expires in ((f"{run}-old", timedelta(days=-2)), (f"{run}-live", timedelta(minutes=10))):
            await conn.execute("INSERT INTO quotes (quote_id, request_id, channel, method, service_level, plan, "
                               "promised_by, expires_at) VALUES ($1, $1, 'web', 'ship', 'standard', '[]', now(), "
                               "now() + $2::interval)", quote_id, expires)
        async with conn.transaction():
            await FORGET_QUOTES.run(conn)
        left = await conn.fetch("SELECT quote_id FROM quotes WHERE quote_id LIKE $1", f"{run}-%")
        assert [r["quote_id"] for r in left] == [f"{run}-live"]
    finally:
        await conn.execute("DELETE FROM quotes WHERE quote_id LIKE $1", f"{run}-%")
        await conn.close()
