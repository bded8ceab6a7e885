"""The command line's reads, one module per read model: each service's tables as the operators' read-only role
sees them (the runtime's own, parked messages, in `parked`)."""

from __future__ import annotations

import asyncpg

from runtime.security import DATABASE_OPERATOR
from runtime.settings import Settings


async def read(settings: Settings, service: str, query: str, *args: object) -> list[asyncpg.Record]:
    """A read of one service's database, as the operators' read-only role."""
    conn = await asyncpg.connect(settings.database_for(service, DATABASE_OPERATOR))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()
