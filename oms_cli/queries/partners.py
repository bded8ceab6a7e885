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


async def pickups_since(settings: Settings, at: datetime) -> list[asyncpg.Record]:
    """Each carrier pickup asked for from `at` on (by its time): its manifest and the carrier's answer."""
    return await read(settings, "shipping", "SELECT pickup_id, location_id, carrier_id, at, status, shipment_ids, "
                      "parcels, weight_grams FROM pickups WHERE at >= $1 ORDER BY at, location_id, carrier_id", at)


async def slots_from(settings: Settings, at: datetime) -> list[asyncpg.Record]:
    """Each delivery window from `at` on that was given to orders: how many of its capacity."""
    return await read(settings, "inventory", "SELECT carrier_id, zone, starts_at, claimed FROM delivery_slots "
                      "WHERE starts_at >= $1 ORDER BY carrier_id, zone, starts_at", at)
