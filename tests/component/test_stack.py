"""The PostgreSQL the stack starts is tuned for the OMS's write load."""

from __future__ import annotations

import asyncpg
import pytest

pytestmark = pytest.mark.component


async def test_full_page_images_in_the_wal_are_compressed(test_db: asyncpg.Pool) -> None:
    assert await test_db.fetchval("SHOW wal_compression") == "lz4"
