"""The gateway's answers (what each signed request was answered, for its replays) are known at once and written
off the request's path, many in one transaction, on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from gateway_service.server import PostgresReplays
from runtime.db import create_pool
from runtime.settings import get_settings
from tests.support.memory import deps_of

pytestmark = pytest.mark.component


async def test_answers_are_known_at_once_and_written_together_later(stack) -> None:
    pool = await create_pool(get_settings().database_for("gateway"))
    replays = PostgresReplays(deps_of("gateway", pool))
    keys = [f"web/test-{uuid.uuid4().hex}" for _ in range(20)]
    try:
        for key in keys:
            await replays.remember(key, {"order_id": key}, keep_s=60)
        assert [await replays.answered(key) for key in keys] == [{"order_id": key} for key in keys], \
            "a replay is refused before its answer is written"
        assert await pool.fetchval("SELECT count(*) FROM answered_requests WHERE replay_key = ANY($1)", keys) == 0

        assert await replays.write() == 20 and replays.pending == {}, "every answer of the moment in one unit"
        assert await pool.fetchval("SELECT count(*) FROM answered_requests WHERE replay_key = ANY($1)", keys) == 20
        assert await PostgresReplays(deps_of("gateway", pool)).answered(keys[0]) == {"order_id": keys[0]}, \
            "another instance (or this one restarted) knows it from the database"
    finally:
        await pool.execute("DELETE FROM answered_requests WHERE replay_key = ANY($1)", keys)
        await pool.close()
