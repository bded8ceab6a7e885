"""The unit of work every handler runs in: one transaction, the inbox claim first, a duplicate is a no-op.

A handler is written as an *effect* `(deps, conn, message)`; `transactional` gives it its own transaction for
one message, and the batch path of the consume policy runs several effects in one transaction instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from contracts.base import Message
from shared import inbox, outbox

if TYPE_CHECKING:
    from shared.service import Deps

M = TypeVar("M", bound=Message)
Effect = Callable[["Deps", asyncpg.Connection, M], Awaitable[None]]
BoundHandler = Callable[["Deps", Any], Awaitable[None]]


def transactional(effect: Effect[M]) -> Callable[[Deps, M], Awaitable[None]]:
    @wraps(effect)
    async def handle(deps: Deps, message: M) -> None:
        if not acts_on(handle, message):
            return
        async with deps.pool.acquire() as conn, conn.transaction(), outbox.one_insert(conn):
            if await inbox.claim(conn, deps.service, message.id):
                await effect(deps, conn, message)
    handle.effect = effect  # type: ignore[attr-defined]
    return handle


H = TypeVar("H", bound=Callable[..., Any])


def acting_only_on(predicate: Callable[[Any], bool]) -> Callable[[H], H]:
    """Marks a handler that does something with a message only when `predicate` (pure) says so: any other message
    is acknowledged without a transaction, since there is no effect to make or to remember in the inbox."""
    def mark(handler: H) -> H:
        handler.acts_on = predicate  # type: ignore[attr-defined]
        return handler
    return mark


def acts_on(handler: object, message: Message) -> bool:
    predicate = getattr(handler, "acts_on", None)
    return predicate is None or bool(predicate(message))


@dataclass(frozen=True)
class Bound:
    """A handler with the service's deps: callable for one message, and its effect for a batch transaction."""

    deps: Deps
    fn: BoundHandler

    async def __call__(self, message: Any) -> None:
        await self.fn(self.deps, message)

    @property
    def effect(self) -> Effect[Any] | None:
        return getattr(self.fn, "effect", None)

    @property
    def acts_on(self) -> Callable[[Any], bool] | None:
        return getattr(self.fn, "acts_on", None)


def bind(deps: Deps, handlers: Mapping[str, BoundHandler]) -> dict[str, Bound]:
    """Handlers by message type, each given the service's deps."""
    return {kind: Bound(deps, fn) for kind, fn in handlers.items()}
