"""Outbox relay throughput: rows committed to the outbox, then timed until the broker acked all of them.

`make bench-relay` (or `python -m scripts.bench_relay [rows]`) on the running stack (started when absent).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

from contracts.base import Message
from devstack.stack import Stack
from runtime.db import create_pool, migrate
from runtime.logging import configure_logging
from runtime.outbox import OutboxRelay
from runtime.postgres import Postgres
from runtime.security import ADMIN, client_options
from runtime.settings import get_settings
from tests.support.kafka import create_topic


class BenchRow(Message):
    type: str = "bench.row"
    key: str
    payload: str


async def run(rows: int) -> None:
    settings = get_settings()
    configure_logging("bench", "WARNING")
    dsn = settings.database_for("test")
    pool = await create_pool(dsn, max_size=4)
    await migrate(pool)
    await pool.execute("DELETE FROM outbox")
    topic = f"bench.relay.{uuid.uuid4().hex[:8]}"
    await create_topic(topic, 12)
    for start in range(0, rows, 1000):
        async with pool.acquire() as conn, conn.transaction():
            await Postgres(conn).write([], [("bench", (topic, f"ord-{i % 500}", BenchRow(key=f"ord-{i % 500}",
                                                                                         payload="x" * 300)))
                                            for i in range(start, min(start + 1000, rows))])
    relay = OutboxRelay(dsn, "bench", client_options(settings, ADMIN), batch_size=settings.relay_batch_size)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    while await pool.fetchval("SELECT count(*) FROM outbox") > 0:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await relay.close()
    await pool.close()
    print(f"relayed {rows} rows ({relay.sent_total} acked) in {elapsed:.2f}s: {rows / elapsed:,.0f} rows/s "
          f"(batch {settings.relay_batch_size}, acks=all, idempotent)")


if __name__ == "__main__":
    Stack().up()
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
