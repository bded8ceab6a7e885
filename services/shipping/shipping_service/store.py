"""The shipping service's SQL."""

from __future__ import annotations

import asyncpg
import orjson

from contracts.order import BookShipment


async def insert(conn: asyncpg.Connection, cmd: BookShipment) -> bool:
    return bool(await conn.fetchval(
        "INSERT INTO shipments (shipment_id, order_id, location_id, service_level, ship_to, parcels, status, "
        "tried_carriers) VALUES ($1, $2, $3, $4, $5, $6, 'booking', $7) ON CONFLICT DO NOTHING RETURNING true",
        cmd.shipment_id, cmd.order_id, cmd.location_id, cmd.service_level, cmd.ship_to.model_dump_json(),
        orjson.dumps(cmd.parcels).decode(), cmd.excluded_carriers))


async def lock(conn: asyncpg.Connection, shipment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM shipments WHERE shipment_id = $1 FOR UPDATE", shipment_id)


async def booking_sent(conn: asyncpg.Connection, shipment_id: str, carrier_id: str, answer_within_s: int) -> None:
    await conn.execute(
        "UPDATE shipments SET carrier_id = $2, tried_carriers = array_append(tried_carriers, $2), status = 'booking', "
        "deadline_at = now() + make_interval(secs => $3), updated_at = now() WHERE shipment_id = $1",
        shipment_id, carrier_id, answer_within_s)


async def claim_expired(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM shipments WHERE status = 'booking' AND deadline_at < now() ORDER BY deadline_at LIMIT $1 "
        "FOR UPDATE SKIP LOCKED", limit)


async def set_status(conn: asyncpg.Connection, shipment_id: str, status: str, tracking_number: str | None) -> None:
    await conn.execute(
        "UPDATE shipments SET status = $2, tracking_number = coalesce($3, tracking_number), deadline_at = NULL, "
        "updated_at = now() "
        "WHERE shipment_id = $1", shipment_id, status, tracking_number)
