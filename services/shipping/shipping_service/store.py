"""The shipping service's SQL."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from contracts.order import BookShipment
from shared import rowbatch

STATUS = {"status": "text", "tracking_number": "text", "deadline_at": "timestamptz", "carrier_id": "text",
          "tried_carriers": "text[]"}
NEW = {"shipment_id": "text", "order_id": "text", "location_id": "text", "service_level": "text", "ship_to": "jsonb",
       "parcels": "jsonb", **STATUS}


def batch(conn: asyncpg.Connection, shipment_ids: list[str]) -> AbstractAsyncContextManager[rowbatch.Rows]:
    """A batch's shipments, locked in id order and read once; the new ones inserted and the changed ones updated in
    one statement each."""
    return rowbatch.locked(conn, "shipments", "shipment_id", "*", STATUS, shipment_ids, inserts=NEW)


def new_shipment(cmd: BookShipment) -> dict[str, Any]:
    """A shipment as booking starts: no carrier asked yet."""
    return {"shipment_id": cmd.shipment_id, "order_id": cmd.order_id, "location_id": cmd.location_id,
            "service_level": cmd.service_level, "ship_to": cmd.ship_to.model_dump_json(),
            "parcels": orjson.dumps(cmd.parcels).decode(), "status": "booking", "tracking_number": None,
            "deadline_at": None, "carrier_id": None, "tried_carriers": list(cmd.excluded_carriers)}


async def insert(conn: asyncpg.Connection, shipment: dict[str, Any]) -> bool:
    """False (and nothing written) if the shipment was booked before; written when the unit of work ends."""
    return await rowbatch.current(conn, "shipments").insert(shipment)


async def lock(conn: asyncpg.Connection, shipment_id: str) -> Mapping[str, Any] | None:
    return await rowbatch.current(conn, "shipments").lock(shipment_id)


async def _update(conn: asyncpg.Connection, shipment_id: str, **changes: Any) -> None:
    row = await lock(conn, shipment_id)
    assert row is not None, shipment_id
    rowbatch.current(conn, "shipments").update(shipment_id,
                                               **{column: changes.get(column, row[column]) for column in STATUS})


async def booking_sent(conn: asyncpg.Connection, shipment_id: str, carrier_id: str, answer_within_s: int,
                       now: datetime) -> None:
    """`now` on the database's clock: the deadline poller compares the deadline with it there."""
    row = await lock(conn, shipment_id)
    assert row is not None, shipment_id
    await _update(conn, shipment_id, status="booking", deadline_at=now + timedelta(seconds=answer_within_s),
                  carrier_id=carrier_id, tried_carriers=[*row["tried_carriers"], carrier_id])


async def restart_booking(conn: asyncpg.Connection, shipment_id: str, excluded: list[str]) -> None:
    """A shipment no carrier took starts over: every carrier may be asked again (but `excluded`)."""
    await _update(conn, shipment_id, status="booking", deadline_at=None, carrier_id=None, tried_carriers=excluded)


async def set_status(conn: asyncpg.Connection, shipment_id: str, status: str, tracking_number: str | None) -> None:
    row = await lock(conn, shipment_id)
    assert row is not None, shipment_id
    await _update(conn, shipment_id, status=status, tracking_number=tracking_number or row["tracking_number"],
                  deadline_at=None)


async def claim_expired(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM shipments WHERE status = 'booking' AND deadline_at < now() ORDER BY deadline_at LIMIT $1 "
        "FOR UPDATE SKIP LOCKED", limit)

