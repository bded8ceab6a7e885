"""The unit of work every handler runs in: one transaction, the inbox claim first, a duplicate is a no-op."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from contracts.base import Message
from shared import inbox

if TYPE_CHECKING:
    from shared.service import Deps

M = TypeVar("M", bound=Message)
Effect = Callable[["Deps", asyncpg.Connection, M], Awaitable[None]]
BoundHandler = Callable[["Deps", Any], Awaitable[None]]


def transactional(effect: Effect[M]) -> Callable[[Deps, M], Awaitable[None]]:
    @wraps(effect)
    async def handle(deps: Deps, message: M) -> None:
        async with deps.pool.acquire() as conn, conn.transaction():
            if await inbox.claim(conn, deps.service, message.id):
                await effect(deps, conn, message)
    return handle


def bind(deps: Deps, handlers: Mapping[str, BoundHandler]) -> dict[str, Any]:
    """Handlers by message type, each given the service's deps."""
    def bound(fn: Callable[[Deps, Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
        async def call(message: Any) -> None:
            await fn(deps, message)
        return call
    return {kind: bound(fn) for kind, fn in handlers.items()}
