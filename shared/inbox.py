"""The inbox: ids of messages a consumer has handled, claimed in the same transaction as the effect."""

from __future__ import annotations

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, message_id: str) -> bool:
    """True the first time; False for a duplicate, which the caller then ignores."""
    status = await conn.execute(
        "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer, message_id)
    return status.endswith(" 1")


async def claim_many(conn: asyncpg.Connection, consumer: str, message_ids: list[str]) -> set[str]:
    """The ids among these that were not handled before, claimed in one statement."""
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, message_id) SELECT $1, m FROM unnest($2::text[]) AS m "
        "ON CONFLICT DO NOTHING RETURNING message_id", consumer, list(dict.fromkeys(message_ids)))
    return {r["message_id"] for r in rows}
