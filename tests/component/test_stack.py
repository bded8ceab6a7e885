"""The PostgreSQL the stack starts, and the schemas the services migrate, are tuned for the OMS's write load."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from order_service import store
from runtime.db import create_pool, migrate
from runtime.settings import get_settings

pytestmark = pytest.mark.component


async def test_full_page_images_in_the_wal_are_compressed(test_db: asyncpg.Pool) -> None:
    assert await test_db.fetchval("SHOW wal_compression") == "lz4"


async def test_checkpoints_wait_for_4_gb_of_wal(test_db: asyncpg.Pool) -> None:
    assert await test_db.fetchval("SHOW max_wal_size") == "4GB"


async def test_growing_tables_are_analyzed_seldom_and_documents_not_at_all(stack) -> None:
    pool = await create_pool(get_settings().migrations_dsn("order"), max_size=2)
    try:
        await migrate(pool, Path(store.__file__).parent / "sql")
        no_statistics = {r["attname"] for r in await pool.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 AND attstattarget = 0")}
        assert no_statistics == {"saga", "customer", "shipping_address", "payment"}
        for table in ("orders", "order_timeline", "inbox"):
            options = await pool.fetchval("SELECT reloptions FROM pg_class WHERE oid = $1::regclass", table)
            assert "autovacuum_analyze_scale_factor=0.5" in (options or []), (table, options)
    finally:
        await pool.close()
