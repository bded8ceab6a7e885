"""What a unit of work reads and writes, described: a table's key and columns, which rows to read (`Where`), what
one flush writes to a table (`Changes`), and the `Database` it is written to (PostgreSQL, or memory in the fast
tests)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts.base import Message

Key = tuple[Any, ...]
Row = dict[str, Any]


def key(value: Key | str) -> Key:
    """A key as given (a tuple), or a one-column key given as its value."""
    return value if isinstance(value, tuple) else (value,)

Outgoing = tuple[str, str | None, Message]


@dataclass(frozen=True)
class Table:
    """One table as the unit of work sees it: its key, every column it writes (with SQL types), what it reads, and
    what an update sets."""

    name: str
    key: tuple[str, ...]
    columns: Mapping[str, str]
    reads: tuple[str, ...] = ()  # the columns read back (all of `columns` when empty)
    updates: tuple[str, ...] = ()  # what `save` may change
    checked: tuple[str, ...] = ()  # an update applies only where these still hold the values read
    touch: bool = True  # an update also sets `updated_at`
    insert_checked: bool = True  # an insert of a row that exists fails the unit (else it is left as it is)
    unique: tuple[tuple[str, ...], ...] = ()  # the table's other unique constraints (the in-memory twin enforces them)

    def __post_init__(self) -> None:
        unknown = (set(self.updates) | set(self.checked)) - set(self.columns)  # what an update writes needs its type
        if unknown:
            raise ValueError(f"{self.name}: updates {sorted(unknown)}, which are not among its columns")

    def key_of(self, row: Mapping[str, Any]) -> Key:
        return tuple(row[c] for c in self.key)

    @property
    def updatable(self) -> frozenset[str]:
        return _updatable(self.updates)

    @property
    def read_columns(self) -> tuple[str, ...]:
        return self.reads or tuple(self.columns)


@functools.cache
def _updatable(updates: tuple[str, ...]) -> frozenset[str]:
    return frozenset(updates)


@dataclass(frozen=True)
class Where:
    """Which rows to read: `sql` over the table's columns (its parameters `params`, as $1, $2...), and the same test
    in Python for the in-memory database."""

    sql: str
    test: Callable[[Row], bool]
    params: tuple[Any, ...] = ()


def by(column: str, values: Iterable[Any], sql_type: str = "text") -> Where:
    wanted = list(dict.fromkeys(values))
    found = set(wanted)
    return Where(f"{column} = ANY($1::{sql_type}[])",  # NULL equals nothing in SQL, not even NULL
                 lambda row: row[column] is not None and row[column] in found, (wanted,))


@dataclass
class Changes:
    """What a unit of work writes to one table."""

    table: Table
    inserted: list[Row] = field(default_factory=list)  # each must be new (else the unit fails)
    updated: list[tuple[Row, Row]] = field(default_factory=list)  # (row now, row as read)
    deleted: list[Key] = field(default_factory=list)
    appended: list[Row] = field(default_factory=list)  # rows of a table without a key the unit reads (a log)


class Database(Protocol):
    """Where a unit of work reads and writes: PostgreSQL in a transaction, or memory in the fast tests."""

    async def claim(self, consumer: str, message_ids: list[str]) -> set[str]: ...

    async def read(self, table: Table, where: Where, *, lock: bool = True, skip_locked: bool = False,
                   order_by: str | None = None, limit: int | None = None) -> list[Row]: ...

    async def write(self, changes: Sequence[Changes], outbox: Sequence[tuple[str, Outgoing]],
                    traces: Mapping[str, str] | None = None, held: Sequence[tuple[str, Outgoing]] = ()) -> None:
        """The changes and the outbox; `held`: state messages whose latest value the relay sends later."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """What happens inside is undone if it fails, and the unit of work goes on."""
        ...
