"""Deadlines that count only the time the OMS could talk to its partners: while the broker cannot be reached the
pollers expire nothing, and once it answers again every open deadline is moved on by the length of the outage
(measured on the database's clock, like the deadlines themselves)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaClient
from aiokafka.protocol.metadata import MetadataRequest

from runtime import pollers
from runtime.deps import Deps
from runtime.logging import log
from runtime.maintenance import Maintenance, maintenance
from runtime.pollers import Tick
from runtime.postgres import Postgres
from runtime.security import KafkaOptions
from runtime.tables import Database, Row, Where
from runtime.unit import UnitOfWork

U = TypeVar("U", bound=UnitOfWork)
D = TypeVar("D", bound=Deps)


@dataclass
class BrokerWatch:
    """Asks the broker for its metadata of no topic, at most once a round: the cheapest request that fails while it
    is away (all topics' metadata, every second from every poller, cost the broker and each service more)."""

    kafka: KafkaOptions
    client_id: str
    timeout_s: float = 3.0
    _client: AIOKafkaClient | None = field(default=None, repr=False)

    async def reachable(self) -> bool:
        try:
            if self._client is None:
                self._client = AIOKafkaClient(**self.kafka, client_id=self.client_id)
                await asyncio.wait_for(self._client.bootstrap(), self.timeout_s)
            await asyncio.wait_for(self._client.send(self._client.get_random_node(),
                                                     MetadataRequest([], allow_auto_topic_creation=False)),
                                   self.timeout_s)
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


async def paused(conn: asyncpg.Connection, reachable: bool, service: str, deadlines: list[tuple[str, str]]) -> bool:
    """True while the broker is away (`reachable` False: the pause recorded once); when it is back, the `deadlines`
    (table, column) that are still open are moved on by the pause and `RESUME_GRACE`, in the caller's transaction,
    and False."""
    if not reachable:
        await conn.execute("INSERT INTO deadline_pauses (service) VALUES ($1) ON CONFLICT DO NOTHING", service)
        return True
    outage = await conn.fetchval("DELETE FROM deadline_pauses WHERE service = $1 RETURNING now() - since", service)
    if outage is not None:
        for table, column in deadlines:
            moved = await moved_on(table, column).run(conn, outage + RESUME_GRACE)
            log.warning("deadlines.moved_on", table=table, rows=moved, outage_s=round(outage.total_seconds(), 1))
    return False


def moved_on(table: str, column: str) -> Maintenance:
    """Every open deadline of `table` later by $1 (an interval)."""
    return maintenance(f"{table}.move_deadlines_on",
                       f"UPDATE {table} SET {column} = {column} + $1 WHERE {column} IS NOT NULL")


async def every_second_unless_paused(pool: asyncpg.Pool, kafka: KafkaOptions, service: str,
                                     deadlines: list[tuple[str, str]], expire: pollers.Round, name: str) -> None:
    """A deadline poller: `expire` in a transaction every second, except while the broker is away (`paused`). The
    broker is asked before the transaction opens: no transaction waits on the network."""
    watch = BrokerWatch(kafka, f"{service}-deadlines")

    async def round_() -> int:
        reachable = await watch.reachable()
        async with pool.acquire() as conn, conn.transaction():
            return 0 if await paused(conn, reachable, service, deadlines) else await expire(conn)

    await pollers.repeat(1.0, round_, name)


def passed(status: str | None = None) -> Where:
    """Rows whose `deadline_at` is past (and whose status is `status`, if given)."""
    def test(row: Row) -> bool:
        deadline = row["deadline_at"]
        return deadline is not None and deadline < datetime.now(deadline.tzinfo) and status in (None, row["status"])
    if status is None:
        return Where("deadline_at < now()", test)
    return Where("status = $1 AND deadline_at < now()", test, (status,))


def on_tick(unit: Callable[[Database], U], handle: Callable[[Tick, U], Awaitable[None]]) -> pollers.Round:
    """A round of `handle` in a unit of work over the round's transaction, flushed at its end."""
    async def round_(conn: asyncpg.Connection) -> int:
        work = unit(Postgres(conn))
        await handle(Tick(work.now()), work)
        await work.flush()
        return 0
    return round_


def poller(table: str, unit: Callable[[D, Database], U],
           expire: Callable[[Tick, U], Awaitable[None]]) -> Callable[[D], Coroutine[Any, Any, None]]:
    """A service's deadline poller: each second, `expire` handles a `Tick` in a unit of work of its own (over the
    rows of `table` whose `deadline_at` is past); nothing while the broker is away."""
    async def run(deps: D) -> None:
        await every_second_unless_paused(deps.pool, deps.kafka, deps.service, [(table, "deadline_at")],
                                         on_tick(partial(unit, deps), expire), f"{deps.service}.deadlines")
    run.__name__ = f"{table}.deadlines"
    return run
