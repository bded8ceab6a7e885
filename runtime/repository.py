"""A repository's rows of one table: read once (locked), changed in memory, written at the unit of work's flush.

`Records(db, table, Shipment)` hands out typed objects (a dataclass per table, its attributes the table's columns);
`Rows(db, table)` plain dicts, for the logs and views no handler reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, Protocol, Self, TypeVar

from runtime.tables import Changes, Database, Key, Row, Table, Where, by, key


class Record(Protocol):
    """A row as an object: one attribute per column it reads (the states as their enums)."""

    @classmethod
    def from_row(cls, row: Row) -> Self: ...


class Columns:
    """The base of a record dataclass whose fields are the columns read: `from_row` passes them as they are (a
    record with enums or other types converts them in its own)."""

    @classmethod
    def from_row(cls, row: Row) -> Self:
        return cls(**row)


T = TypeVar("T")
R = TypeVar("R", bound=Record)


class Repository(Generic[T]):
    """A row cache for one table: rows read once (locked), then added, saved or removed in memory and written when
    the unit of work flushes."""

    def __init__(self, db: Database, table: Table) -> None:
        self.db, self.table = db, table
        self.rows: dict[Key, T] = {}
        self.was: dict[Key, Row] = {}  # as read, for the rows read from the database
        self.looked: set[Key] = set()  # keys looked for: those not in `rows` do not exist
        self.new: dict[Key, None] = {}
        self.changed: dict[Key, None] = {}
        self.removed: dict[Key, None] = {}
        self.log: list[Row] = []

    def decode(self, row: Row) -> T:
        raise NotImplementedError

    def encode(self, item: T) -> Row:
        """The item as the database stores it."""
        raise NotImplementedError

    def key_of(self, item: T) -> Key:
        raise NotImplementedError

    def assign(self, item: T, values: dict[str, Any]) -> None:
        raise NotImplementedError

    async def load(self, where: Where, *, keys: Iterable[Key] = (), skip_locked: bool = False,
                   order_by: str | None = None, limit: int | None = None, lock: bool = True) -> list[T]:
        """The rows `where` selects (locked unless `lock` is False), cached; rows the unit already holds are kept
        as it left them. `keys`: the keys this read covers, so a missing one is known not to exist."""
        found = await self.db.read(self.table, where, lock=lock, skip_locked=skip_locked,
                                   order_by=order_by or ", ".join(self.table.key), limit=limit)
        self.looked.update(keys)
        items, key_of, checked = [], self.table.key_of, self.table.checked
        for row in found:  # each a fresh dict of its own
            key = key_of(row)
            self.looked.add(key)
            if key not in self.rows and key not in self.removed:
                self.rows[key] = self.decode(row)
                if checked:
                    self.was[key] = {c: row[c] for c in checked}
            if key in self.rows:
                items.append(self.rows[key])
        return items

    async def load_keys(self, keys: Iterable[Key | str]) -> None:
        """Reads (and locks) the rows with these keys that the unit has not looked for yet, in key order."""
        wanted = sorted({k for k in map(key, keys) if k not in self.looked and k not in self.rows})
        if not wanted:
            return
        if len(self.table.key) != 1:
            raise ValueError(f"{self.table.name}: load a composite key by one of its columns")
        column = self.table.key[0]
        await self.load(by(column, [k[0] for k in wanted], self.table.columns[column]), keys=wanted)

    def adopt(self, rows: Iterable[Row]) -> None:
        """Rows this unit knows as they are without reading them (another unit of the same job read and changed them,
        and holds them by a lease): cached as read, for `save` to change (they are the unit's from now on)."""
        for row in rows:
            k = self.table.key_of(row)
            self.rows[k] = self.decode(row)
            self.looked.add(k)

    async def get(self, wanted: Key | str) -> T | None:
        """The row as this unit left it; read (and locked) now if the unit has not looked for it yet."""
        await self.load_keys([wanted])
        return self.rows.get(key(wanted))

    def cached(self, wanted: Key | str) -> T | None:
        """The row as this unit left it, if the unit read or added it."""
        return self.rows.get(key(wanted))

    def add(self, item: T) -> bool:
        """A new row, written at the flush; False (and nothing done) if the unit knows one with its key."""
        key = self.key_of(item)
        if key in self.rows:
            return False
        self.rows[key] = item
        if key in self.removed:  # removed and added again: an update of the row read
            del self.removed[key]
            self.changed[key] = None
        else:
            self.new[key] = None
        self.looked.add(key)
        return True

    def save(self, which: Key | str, **values: Any) -> T:
        """New values for columns of `updates`, written at the flush."""
        if not values.keys() <= self.table.updatable:
            raise ValueError(f"{self.table.name}: an update sets {sorted(self.table.updates)}, got {sorted(values)}")
        k = key(which)
        item = self.rows[k]
        self.assign(item, values)
        if k not in self.new:
            self.changed[k] = None
        return item

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

    def changes(self) -> list[Changes]:
        """What to write, once: the unit forgets it was to be written (a repository over several tables adds
        theirs)."""
        changes = Changes(self.table, [self.encode(self.rows[k]) for k in self.new],
                          [(self.encode(self.rows[k]), self.was.get(k, {})) for k in sorted(self.changed)],
                          sorted(self.removed), self.log)
        self.new, self.changed, self.removed, self.log = {}, {}, {}, []
        return [changes] if _any(changes) else []


class Rows(Repository[Row]):
    """A repository of plain rows (dicts), for tables no handler reads a field of: logs, views, what is sent."""

    def decode(self, row: Row) -> Row:
        return row

    def encode(self, item: Row) -> Row:
        return item

    def key_of(self, item: Row) -> Key:
        return self.table.key_of(item)

    def assign(self, item: Row, values: dict[str, Any]) -> None:
        item.update(values)


class Records(Repository[R]):
    """A repository of typed records: `kind.from_row` makes one of a row read, its attributes named after the
    columns are what is written."""

    def __init__(self, db: Database, table: Table, kind: type[R]) -> None:
        super().__init__(db, table)
        self.kind = kind
        self._columns = tuple(table.columns)

    def decode(self, row: Row) -> R:
        return self.kind.from_row(row)

    def encode(self, item: R) -> Row:
        return {c: getattr(item, c) for c in self._columns}

    def key_of(self, item: R) -> Key:
        return tuple(getattr(item, c) for c in self.table.key)

    def assign(self, item: R, values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(item, name, value)


def _any(changes: Changes) -> bool:
    return bool(changes.inserted or changes.appended or changes.updated or changes.deleted)
