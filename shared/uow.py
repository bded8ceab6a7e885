"""The unit of work: a batch of messages in one transaction, each table's rows read once and written once.

    async with pool.acquire() as conn, conn.transaction():
        await run(unit_for(Postgres(conn)), consumer, [(message, handler), ...])

`run` claims the inbox (a message seen before is skipped), has the unit `prepare` (each repository locks and reads
the rows the batch names, in key order, so batches never deadlock), calls `handler(message, unit)` for each message,
and `flush`es: every new, changed and deleted row of every repository and the outbox in one statement. A message
handled alone is a batch of one. The same code runs over `MemoryDatabase` in the fast tests.
docs/architecture.md shows the way of a message through a service; docs/decisions/0004 says why.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import asyncpg
import orjson

from contracts.base import Message
from shared import inbox
from shared.messaging import traceparent
from shared.outbox import channel, outbox_row

if TYPE_CHECKING:
    from shared.service import Deps

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
                    traces: Mapping[str, str] | None = None) -> None: ...

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """What happens inside is undone if it fails, and the unit of work goes on."""
        ...


class Rows:
    """A repository's row cache for one table: rows read once (locked), then added, saved or removed in memory and
    written when the unit of work flushes."""

    def __init__(self, db: Database, table: Table) -> None:
        self.db, self.table = db, table
        self.rows: dict[Key, Row] = {}
        self.was: dict[Key, Row] = {}  # as read, for the rows read from the database
        self.looked: set[Key] = set()  # keys looked for: those not in `rows` do not exist
        self.new: dict[Key, None] = {}
        self.changed: dict[Key, None] = {}
        self.removed: dict[Key, None] = {}
        self.log: list[Row] = []

    async def load(self, where: Where, *, keys: Iterable[Key] = (), skip_locked: bool = False,
                   order_by: str | None = None, limit: int | None = None, lock: bool = True) -> list[Row]:
        """The rows `where` selects (locked unless `lock` is False), cached; rows the unit already holds are kept
        as it left them. `keys`: the keys this read covers, so a missing one is known not to exist."""
        found = await self.db.read(self.table, where, lock=lock, skip_locked=skip_locked,
                                   order_by=order_by or ", ".join(self.table.key), limit=limit)
        self.looked.update(keys)
        rows, key_of, checked = [], self.table.key_of, self.table.checked
        for row in found:  # each a fresh dict of its own
            key = key_of(row)
            self.looked.add(key)
            if key not in self.rows and key not in self.removed:
                self.rows[key] = row
                if checked:
                    self.was[key] = {c: row[c] for c in checked}
            if key in self.rows:
                rows.append(self.rows[key])
        return rows

    async def load_keys(self, keys: Iterable[Key | str]) -> None:
        """Reads (and locks) the rows with these keys that the unit has not looked for yet, in key order."""
        wanted = sorted({k for k in map(key, keys) if k not in self.looked and k not in self.rows})
        if not wanted:
            return
        if len(self.table.key) != 1:
            raise ValueError(f"{self.table.name}: load a composite key by one of its columns")
        column = self.table.key[0]
        await self.load(by(column, [k[0] for k in wanted], self.table.columns[column]), keys=wanted)

    async def get(self, wanted: Key | str) -> Row | None:
        """The row as this unit left it; read (and locked) now if the unit has not looked for it yet."""
        await self.load_keys([wanted])
        return self.rows.get(key(wanted))

    def cached(self, wanted: Key | str) -> Row | None:
        """The row as this unit left it, if the unit read or added it."""
        return self.rows.get(key(wanted))

    def add(self, row: Row) -> bool:
        """A new row, written at the flush; False (and nothing done) if the unit knows one with its key."""
        key = self.table.key_of(row)
        if key in self.rows:
            return False
        self.rows[key] = row
        if key in self.removed:  # removed and added again: an update of the row read
            del self.removed[key]
            self.changed[key] = None
        else:
            self.new[key] = None
        self.looked.add(key)
        return True

    def save(self, which: Key | str, **values: Any) -> Row:
        """New values for columns of `updates`, written at the flush."""
        if not values.keys() <= self.table.updatable:
            raise ValueError(f"{self.table.name}: an update sets {sorted(self.table.updates)}, got {sorted(values)}")
        k = key(which)
        row = self.rows[k]
        row.update(values)
        if k not in self.new:
            self.changed[k] = None
        return row

    def remove(self, which: Key | str) -> None:
        k = key(which)
        if self.rows.pop(k, None) is None:
            return
        self.changed.pop(k, None)
        if self.new.pop(k, "read") == "read":
            self.removed[k] = None

    def pending(self) -> list[Key]:
        """The keys of the rows added or changed since the last flush."""
        return [*self.new, *self.changed]

    def append(self, row: Row) -> None:
        """A row of a log (no key read back), inserted at the flush."""
        self.log.append(row)

    def encode(self, row: Row) -> Row:
        """The row as the database stores it (a repository that keeps objects in its rows turns them back here)."""
        return row

    def changes(self) -> list[Changes]:
        """What to write, once: the unit forgets it was to be written (a repository over several tables adds
        theirs)."""
        changes = Changes(self.table, [self.encode(self.rows[k]) for k in self.new],
                          [(self.encode(self.rows[k]), self.was.get(k, {})) for k in sorted(self.changed)],
                          sorted(self.removed), self.log)
        self.new, self.changed, self.removed, self.log = {}, {}, {}, []
        return [changes] if _any(changes) else []


class UnitOfWork:
    """A batch's transaction: its repositories (attributes of a service's subclass) and what it sends. A handler
    gets the unit and uses `unit.<repository>`, `send`, `now` and `deps`."""

    def __init__(self, deps: Deps, db: Database) -> None:
        self.deps, self.db = deps, db
        self.outgoing: list[Outgoing] = []
        self.traces: dict[str, str] = {}  # message id: the W3C traceparent of the message that caused it
        self._repositories: list[Rows] = []

    def repository(self, rows: R) -> R:
        self._repositories.append(rows)
        return rows

    async def prepare(self, messages: Sequence[Message]) -> None:
        """Reads and locks what these messages touch, in one key order per table (a service's unit says which)."""

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        return self.db.savepoint()

    def send(self, topic: str, key: str | None, message: Message) -> None:
        """Queues a message for the flush; it continues the trace of the message being handled now (taken here: by
        the flush, the batch has moved on to its last message)."""
        self.outgoing.append((topic, key, message))
        self.traces[message.id] = traceparent()

    def now(self) -> Any:
        """On the database's clock, which the deadline pollers compare deadlines with."""
        return self.deps.clock.now()

    async def flush(self) -> None:
        """Every repository's changes and the outbox, in one statement."""
        outgoing, self.outgoing = latest_only(self.outgoing), []
        traces, self.traces = self.traces, {}
        await self.db.write([c for repo in self._repositories for c in repo.changes()],
                            [(self.deps.service, item) for item in outgoing], traces)


R = TypeVar("R", bound=Rows)
U = TypeVar("U", bound=UnitOfWork)
Handler = Callable[[Any, U], Awaitable[None]]


def _any(changes: Changes) -> bool:
    return bool(changes.inserted or changes.updated or changes.deleted or changes.appended)


def inbox_key(source: str | None, message_id: str) -> str:
    """What the inbox remembers a message by: its id within the topic it came from. Identity is bound by topic (each
    writer has topics of its own), so no writer can claim an id that another writer, or the OMS, will use."""
    return f"{source}|{message_id}" if source else message_id


async def run(unit: U, consumer: str, items: Sequence[tuple[Message, Handler[U]]],
              before_each: Callable[[int], None] = lambda _: None, sources: Sequence[str] | None = None) -> int:
    """The messages not handled before by `consumer`, through their handlers, then one flush. Returns how many ran.
    `sources`: the topic each message was read from (the inbox key's scope)."""
    keys = [inbox_key(sources[n] if sources else None, m.id) for n, (m, _) in enumerate(items)]
    fresh = await unit.db.claim(consumer, keys)
    todo = []
    for n, (message, handler) in enumerate(items):
        if keys[n] in fresh:
            fresh.discard(keys[n])
            todo.append((n, message, handler))
    if not todo:
        return 0
    await unit.prepare([m for _, m, _ in todo])
    for n, message, handler in todo:
        before_each(n)
        await handler(message, unit)
    await unit.flush()
    return len(todo)


def latest_only(pending: list[Outgoing]) -> list[Outgoing]:
    """A message type that declares `latest_only` (a state snapshot, e.g. a stock level) is sent once per unit of
    work and those fields: its last value, where it was last added."""
    seen: set[tuple[object, ...]] = set()
    kept = []
    for topic, key, message in reversed(pending):
        fields = getattr(message, "latest_only", None)
        if fields:
            identity = (topic, message.type, *(getattr(message, name) for name in fields))
            if identity in seen:
                continue
            seen.add(identity)
        kept.append((topic, key, message))
    kept.reverse()
    return kept


class Statement:
    """One SQL statement of CTEs, with parameters named by the code that adds them (`param`), never counted by
    hand; `checks` are counts the statement must return, or the unit of work fails."""

    def __init__(self) -> None:
        self.args: list[Any] = []
        self.ctes: list[str] = []
        self.checks: list[tuple[str, int, str]] = []

    def param(self, value: Any, sql_type: str) -> str:
        self.args.append(value)
        return f"${len(self.args)}::{sql_type}"

    def unnest(self, types: Mapping[str, str], rows: Sequence[Mapping[str, Any]], alias: str = "v",
               prefix: str = "") -> str:
        """`unnest(...) AS alias(columns)` of these rows' columns (a text[] travels as JSON: unnest flattens arrays)."""
        arrays = [self.param([orjson.dumps(row[c]).decode() for row in rows] if t == "text[]" else
                             [row[c] for row in rows], "jsonb[]" if t == "text[]" else f"{t}[]")
                  for c, t in types.items()]
        return f"unnest({', '.join(arrays)}) AS {alias}({', '.join(prefix + c for c in types)})"

    def cte(self, sql: str, check: tuple[int, str] | None = None, returning: bool = True) -> None:
        """A CTE; with `check`, the count of its rows (RETURNING 1, when `returning`) must be `check[0]`."""
        name = f"w{len(self.ctes)}"
        self.ctes.append(f"{name} AS ({sql}{' RETURNING 1' if check and returning else ''})")
        if check:
            self.checks.append((f"(SELECT count(*) FROM {name})", *check))

    async def run(self, conn: asyncpg.Connection) -> None:
        if not self.ctes:
            return
        found = await conn.fetchrow(f"WITH {', '.join(self.ctes)} SELECT {', '.join(c for c, _, _ in self.checks) or 0}",
                                    *self.args)
        assert found is not None
        for n, (_, expected, problem) in enumerate(self.checks):
            if found[n] != expected:
                raise RuntimeError(f"{problem}: {found[n]} of {expected}")


def _value(column: str, sql_type: str) -> str:
    return f"ARRAY(SELECT jsonb_array_elements_text(v.{column}))" if sql_type == "text[]" else f"v.{column}"


def write_changes(statement: Statement, changes: Changes) -> None:
    t = changes.table
    if changes.inserted or changes.appended:
        for rows, checked in ((changes.inserted, t.insert_checked), (changes.appended, False)):
            if not rows:
                continue
            types = {c: t.columns[c] for c in rows[0]}
            statement.cte(f"INSERT INTO {t.name} ({', '.join(types)}) SELECT "
                          f"{', '.join(_value(c, s) for c, s in types.items())} FROM {statement.unnest(types, rows)}"
                          + (" ON CONFLICT DO NOTHING" if rows is changes.inserted else ""),
                          (len(rows), f"{t.name}: rows the unit of work added exist already") if checked else None)
    if changes.updated:
        types = {**{c: t.columns[c] for c in t.key}, **{c: t.columns[c] for c in t.updates}}
        rows = [now for now, _ in changes.updated]
        was = {f"was_{c}": t.columns[c] for c in t.checked}
        both = [{**now, **{f"was_{c}": before[c] for c in t.checked}} for now, before in changes.updated]
        sets = [f"{c} = {_value(c, t.columns[c])}" for c in t.updates] + (["updated_at = now()"] if t.touch else [])
        # a checked column may be null: null read, null still (as the in-memory database compares)
        where = [f"t.{c} = v.{c}" for c in t.key] + [f"t.{c} IS NOT DISTINCT FROM v.was_{c}" for c in t.checked]
        statement.cte(f"UPDATE {t.name} t SET {', '.join(sets)} FROM {statement.unnest({**types, **was}, both)} "
                      f"WHERE {' AND '.join(where)}",
                      (len(rows), f"{t.name}: rows changed under the unit of work"))
    if changes.deleted:
        keys = [dict(zip(t.key, k, strict=True)) for k in changes.deleted]
        types = {c: t.columns[c] for c in t.key}
        statement.cte(f"DELETE FROM {t.name} t USING {statement.unnest(types, keys)} "
                      f"WHERE {' AND '.join(f't.{c} = v.{c}' for c in t.key)}")


def write_outbox(statement: Statement, items: Sequence[tuple[str, Outgoing]],
                 traces: Mapping[str, str] | None = None) -> None:
    """The rows, and a wake-up for each service's relay (delivered when the transaction commits)."""
    traces = traces or {}
    rows = [outbox_row(service, *item, trace=traces.get(item[2].id)) for service, item in items]
    columns = {"topic": "text", "key": "text", "message_id": "text", "message_type": "text", "payload": "bytea",
               "headers": "jsonb"}
    statement.cte(f"INSERT INTO outbox ({', '.join(columns)}) SELECT * FROM "
                  f"{statement.unnest(columns, [dict(zip(columns, row, strict=True)) for row in rows])}")
    for service in dict.fromkeys(service for service, _ in items):
        statement.cte(f"SELECT pg_notify({statement.param(channel(service), 'text')}, '')",
                      (1, "the relay was not woken"), returning=False)


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
                    traces: Mapping[str, str] | None = None) -> None:
        statement = Statement()
        for table_changes in changes:
            write_changes(statement, table_changes)
        if outbox:
            write_outbox(statement, outbox, traces)
        await statement.run(self.conn)

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        return self.conn.transaction()  # nested in the unit's transaction: a savepoint


@dataclass
class MemoryDatabase:
    """The same unit of work over dictionaries, for handler tests that need no server. `transaction()` undoes a
    unit that fails, as PostgreSQL would."""

    tables: dict[str, dict[Key, Row]] = field(default_factory=dict)
    logs: dict[str, list[Row]] = field(default_factory=dict)
    inbox: set[tuple[str, str]] = field(default_factory=set)
    outbox: list[tuple[str, str | None, Message]] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)  # message id: the trace its headers would carry

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
                    traces: Mapping[str, str] | None = None) -> None:
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
        for service, (topic, to, message) in outbox:
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

