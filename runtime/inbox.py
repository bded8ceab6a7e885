"""The inbox: ids of messages a consumer has handled, claimed in the same transaction as the effect, and forgotten
once no copy of them can come back (`prune`)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg


async def claim_many(conn: asyncpg.Connection, consumer: str, message_ids: list[str]) -> set[str]:
    """The ids among these that were not handled before, claimed in one statement."""
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, message_id) SELECT $1, m FROM unnest($2::text[]) AS m "
        "ON CONFLICT DO NOTHING RETURNING message_id", consumer, list(dict.fromkeys(message_ids)))
    return {r["message_id"] for r in rows}


async def prune(conn: asyncpg.Connection, older_than: timedelta, limit: int = 5000) -> int:
    """Forgets up to `limit` ids handled more than `older_than` ago; returns how many. Rows another pruner holds
    are skipped, not waited for. The old rows are found through the BRIN index on `processed_at`: a scan of the
    whole inbox, which the planner may think cheaper when it expects many, would read every page of it to find none
    most of the time."""
    await conn.execute("SET LOCAL enable_seqscan = off")
    status = await conn.execute(
        "DELETE FROM inbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox WHERE processed_at < now() - $1::interval "
        "LIMIT $2 FOR UPDATE SKIP LOCKED))", older_than, limit)
    return int(status.rsplit(" ", 1)[1])
