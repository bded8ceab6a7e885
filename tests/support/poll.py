"""Waiting for a condition with a deadline, failing with what was last seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str,
                     timeout: float = 60.0, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    seen = await probe()
    while not done(seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {timeout:.0f}s; last seen: {seen!r}"[:4000])
        await asyncio.sleep(interval)
        seen = await probe()
    return seen
