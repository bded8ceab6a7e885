"""Every service's parked messages (the runtime's own table): what no retry could help, with where from and why."""

from __future__ import annotations

from typing import Any

import asyncpg

from oms_cli.queries import read
from runtime.settings import SERVICES, Settings


async def waiting(settings: Settings, service: str | None = None, waiting_only: bool = True) -> list[dict[str, Any]]:
    rows = []
    for name in [service] if service else list(SERVICES):
        try:
            found = await read(settings, name, 'SELECT id, origin, consumer, topic, partition, "offset", key, '
                               "length(value) AS size, reason, parked_at, replayed_at FROM parked_messages "
                               "WHERE NOT $1 OR replayed_at IS NULL ORDER BY id", waiting_only)
        except asyncpg.UndefinedTableError:  # a service that has never run has parked nothing
            continue
        rows += [{"service": name, **dict(r)} for r in found]
    return rows


async def to_replay(conn: asyncpg.Connection, ids: set[int]) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM parked_messages WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL",
                            sorted(ids))
