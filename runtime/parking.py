"""Parking: messages no retry can help (the database or the broker refuses them the same way every time) are set
aside with their original bytes and the reason, so the partition or the relay goes on and an operator can replay."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aiokafka.structs import ConsumerRecord

from runtime.faults import FAULTS, REFUSED_BY_BROKER, OversizedMessage, TopicMissing
from runtime.logging import log

__all__ = ["REFUSED_BY_BROKER", "REFUSED_FOR_GOOD", "OversizedMessage", "TopicMissing"]

# Refusals that come back the same however often they are tried (of the database, of the outbox, of the
# encoding): the message is parked, the partition goes on.
REFUSED_FOR_GOOD: tuple[type[Exception], ...] = next(f.errors for f in FAULTS if f.name == "data error")

PARK = """INSERT INTO parked_messages (origin, consumer, topic, partition, "offset", key, value, header_keys,
          header_values, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"""


def storable(text: str, limit: int = 2000) -> str:
    """Text PostgreSQL takes: no NUL character, bounded length."""
    return text.replace("\x00", "\\x00")[:limit]


async def park_record(pool: asyncpg.Pool, consumer: str, record: ConsumerRecord, reason: str) -> int:
    """A consumed record set aside; its offset may then be committed."""
    headers = list(record.headers or ())
    parked = await pool.fetchval(PARK, "consume", consumer, record.topic, record.partition, record.offset, record.key,
                                 record.value, [storable(k, 200) for k, _ in headers], [v for _, v in headers],
                                 storable(reason))
    log.error("consume.parked", parked_id=parked, reason=storable(reason, 300))
    return int(parked)


async def park_outbox_rows(conn: asyncpg.Connection, consumer: str, ids: Sequence[int], reason: str) -> int:
    """Outbox rows the broker refuses, moved out of the relay's way in one statement (and an operator alerted)."""
    moved = await conn.fetchval(
        """WITH moved AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING topic, key, payload, headers)
           , parked AS (INSERT INTO parked_messages (origin, consumer, topic, key, value, header_keys, header_values,
                        reason)
                 SELECT 'outbox', $2, topic, convert_to(key, 'UTF8'), payload,
                        ARRAY(SELECT jsonb_object_keys(headers)),
                        ARRAY(SELECT convert_to(value, 'UTF8') FROM jsonb_each_text(headers)), $3 FROM moved
                 RETURNING 1)
           SELECT count(*) FROM parked""", list(ids), consumer, storable(reason))
    log.error("outbox.row_parked", rows=moved, reason=storable(reason, 300))
    return int(moved)


async def mark_replayed(conn: asyncpg.Connection, parked_id: int) -> None:
    """An operator sent it on (`oms parked replay`): it stays for the record, no longer waiting."""
    await conn.execute("UPDATE parked_messages SET replayed_at = now() WHERE id = $1", parked_id)
