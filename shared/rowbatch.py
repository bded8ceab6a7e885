"""Rows of one table that a batch transaction touches: locked and read once, inserted and updated at the end in one
statement, which also carries the outbox rows the batch queued.

A service's batch scope opens `locked(...)` for the ids its messages name (one message handled alone is a batch of
one); its store functions then ask `current` for the rows of their connection, read the cached row and queue the
insert or update.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import asyncpg
import orjson

from shared import outbox


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
            if not await insert_rows(self.conn, self.table, self.key, self.inserts, [row]):
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

    async def flush(self) -> None:
        """The batch's new rows, its updates and the outbox rows its handlers queued, in one statement."""
        new, self.new = list(self.new), {}
        self.changed.difference_update(new)
        changed, self.changed = sorted(self.changed), set()
        ctes, args = [], []
        if new:
            ctes.append(f"inserted AS ({_insert_sql(self.table, self.key, self.inserts, 1)})")
            args += _columns([self.rows[k] for k in new], list(self.inserts), self.inserts)
        if changed:
            ctes.append(f"updated AS ({_update_sql(self.table, self.key, self.columns, len(args) + 1)})")
            args += [changed, *_columns([self.rows[k] for k in changed], list(self.columns), self.columns)]
        if not ctes:
            return
        statement, args = outbox.carried(self.conn, ", ".join(ctes), args,
                                         "(SELECT count(*) FROM inserted)" if new else "0")
        found = await self.conn.fetchrow(statement, *args)
        if new and (found is None or found[0] != len(new)):  # inserted meanwhile: the batch splits
            raise RuntimeError(f"{self.table}: some of {len(new)} new rows already existed")


async def insert_rows(conn: asyncpg.Connection, table: str, key: str, types: Mapping[str, str],
                      rows: list[dict[str, Any]]) -> int:
    """These rows (the columns in `types`, with their SQL types) in one statement; those whose key exists are left
    alone. Returns how many were inserted."""
    inserted = await conn.fetch(_insert_sql(table, key, types, 1), *_columns(rows, list(types), types))
    return len(inserted)


def _insert_sql(table: str, key: str, types: Mapping[str, str], first: int) -> str:
    names = list(types)
    return (f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(_value(c, types[c]) for c in names)} "
            f"FROM unnest({_arrays(names, types, first)}) AS v({', '.join(names)}) "
            f"ON CONFLICT DO NOTHING RETURNING {key}")


def _update_sql(table: str, key: str, columns: Mapping[str, str], first: int) -> str:
    """`columns` of the rows keyed by parameter `first`, from the arrays that follow it."""
    names = list(columns)
    return (f"UPDATE {table} t SET {', '.join(f'{c} = {_value(c, columns[c])}' for c in names)}, "
            f"updated_at = now() FROM unnest(${first}::text[], {_arrays(names, columns, first + 1)}) "
            f"AS v({key}, {', '.join(names)}) WHERE t.{key} = v.{key}")


# A text[] column travels as JSON (unnest would flatten an array of arrays) and is turned back into an array.
def _arrays(names: list[str], types: Mapping[str, str], first: int) -> str:
    return ", ".join(f"${i}::{'jsonb' if types[c] == 'text[]' else types[c]}[]" for i, c in enumerate(names, first))


def _value(column: str, sql_type: str) -> str:
    return f"ARRAY(SELECT jsonb_array_elements_text(v.{column}))" if sql_type == "text[]" else f"v.{column}"


def _columns(rows: list[dict[str, Any]], names: list[str], types: Mapping[str, str]) -> list[list[Any]]:
    return [[orjson.dumps(row[c]).decode() for row in rows] if types[c] == "text[]" else [row[c] for row in rows]
            for c in names]


_current: ContextVar[Rows | None] = ContextVar("rowbatch", default=None)


def current(conn: asyncpg.Connection, table: str) -> Rows:
    """The rows of this table in this connection's unit of work: every read and write of them goes through it, so
    using them outside one (`locked`) is a mistake, said at once."""
    rows = _current.get()
    if rows is None or rows.conn is not conn or rows.table != table:
        raise RuntimeError(f"{table} are read and written inside a unit of work (rowbatch.locked)")
    return rows


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
