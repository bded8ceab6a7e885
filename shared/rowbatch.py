"""Rows of one table that a batch transaction touches: locked and read once, inserted and updated in one statement
each at the end.

A service's batch scope opens `locked(...)` for the ids its messages name; its store functions then ask `current`
for the batch of their connection: inside a batch they read the cached row and queue the insert or update, outside
one (a message handled alone) they run their own SQL. Handlers see no difference.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import asyncpg
import orjson


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
    inserts: Mapping[str, str] = field(default_factory=dict)  # what `insert` writes (the key and `columns` among them)
    read: set[str] = field(default_factory=set)  # the keys looked for at the start: those not found do not exist
    new: dict[str, None] = field(default_factory=dict)  # rows inserted by this batch, not written yet (in order)

    async def insert(self, row: dict[str, Any]) -> bool:
        """A new row, written when the batch ends (False, and nothing written, if the key exists). `row` is what
        `lock` returns from now on: it holds every column the handlers read. A key the batch did not look for at
        its start is inserted at once."""
        key = row[self.key]
        if key in self.rows:
            return False
        if key not in self.read:
            if not await self._insert([row]):
                return False
        else:
            self.new[key] = None
        self.rows[key] = row
        return True

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
        """Before a statement of its own writes this row: the queued insert or update first, and the row read again
        later."""
        if key in self.new:
            await self._write_new()
        if key in self.changed:
            await self._write([key])
            self.changed.discard(key)
        self.rows.pop(key, None)

    async def flush(self) -> None:
        await self._write_new()
        if self.changed:
            await self._write(sorted(self.changed))
            self.changed.clear()

    async def _write_new(self) -> None:
        """The rows this batch inserted, as it has left them (so no update of them follows)."""
        if not self.new:
            return
        keys, self.new = list(self.new), {}
        self.changed.difference_update(keys)
        if await self._insert([self.rows[k] for k in keys]) != len(keys):  # inserted meanwhile: the batch splits
            raise RuntimeError(f"{self.table}: some of {len(keys)} new rows already existed")

    async def _insert(self, rows: list[dict[str, Any]]) -> int:
        return await insert_rows(self.conn, self.table, self.key, self.inserts, rows)

    async def _write(self, keys: list[str]) -> None:
        names = list(self.columns)
        await self.conn.execute(
            f"UPDATE {self.table} t SET {', '.join(f'{c} = {_value(c, self.columns[c])}' for c in names)}, "
            f"updated_at = now() FROM unnest($1::text[], {_arrays(names, self.columns, 2)}) "
            f"AS v({self.key}, {', '.join(names)}) WHERE t.{self.key} = v.{self.key}",
            keys, *_columns([self.rows[k] for k in keys], names, self.columns))


async def insert_rows(conn: asyncpg.Connection, table: str, key: str, types: Mapping[str, str],
                      rows: list[dict[str, Any]]) -> int:
    """These rows (the columns in `types`, with their SQL types) in one statement; those whose key exists are left
    alone. Returns how many were inserted."""
    names = list(types)
    inserted = await conn.fetch(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(_value(c, types[c]) for c in names)} "
        f"FROM unnest({_arrays(names, types, 1)}) AS v({', '.join(names)}) "
        f"ON CONFLICT DO NOTHING RETURNING {key}", *_columns(rows, names, types))
    return len(inserted)


# A text[] column travels as JSON (unnest would flatten an array of arrays) and is turned back into an array.
def _arrays(names: list[str], types: Mapping[str, str], first: int) -> str:
    return ", ".join(f"${i}::{'jsonb' if types[c] == 'text[]' else types[c]}[]" for i, c in enumerate(names, first))


def _value(column: str, sql_type: str) -> str:
    return f"ARRAY(SELECT jsonb_array_elements_text(v.{column}))" if sql_type == "text[]" else f"v.{column}"


def _columns(rows: list[dict[str, Any]], names: list[str], types: Mapping[str, str]) -> list[list[Any]]:
    return [[orjson.dumps(row[c]).decode() for row in rows] if types[c] == "text[]" else [row[c] for row in rows]
            for c in names]


_current: ContextVar[Rows | None] = ContextVar("rowbatch", default=None)


def current(conn: asyncpg.Connection, table: str) -> Rows | None:
    """The batch of this connection's transaction for this table, if one is open."""
    rows = _current.get()
    return rows if rows is not None and rows.conn is conn and rows.table == table else None


@contextlib.asynccontextmanager
async def locked(conn: asyncpg.Connection, table: str, key: str, select: str, columns: Mapping[str, str],
                 keys: list[str], inserts: Mapping[str, str] | None = None) -> AsyncIterator[Rows]:
    """Locks these rows in key order (so batches never deadlock), reads them once, writes inserts and updates at the
    end."""
    wanted = sorted(set(keys))
    found = await conn.fetch(f"SELECT {select} FROM {table} WHERE {key} = ANY($1::text[]) ORDER BY {key} FOR UPDATE",
                             wanted)
    batch = Rows(conn, table, key, select, columns, {r[key]: dict(r) for r in found}, inserts=inserts or {},
                 read=set(wanted))
    async with current_for(_current, batch) as rows:
        yield rows
