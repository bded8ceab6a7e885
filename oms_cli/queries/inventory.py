"""The inventory service's read model: stock levels, allocation decisions, partners' scorecards."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from oms_cli.queries import read
from runtime.settings import Settings


async def stock(settings: Settings, sku: str) -> list[asyncpg.Record]:
    """Every location's level of a SKU."""
    return await read(settings, "inventory", "SELECT sku, location_id, on_hand, reserved, inbound FROM stock "
                      "WHERE sku = $1 ORDER BY location_id", sku)


async def decisions(settings: Settings, order_id: str) -> list[asyncpg.Record]:
    """How an order was allocated, each time, with the plans not taken."""
    return await read(settings, "inventory", "SELECT chosen, alternatives, decided_at FROM allocation_decisions "
                      "WHERE order_id = $1 ORDER BY id", order_id)


async def decisions_since(conn: asyncpg.Connection, at: datetime) -> list[asyncpg.Record]:
    """Every allocation of the period, with what it was decided on (what-if replays them)."""
    return await conn.fetch("SELECT order_id, channel, plan, inputs FROM allocation_decisions "
                            "WHERE decided_at >= $1 ORDER BY id", at)


async def scorecards(settings: Settings) -> list[asyncpg.Record]:
    return await read(settings, "inventory", "SELECT partner_id, kind, card, scored_at FROM partner_scores "
                      "ORDER BY kind DESC, partner_id")


async def skus_counted(conn: asyncpg.Connection, prefix: str) -> int:
    """How many stock rows of SKUs with this prefix exist (the demo waits for its seeding)."""
    return int(await conn.fetchval("SELECT count(*) FROM stock WHERE sku LIKE $1", f"{prefix}%"))


async def transfers(settings: Settings, every: bool) -> list[asyncpg.Record]:
    """Transfers between locations, open ones (`every`: all), newest first."""
    return await read(settings, "inventory", "SELECT transfer_id, sku, quantity, from_location_id, to_location_id, "
                      "status, shipped, received, eta, reason, requested_by, created_at FROM transfers "
                      "WHERE $1 OR status IN ('requested', 'shipped') ORDER BY created_at DESC LIMIT 200", every)
