"""`oms customer erase`: a customer's personal data removed or masked in every service's database, idempotently;
orders keep their ids, lines, prices and statuses (and the destination country, which holds no one)."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.settings import Settings

ERASED = "erased"
# An address as it is left: every field masked but the country.
MASK_ADDRESS = """jsonb_build_object('name', 'erased', 'line1', 'erased', 'line2', NULL, 'city', 'erased',
                  'postal_code', 'erased', 'country', {column}->>'country')"""


BACKORDER_SHIP_TO = "command->'ship_to'"


def _address(column: str) -> str:
    return MASK_ADDRESS.format(column=column)


async def erase_customer(settings: Settings, who: str) -> dict[str, int]:
    """Masks the personal data of the customer with this id or e-mail address (any case) wherever a service keeps
    it. Returns what was touched, per service and table (0 everywhere the second time)."""
    touched: dict[str, int] = {}
    order = await asyncpg.connect(settings.database_for("order"))
    try:
        async with order.transaction():
            rows = await order.fetch(
                "SELECT order_id, channel, external_id FROM orders WHERE customer->>'id' = $1 "
                "OR lower(customer->>'email') = lower($1)", who)
            ids = [r["order_id"] for r in rows]
            keys = [f"{r['channel']}:{r['external_id']}" for r in rows]
            touched["order.orders"] = _count(await order.execute(
                f"""UPDATE orders SET customer = jsonb_build_object('id', customer->>'id', 'email', 'erased',
                                                                    'name', 'erased', 'phone', NULL),
                       shipping_address = {_address('shipping_address')},
                       saga = jsonb_set(saga, '{{ship_to}}', {_address("saga->'ship_to'")})
                              || CASE WHEN saga->'reservation_request' IS NOT NULL
                                      AND saga->>'reservation_request' <> 'null'
                                 THEN jsonb_build_object('reservation_request', jsonb_set(saga->'reservation_request',
                                      '{{ship_to}}', {_address("saga->'reservation_request'->'ship_to'")}))
                                 ELSE '{{}}'::jsonb END
                   WHERE order_id = ANY($1::text[]) AND customer->>'email' <> 'erased'""", ids))
    finally:
        await order.close()
    touched |= await _elsewhere(settings, ids, keys)
    return touched


async def _elsewhere(settings: Settings, ids: list[str], keys: list[str]) -> dict[str, int]:
    statements: dict[str, list[tuple[str, str, Any]]] = {
        "notification": [
            ("contacts", "UPDATE contacts SET email = 'erased', phone = NULL, name = 'erased' "
                         "WHERE order_key = ANY($1::text[]) AND email <> 'erased'", keys),
            ("notifications", "UPDATE notifications SET recipient = 'erased' "
                              "WHERE order_id = ANY($1::text[]) AND recipient <> 'erased' "
                              "AND kind NOT LIKE 'operator_%'", ids)],
        "shipping": [
            ("shipments", f"UPDATE shipments SET ship_to = {_address('ship_to')} "
                          "WHERE order_id = ANY($1::text[]) AND ship_to->>'name' <> 'erased'", ids)],
        "inventory": [
            ("backorders", f"UPDATE backorders SET command = jsonb_set(command, '{{ship_to}}', "
                           f"{_address(BACKORDER_SHIP_TO)}) "
                           "WHERE order_id = ANY($1::text[]) AND command->'ship_to'->>'name' <> 'erased'", ids)],
    }
    touched: dict[str, int] = {}
    for service, work in statements.items():
        conn = await asyncpg.connect(settings.database_for(service))
        try:
            async with conn.transaction():
                for table, statement, args in work:
                    try:
                        async with conn.transaction():
                            touched[f"{service}.{table}"] = _count(await conn.execute(statement, args))
                    except asyncpg.UndefinedTableError:  # a service that never ran keeps nothing
                        touched[f"{service}.{table}"] = 0
        finally:
            await conn.close()
    return touched


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[1])
