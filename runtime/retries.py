"""What a service sends out of its database after the transaction that recorded it (customer notifications, webhook
deliveries), each item on its own and with no transaction open while it is sent:

    async with within(pool, work) as unit:          # claimed: due again only after `lease` (a crash re-sends it)
        items = await unit.<sends>.claim(...)
    results = [await send(item) for item in items]  # no transaction open
    async with within(pool, work) as unit:          # marked: sent, or failed (due again later, or dead)
        unit.<sends>.adopt(items); unit.<sends>.sent(...) / .failed(...)

A failed item waits twice as long as before it is tried again (an hour at most); one refused for good or failed
`max_attempts` times is dead, for an operator to see and send again."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg

from runtime.faults import Action, classify
from runtime.logging import log
from runtime.postgres import within
from runtime.repository import Rows
from runtime.tables import Changes, Database, Key, Row, Table, Where
from runtime.unit import UnitOfWork

U = TypeVar("U", bound=UnitOfWork)

DUE = {"attempts": "int", "next_attempt_at": "timestamptz", "last_error": "text", "sent_at": "timestamptz",
       "dead_at": "timestamptz"}
LEASE = timedelta(seconds=60)  # longer than any send may take: a claimed item is not claimed again meanwhile


def sendable(table: Table, reads: tuple[str, ...]) -> Table:
    """`table` as its sender sees it: `reads` and the columns of its attempts, which are what it updates."""
    return dataclasses.replace(table, columns={**table.columns, **DUE}, reads=(*table.key, *reads, *DUE),
                               updates=tuple(DUE), checked=(), touch=False)


def due(extra: str = "", test: Any = None, params: tuple[Any, ...] = ()) -> Where:
    """Items never sent, not dead, whose next attempt is due (and `extra`, its parameters from $1)."""
    def is_due(row: Row) -> bool:
        at = row["next_attempt_at"]
        return (row["sent_at"] is None and row["dead_at"] is None and at is not None
                and at <= datetime.now(at.tzinfo) and (test is None or test(row)))
    sql = "sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()"
    return Where(f"{sql} AND {extra}" if extra else sql, is_due, params)


class Sends(Rows):
    """A table of items to send: claimed for a while, then marked sent or failed. A lease writes only when the item
    is due again, a send only what says it was sent: the flush writes those columns alone."""

    def __init__(self, db: Database, table: Table, count_success: bool = False) -> None:
        super().__init__(db, table)
        self.count_success = count_success  # `attempts` counts the successful try too (else only failures)
        self.leases = dataclasses.replace(table, updates=("next_attempt_at",))
        self.sends = dataclasses.replace(table, updates=("sent_at", "last_error", "attempts"))
        self.leased: dict[Key, None] = {}
        self.done: dict[Key, None] = {}

    async def claim(self, now: datetime, limit: int, where: Where | None = None) -> list[Row]:
        """Up to `limit` due items (others' claims skipped, not waited for), due again only after `LEASE`."""
        found = await self.load(where or due(), skip_locked=True, order_by="next_attempt_at", limit=limit)
        for row in found:
            row["next_attempt_at"] = now + LEASE
            self.leased[self.table.key_of(row)] = None
        return found

    def sent(self, key: str, now: datetime) -> None:
        row = self.rows[(key,)]
        row.update(sent_at=now, last_error=None, attempts=row["attempts"] + 1 if self.count_success else row["attempts"])
        self.done[(key,)] = None

    def failed(self, key: str, now: datetime, error: str, permanent: bool, max_attempts: int,
               backoff_s: float) -> Row:
        """Due again after a wait that doubles, or dead when the failure is permanent or the attempts are used up."""
        attempts = self.rows[(key,)]["attempts"]
        return self.save(key, attempts=attempts + 1, last_error=error,
                         next_attempt_at=now + timedelta(seconds=min(backoff_s * 2 ** attempts, 3600)),
                         dead_at=now if permanent or attempts + 1 >= max_attempts else None)

    def changes(self) -> list[Changes]:
        found = super().changes()
        for table, keys in ((self.leases, self.leased), (self.sends, self.done)):
            if keys:
                found.append(Changes(table, updated=[(self.rows[k], {}) for k in keys if k in self.rows]))
        self.leased, self.done = {}, {}
        return found


Failure = tuple[str, bool]  # why an item was not sent, and whether it never will be


async def send_round(pool: asyncpg.Pool, work: Callable[[Database], U], sends: Callable[[U], Sends],
                     claim: Callable[[U], Awaitable[list[Row]]], send: Callable[[Row], Awaitable[Failure | None]],
                     max_attempts: int, backoff_s: float, at_once: bool = False) -> tuple[int, list[Row]]:
    """One round: items claimed in a unit of work, sent with no transaction open (one after another, or all at once
    with `at_once`: `send` bounds its own concurrency), marked in another (tried again through a database outage:
    what was sent is not sent again). Returns how many were claimed, and the rows of those that failed (with
    `attempts` and `dead_at`)."""
    async with within(pool, work) as unit:
        rows = [dict(row) for row in await claim(unit)]  # as leased (the flush wrote them so)
    if not rows:
        return 0, []
    key = sends(unit).table.key[0]
    if at_once:
        results = list(zip([row[key] for row in rows], await asyncio.gather(*(send(row) for row in rows)),
                           strict=True))
    else:
        results = [(row[key], await send(row)) for row in rows]
    while True:
        try:
            async with within(pool, work) as unit:
                mine = sends(unit)
                now = unit.now()
                mine.adopt(rows)  # as the claim left them: leased to this round, so nobody else changed them
                failed = [mine.failed(k, now, failure[0], failure[1], max_attempts, backoff_s)
                          for k, failure in results if failure is not None and mine.cached(k) is not None]
                for k, failure in results:
                    if failure is None and mine.cached(k) is not None:
                        mine.sent(k, now)
            return len(rows), [dict(row) for row in failed]
        except Exception as exc:
            if classify(exc).action is not Action.RETRY:
                raise
            log.warning("sends.unmarked", error=repr(exc), items=len(results))
            await asyncio.sleep(1.0)
