"""The unit of work: a batch of messages in one transaction, each table's rows read once and written once.

    async with pool.acquire() as conn, conn.transaction():
        await run(unit_for(Postgres(conn)), consumer, [(message, handler), ...])

`run` claims the inbox (a message seen before is skipped), has the unit `prepare` (each repository locks and reads
the rows the batch names, in key order, so batches never deadlock), calls `handler(message, unit)` for each message,
and `flush`es: every new, changed and deleted row of every repository and the outbox in one statement
(`runtime.statements`). A message handled alone is a batch of one. The same code runs over the in-memory database
in the fast tests. docs/architecture.md shows the way of a message through a service; docs/decisions/0004 says why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from contracts.base import Message
from runtime.deps import Deps
from runtime.messaging import traceparent
from runtime.outbox import held
from runtime.repository import Repository
from runtime.tables import Database, Outgoing


class UnitOfWork:
    """A batch's transaction: its repositories (attributes of a service's subclass) and what it sends. A handler
    gets the unit and uses `unit.<repository>`, `send`, `now` and `deps`."""

    def __init__(self, deps: Deps, db: Database) -> None:
        self.deps, self.db = deps, db
        self.outgoing: list[Outgoing] = []
        self.traces: dict[str, str] = {}  # message id: the W3C traceparent of the message that caused it
        self._repositories: list[Repository[Any]] = []
        self._after_commit: list[Callable[[], None]] = []

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

    def after_commit(self, do: Callable[[], None]) -> None:
        """`do` once the unit's transaction has committed, never if it is rolled back (a process cache of what the
        unit wrote)."""
        self._after_commit.append(do)

    def committed(self) -> None:
        """Called by whoever committed the unit's transaction."""
        hooks, self._after_commit = self._after_commit, []
        for do in hooks:
            do()

    def now(self) -> Any:
        """On the database's clock, which the deadline pollers compare deadlines with."""
        return self.deps.clock.now()

    async def flush(self) -> None:
        """Every repository's changes and the outbox, in one statement."""
        outgoing, self.outgoing = latest_only(self.outgoing), []
        traces, self.traces = self.traces, {}
        hold = self.deps.settings.hold_state_ms > 0
        now = [(self.deps.service, item) for item in outgoing if not (hold and held(item[2]))]
        later = [(self.deps.service, item) for item in outgoing if hold and held(item[2])]
        await self.db.write([c for repo in self._repositories for c in repo.changes()], now, traces, later)


R = TypeVar("R", bound=Repository[Any])
U = TypeVar("U", bound=UnitOfWork)
Handler = Callable[[Any, U], Awaitable[None]]


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
        fields = getattr(type(message), "latest_only", None)  # a class attribute (an instance's miss raises inside)
        if fields:
            identity = (topic, message.type, *(getattr(message, name) for name in fields))
            if identity in seen:
                continue
            seen.add(identity)
        kept.append((topic, key, message))
    kept.reverse()
    return kept

