"""The unit of work over PostgreSQL: `Postgres` reads and writes in a connection's transaction, and `within` runs a
unit of its own (a background job's round) from begin to commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from runtime import inbox
from runtime.statements import Statement, write_changes, write_held, write_outbox
from runtime.tables import Changes, Database, Outgoing, Row, Table, Where
from runtime.unit import UnitOfWork

U = TypeVar("U", bound=UnitOfWork)


@dataclass
class Postgres:
    """The unit of work's database: a connection in a transaction."""

    conn: asyncpg.Connection

    async def claim(self, consumer: str, message_ids: list[str]) -> set[str]:
        return await inbox.claim_many(self.conn, consumer, message_ids)

    async def read(self, table: Table, where: Where, *, lock: bool = True, skip_locked: bool = False,
                   order_by: str | None = None, limit: int | None = None) -> list[Row]:
        sql = f"SELECT {', '.join(table.read_columns)} FROM {table.name} WHERE {where.sql}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if lock:
            sql += " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"
        return [dict(r) for r in await self.conn.fetch(sql, *where.params)]

    async def write(self, changes: Sequence[Changes], outbox: Sequence[tuple[str, Outgoing]],
                    traces: Mapping[str, str] | None = None, held: Sequence[tuple[str, Outgoing]] = ()) -> None:
        statement = Statement()
        for table_changes in changes:
            write_changes(statement, table_changes)
        if outbox:
            write_outbox(statement, outbox, traces)
        if held:
            write_held(statement, held, traces)
        await statement.run(self.conn)

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        return self.conn.transaction()  # nested in the unit's transaction: a savepoint


@asynccontextmanager
async def within(pool: asyncpg.Pool, work: Callable[[Database], U]) -> AsyncIterator[U]:
    """A unit of work in a transaction of its own: what the block does is flushed and committed when it ends (rolled
    back if it raises), and the unit's `after_commit` hooks run then."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            unit = work(Postgres(conn))
            yield unit
            await unit.flush()
        unit.committed()
