"""The inbox forgets what it handled long ago, and only that: a recent duplicate is still absorbed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from runtime import inbox
from runtime.settings import get_settings
from tests.conftest import service_process
from tests.support.poll import eventually

pytestmark = pytest.mark.component


async def remembered(pool: asyncpg.Pool, consumer: str) -> set[str]:
    return {r["message_id"] for r in await pool.fetch("SELECT message_id FROM inbox WHERE consumer = $1", consumer)}


async def test_prune_forgets_only_what_was_handled_before_the_retention(test_db: asyncpg.Pool) -> None:
    consumer = f"retention-{uuid.uuid4().hex[:8]}"
    await test_db.execute(
        "INSERT INTO inbox (consumer, message_id, processed_at) "
        "SELECT $1, 'old-' || n, now() - interval '9 days' FROM generate_series(1, 5) AS n", consumer)
    async with test_db.acquire() as conn, conn.transaction():
        assert await inbox.claim_many(conn, consumer, ["new-1", "new-2"]) == {"new-1", "new-2"}

    async with test_db.acquire() as conn, conn.transaction():
        first = await inbox.prune(conn, timedelta(days=8), limit=3)
    async with test_db.acquire() as conn, conn.transaction():
        rest = await inbox.prune(conn, timedelta(days=8), limit=3)
    assert first == 3, "a round forgets at most its limit"
    assert rest >= 2, rest  # the two left (and any old row another run left behind)
    assert await remembered(test_db, consumer) == {"new-1", "new-2"}
    async with test_db.acquire() as conn, conn.transaction():
        assert await inbox.claim_many(conn, consumer, ["new-1", "old-1"]) == {"old-1"}, "a recent copy absorbed"


async def test_a_running_service_prunes_its_inbox(request, processes, stack) -> None:
    pool = await asyncpg.create_pool(get_settings().database_for("inventory"), min_size=1, max_size=2)
    assert pool is not None
    consumer = f"retention-{uuid.uuid4().hex[:8]}"
    try:
        service = service_process(processes, request, "inventory", "inventory_service",
                                  env={"OMS_INBOX_RETENTION_HOURS": "24", "OMS_INBOX_PRUNE_INTERVAL_S": "0.2"})
        service.wait_for_log("service.started")  # migrated: the inbox exists
        await pool.execute("INSERT INTO inbox (consumer, message_id, processed_at) VALUES "
                           "($1, 'a-day-and-more', now() - interval '25 hours'), ($1, 'an-hour', now() - interval '1 hour')",
                           consumer)
        await eventually(lambda: remembered(pool, consumer), lambda ids: ids == {"an-hour"},
                         "the day-old id forgotten, the hour-old one kept")
        service.wait_for_log("inbox.pruned")
    finally:
        await pool.close()
