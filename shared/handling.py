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
        async with deps.pool.acquire() as conn, conn.transaction(), outbox.one_insert(conn):
            if await inbox.claim(conn, deps.service, message.id):
                await effect(deps, conn, message)
    handle.effect = effect  # type: ignore[attr-defined]
    return handle


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


def bind(deps: Deps, handlers: Mapping[str, BoundHandler]) -> dict[str, Bound]:
    """Handlers by message type, each given the service's deps."""
    return {kind: Bound(deps, fn) for kind, fn in handlers.items()}
