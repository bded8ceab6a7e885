"""The fulfillment service's SQL."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from contracts.base import SkuQuantity
from contracts.partners import Invoice
from shared import rowbatch

COLUMNS = "fulfillment_id, order_id, location_id, status, qc_failures, deadline_at"
STATUS = {"status": "text", "qc_failures": "int", "deadline_at": "timestamptz"}
NEW = {"fulfillment_id": "text", "order_id": "text", "location_id": "text", "lines": "jsonb", "invoice": "jsonb",
       "ship_by": "timestamptz", **STATUS}


async def insert(conn: asyncpg.Connection, fulfillment_id: str, order_id: str, location_id: str,
                 lines: list[SkuQuantity], invoice: Invoice, ship_by: datetime, deadline_at: datetime) -> bool:
    """False (and nothing written) if the fulfillment was requested before; written when the unit of work ends."""
    return await rowbatch.current(conn, "fulfillments").insert({
        "fulfillment_id": fulfillment_id, "order_id": order_id, "location_id": location_id, "status": "requested",
        "qc_failures": 0, "lines": orjson.dumps([line.model_dump() for line in lines]).decode(),
        "invoice": invoice.model_dump_json(), "ship_by": ship_by, "deadline_at": deadline_at})


def batch(conn: asyncpg.Connection, fulfillment_ids: list[str]) -> AbstractAsyncContextManager[rowbatch.Rows]:
    """A unit of work's fulfillments, locked in id order and read once; the new ones inserted and the changed ones
    updated in one statement at its end."""
    return rowbatch.locked(conn, "fulfillments", "fulfillment_id", COLUMNS, STATUS, fulfillment_ids, inserts=NEW)


async def lock(conn: asyncpg.Connection, fulfillment_id: str) -> Mapping[str, Any] | None:
    return await rowbatch.current(conn, "fulfillments").lock(fulfillment_id)


async def set_status(conn: asyncpg.Connection, fulfillment_id: str, status: str, qc_failures: int) -> None:
    """A fulfillment that got any answer no longer has an acceptance deadline."""
    row = await lock(conn, fulfillment_id)
    assert row is not None, fulfillment_id
    rowbatch.current(conn, "fulfillments").update(fulfillment_id, status=status, qc_failures=qc_failures,
                      deadline_at=row["deadline_at"] if status == "requested" else None)


async def claim_expired(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM fulfillments WHERE status = 'requested' AND deadline_at < now() "
        "ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED", limit)
