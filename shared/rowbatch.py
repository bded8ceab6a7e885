"""Rows of one table that a batch transaction touches: locked and read once, updated in one statement at the end.

A service's batch scope opens `locked(...)` for the ids its messages name; its store functions then ask `current`
for the batch of their connection: inside a batch they read the cached row and queue the update, outside one
(a message handled alone) they run their own SQL. Handlers see no difference.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import asyncpg


class Flushable(Protocol):
    async def flush(self) -> None: ...


B = TypeVar("B", bound=Flushable)


@contextlib.asynccontextmanager
async def current_for(var: ContextVar[B | None], batch: B) -> AsyncIterator[B]:
    """Makes `batch` the one `var` gives for the duration, and flushes it when the batch's effects succeeded."""
    token = var.set(batch)
    try:
        yield batch
        await batch.flush()
    finally:
        var.reset(token)


@dataclass
class Rows:
    conn: asyncpg.Connection
    table: str
    key: str
    select: str  # the columns read, which must include every column in `columns`
    columns: Mapping[str, str]  # what `update` sets on every row it touches, with the SQL type of each
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)

    async def lock(self, key: str) -> dict[str, Any] | None:
        """The row as this batch has left it; read (and locked) now if the batch did not read it at the start."""
        row = self.rows.get(key)
        if row is None:
            found = await self.conn.fetchrow(
                f"SELECT {self.select} FROM {self.table} WHERE {self.key} = $1 FOR UPDATE", key)
            if found is None:
                return None
            row = self.rows[key] = dict(found)
        return row

    def update(self, key: str, **values: Any) -> None:
        """Queues new values of `columns` (all of them) for a row read by `lock`."""
        if values.keys() != self.columns.keys():
            raise ValueError(f"{self.table}: a batch update sets {sorted(self.columns)}, got {sorted(values)}")
        self.rows[key].update(values)
        self.changed.add(key)

    async def settle(self, key: str) -> None:
        """Before a statement of its own writes this row: the queued update first, and the row read again later."""
        if key in self.changed:
            await self._write([key])
            self.changed.discard(key)
        self.rows.pop(key, None)

    async def flush(self) -> None:
        if self.changed:
            await self._write(sorted(self.changed))
            self.changed.clear()

    async def _write(self, keys: list[str]) -> None:
        names = list(self.columns)
        arrays = ", ".join(f"${i}::{self.columns[c]}[]" for i, c in enumerate(names, 2))
        await self.conn.execute(
            f"UPDATE {self.table} t SET {', '.join(f'{c} = v.{c}' for c in names)}, updated_at = now() "
            f"FROM unnest($1::text[], {arrays}) AS v({self.key}, {', '.join(names)}) WHERE t.{self.key} = v.{self.key}",
            keys, *([self.rows[k][c] for k in keys] for c in names))


_current: ContextVar[Rows | None] = ContextVar("rowbatch", default=None)


def current(conn: asyncpg.Connection, table: str) -> Rows | None:
    """The batch of this connection's transaction for this table, if one is open."""
    rows = _current.get()
    return rows if rows is not None and rows.conn is conn and rows.table == table else None


@contextlib.asynccontextmanager
async def locked(conn: asyncpg.Connection, table: str, key: str, select: str, columns: Mapping[str, str],
                 keys: list[str]) -> AsyncIterator[Rows]:
    """Locks these rows in key order (so batches never deadlock), reads them once, writes the updates at the end."""
    found = await conn.fetch(f"SELECT {select} FROM {table} WHERE {key} = ANY($1::text[]) ORDER BY {key} FOR UPDATE",
                             sorted(set(keys)))
    async with current_for(_current, Rows(conn, table, key, select, columns, {r[key]: dict(r) for r in found})) as rows:
        yield rows
