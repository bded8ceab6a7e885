"""`oms customer erase`: a customer's personal data masked in every service's database (the masks of
`shared.personal_data`), idempotently; orders keep their ids, lines, prices and statuses."""

from __future__ import annotations

import asyncpg

from shared.personal_data import MASKS, OF_ORDERS, mask
from shared.settings import Settings


async def erase_customer(settings: Settings, who: str) -> dict[str, int]:
    """Masks the personal data of the customer with this id or e-mail address (any case) wherever a service keeps
    it. Returns how many rows were masked, per service and table (0 everywhere the second time)."""
    conn = await asyncpg.connect(settings.database_for("order"))
    try:
        rows = await conn.fetch("SELECT order_id, channel, external_id FROM orders WHERE customer->>'id' = $1 "
                                "OR lower(customer->>'email') = lower($1)", who)
    finally:
        await conn.close()
    ids, keys = [r["order_id"] for r in rows], [f"{r['channel']}:{r['external_id']}" for r in rows]
    touched: dict[str, int] = {}
    for service in MASKS:
        conn = await asyncpg.connect(settings.database_for(service))
        try:
            async with conn.transaction():
                for table, count in (await _mask(conn, service, ids, keys)).items():
                    touched[f"{service}.{table}"] = count
        finally:
            await conn.close()
    return touched


async def _mask(conn: asyncpg.Connection, service: str, ids: list[str], keys: list[str]) -> dict[str, int]:
    try:
        async with conn.transaction():
            return await mask(conn, service, OF_ORDERS, ids, keys)
    except asyncpg.UndefinedTableError:  # a service that has never run keeps nothing
        return {table: 0 for table, _ in MASKS[service]}
