"""Maintenance operations: the only writes to a service's tables that are not a unit of work's. Each is one
statement over many rows that a unit would have to read first (deadlines moved on after an outage, personal data
masked, old answers forgotten, deliveries of a subscriber that is gone), named, logged when it changes rows, and
listed in `OPERATIONS` (tests/unit/test_write_path.py keeps every other write in the units of work)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from runtime.logging import log


@dataclass(frozen=True)
class Maintenance:
    name: str  # `<table>.<what it does>`
    sql: str  # one INSERT, UPDATE or DELETE; its parameters from $1

    async def run(self, conn: asyncpg.Connection, *args: Any) -> int:
        """Runs it in the caller's transaction; how many rows it changed."""
        status = await conn.execute(self.sql, *args)
        changed = int(status.rsplit(" ", 1)[1])
        if changed:
            log.info("maintenance.ran", operation=self.name, rows=changed)
        return changed


OPERATIONS: dict[str, Maintenance] = {}


def maintenance(name: str, sql: str) -> Maintenance:
    """A named operation, listed once (the same name twice must be the same statement)."""
    found = OPERATIONS.setdefault(name, Maintenance(name, sql))
    if found.sql != sql:
        raise ValueError(f"two maintenance operations named {name}")
    return found
