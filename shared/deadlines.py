"""Deadlines that count only the time the OMS could talk to its partners: while the broker cannot be reached the
pollers expire nothing, and once it answers again every open deadline is moved on by the length of the outage
(measured on the database's clock, like the deadlines themselves)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaClient

from shared import pollers
from shared.logging import log
from shared.security import KafkaOptions
from shared.uow import Database, Postgres, Row, UnitOfWork, Where

if TYPE_CHECKING:
    from shared.service import Deps

U = TypeVar("U", bound=UnitOfWork)


@dataclass
class BrokerWatch:
    """Asks the broker for its metadata, at most once a round: a cheap request that fails while it is away."""

    kafka: KafkaOptions
    client_id: str
    timeout_s: float = 3.0
    _client: AIOKafkaClient | None = field(default=None, repr=False)

    async def reachable(self) -> bool:
        try:
            if self._client is None:
                self._client = AIOKafkaClient(**self.kafka, client_id=self.client_id)
                await asyncio.wait_for(self._client.bootstrap(), self.timeout_s)
            await asyncio.wait_for(self._client.fetch_all_metadata(), self.timeout_s)
            return True
        except Exception as exc:
            log.info("deadlines.broker_unreachable", error=repr(exc))
            await self.close()
            return False

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), self.timeout_s)


RESUME_GRACE = timedelta(seconds=15)  # for consumers to rejoin their groups and read what partners sent meanwhile


async def paused(conn: asyncpg.Connection, watch: BrokerWatch, service: str, deadlines: list[tuple[str, str]]) -> bool:
    """True while the broker is away (the pause recorded once); when it is back, the `deadlines` (table, column) that
    are still open are moved on by the pause and `RESUME_GRACE`, in the caller's transaction, and False."""
    if not await watch.reachable():
        await conn.execute("INSERT INTO deadline_pauses (service) VALUES ($1) ON CONFLICT DO NOTHING", service)
        return True
    outage = await conn.fetchval("DELETE FROM deadline_pauses WHERE service = $1 RETURNING now() - since", service)
    if outage is not None:
        for table, column in deadlines:
            moved = await conn.execute(f"UPDATE {table} SET {column} = {column} + $1 WHERE {column} IS NOT NULL",
                                       outage + RESUME_GRACE)
            log.warning("deadlines.moved_on", table=table, rows=int(moved.rsplit(" ", 1)[1]),
                        outage_s=round(outage.total_seconds(), 1))
    return False


async def every_second_unless_paused(pool: asyncpg.Pool, kafka: KafkaOptions, service: str,
                                     deadlines: list[tuple[str, str]], expire: pollers.Round, name: str) -> None:
    """A deadline poller: `expire` in a transaction every second, except while the broker is away (`paused`)."""
    watch = BrokerWatch(kafka, f"{service}-deadlines")

    async def round_unless_paused(conn: asyncpg.Connection) -> int:
        return 0 if await paused(conn, watch, service, deadlines) else await expire(conn)

    await pollers.every(pool, 1.0, round_unless_paused, name)


def passed(status: str | None = None) -> Where:
    """Rows whose `deadline_at` is past (and whose status is `status`, if given)."""
    def test(row: Row) -> bool:
        deadline = row["deadline_at"]
        return deadline is not None and deadline < datetime.now(deadline.tzinfo) and status in (None, row["status"])
    if status is None:
        return Where("deadline_at < now()", test)
    return Where("status = $1 AND deadline_at < now()", test, (status,))


def poller(table: str, unit: Callable[[Deps, Database], U],
           expire: Callable[[U], Awaitable[int]]) -> Callable[[Deps], Coroutine[Any, Any, None]]:
    """A service's deadline poller: each second, `expire` in a unit of work of its own, over the rows of `table`
    whose `deadline_at` is past; nothing while the broker is away."""
    async def run(deps: Deps) -> None:
        await every_second_unless_paused(deps.pool, deps.kafka, deps.service,
                                         [(table, "deadline_at")], lambda conn: expire(unit(deps, Postgres(conn))),
                                         f"{deps.service}.deadlines")
    run.__name__ = f"{table}.deadlines"
    return run
