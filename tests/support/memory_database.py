"""The unit of work's database over dictionaries, for the handler tests that need no server: the same reads, writes,
checks and unique constraints as PostgreSQL (tests/unit/test_twin.py and tests/component/test_twin.py keep the two
equal)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from contracts.base import Message
from runtime.outbox import outbox_row
from runtime.tables import Changes, Key, Outgoing, Row, Table, Where


@dataclass
class MemoryDatabase:
    """The same unit of work over dictionaries, for handler tests that need no server. `transaction()` undoes a
    unit that fails, as PostgreSQL would."""

    tables: dict[str, dict[Key, Row]] = field(default_factory=dict)
    logs: dict[str, list[Row]] = field(default_factory=dict)
    inbox: set[tuple[str, str]] = field(default_factory=set)
    outbox: list[tuple[str, str | None, Message]] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)  # message id: the trace its headers would carry
    held: list[str] = field(default_factory=list)  # ids of the state messages PostgreSQL would hold back

    def table(self, name: str) -> dict[Key, Row]:
        return self.tables.setdefault(name, {})

    def rows(self, name: str) -> list[Row]:
        return list(self.table(name).values())

    async def claim(self, consumer: str, message_ids: list[str]) -> set[str]:
        fresh = {m for m in message_ids if (consumer, m) not in self.inbox}
        self.inbox |= {(consumer, m) for m in fresh}
        return fresh

    async def read(self, table: Table, where: Where, *, lock: bool = True, skip_locked: bool = False,
                   order_by: str | None = None, limit: int | None = None) -> list[Row]:
        found = [{c: copy.deepcopy(row.get(c)) for c in table.read_columns}
                 for row in self.table(table.name).values() if where.test(row)]
        if order_by:
            columns = [c.strip() for c in order_by.split(",")]
            found.sort(key=lambda row: tuple((row.get(c) is None, row.get(c) or 0) for c in columns))
        return found[:limit] if limit is not None else found

    async def write(self, changes: Sequence[Changes], outbox: Sequence[tuple[str, Outgoing]],
                    traces: Mapping[str, str] | None = None, held: Sequence[tuple[str, Outgoing]] = ()) -> None:
        self.traces |= traces or {}
        for change in changes:
            t, rows = change.table, self.table(change.table.name)
            for row in change.inserted:
                if t.key_of(row) in rows:
                    if t.insert_checked:
                        raise RuntimeError(f"{t.name}: rows the unit of work added exist already")
                    continue
                rows[t.key_of(row)] = copy.deepcopy(row)
            for now, was in change.updated:
                stored = rows.get(t.key_of(now))
                if stored is None or any(stored[c] != was[c] for c in t.checked):
                    raise RuntimeError(f"{t.name}: rows changed under the unit of work")
                stored.update({c: copy.deepcopy(now[c]) for c in t.updates})
            for gone in change.deleted:
                rows.pop(gone, None)
            for columns in t.unique:  # as PostgreSQL: rows with a NULL in the constraint never conflict
                values = [tuple(row.get(c) for c in columns) for row in rows.values()]
                values = [v for v in values if None not in v]
                if len(values) != len(set(values)):
                    raise asyncpg.UniqueViolationError(
                        f"duplicate key value violates unique constraint on {t.name} ({', '.join(columns)})")
            self.logs.setdefault(t.name, []).extend(copy.deepcopy(change.appended))
        self.held += [message.id for _, (_, _, message) in held]  # sent at once here: no relay holds them back
        for service, (topic, to, message) in [*outbox, *held]:
            outbox_row(service, topic, to, message)  # the same size check
            self.outbox.append((topic, to, message))  # one row, as in PostgreSQL (for one topic or several)

    def transaction(self) -> _Undo:
        return _Undo(self)

    def savepoint(self) -> _Undo:
        return _Undo(self)


class _Undo:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db

    async def __aenter__(self) -> None:
        self.saved = copy.deepcopy((self.db.tables, self.db.logs, self.db.inbox, self.db.outbox))

    async def __aexit__(self, kind: object, *_: object) -> None:
        if kind is not None:
            self.db.tables, self.db.logs, self.db.inbox, self.db.outbox = self.saved

