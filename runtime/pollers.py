"""Background work on a timer (deadline pollers, the notification dispatcher): one transaction per round."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from runtime.logging import log

Round = Callable[[asyncpg.Connection], Awaitable[int]]


@dataclass(frozen=True)
class Tick:
    """A poller's round, handled as a message is: `async def handle(tick: Tick, unit)` does what is due by `at`, at
    most `limit` rows, and the poller flushes the unit."""

    at: datetime
    limit: int = 100


async def every(pool: asyncpg.Pool, interval: float, work: Round, name: str, busy: int | None = None) -> None:
    """Runs `work` in a transaction every `interval` seconds, at once again while it returns `busy` or more;
    a database outage is logged and waited out."""
    while True:
        done = 0
        try:
            async with pool.acquire() as conn, conn.transaction():
                done = await work(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(f"{name}.round_failed", error=repr(exc))
        if busy is None or done < busy:
            await asyncio.sleep(interval)


async def repeat(interval: float, work: Callable[[], Awaitable[int]], name: str, busy: int | None = None) -> None:
    """`every` for a round that opens its own transactions (units of work): a database outage is logged and waited
    out."""
    while True:
        done = 0
        try:
            done = await work()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(f"{name}.round_failed", error=repr(exc))
        if busy is None or done < busy:
            await asyncio.sleep(interval)
