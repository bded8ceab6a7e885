"""The fulfillment and shipping services' read models, as the report counts them: what each location and carrier
was asked and did."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from oms_cli.queries import read
from runtime.settings import Settings


async def shipments_since(settings: Settings, at: datetime) -> list[asyncpg.Record]:
    return await read(settings, "shipping", "SELECT order_id, location_id, carrier_id, service_level, "
                      "ship_to->>'country' AS country, status, tried_carriers, exceptions, "
                      "delivered_at <= deliver_by AS delivered_on_time FROM shipments WHERE created_at >= $1", at)


async def fulfillments_since(settings: Settings, at: datetime) -> list[asyncpg.Record]:
    return await read(settings, "fulfillment", "SELECT location_id, status, qc_failures FROM fulfillments "
                      "WHERE created_at >= $1", at)


async def returns_since(settings: Settings, at: datetime) -> list[asyncpg.Record]:
    return await read(settings, "fulfillment", "SELECT location_id, received FROM returns WHERE created_at >= $1", at)
