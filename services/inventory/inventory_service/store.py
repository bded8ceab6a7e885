"""Inventory's SQL: stock rows, the ledger, reservations and backorders."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import datetime

import asyncpg
import orjson

from inventory_service.domain import Level


async def lock_level(conn: asyncpg.Connection, sku: str, location_id: str) -> Level:
    """The row of this SKU at this location, created if new and locked until commit, in one round trip."""
    row = await conn.fetchrow(
        "INSERT INTO stock (sku, location_id) VALUES ($1, $2) ON CONFLICT (sku, location_id) "
        "DO UPDATE SET sku = EXCLUDED.sku RETURNING on_hand, reserved, inbound", sku, location_id)
    return Level(sku, location_id, row["on_hand"], row["reserved"], row["inbound"])


async def save_level(conn: asyncpg.Connection, level: Level) -> None:
    await conn.execute(
        "UPDATE stock SET on_hand = $3, reserved = $4, inbound = $5, updated_at = now() "
        "WHERE sku = $1 AND location_id = $2",
        level.sku, level.location_id, level.on_hand, level.reserved, level.inbound)


async def expect_inbound(conn: asyncpg.Connection, sku: str, location_id: str, quantity: int, eta: datetime) -> None:
    await conn.execute("INSERT INTO inbound_expected (sku, location_id, quantity, eta) VALUES ($1, $2, $3, $4)",
                       sku, location_id, quantity, eta)


async def record(conn: asyncpg.Connection, level: Level, kind: str, quantity: int, message_id: str) -> None:
    await conn.execute(
        "INSERT INTO stock_ledger (sku, location_id, kind, quantity, message_id) VALUES ($1, $2, $3, $4, $5)",
        level.sku, level.location_id, kind, quantity, message_id)


async def lock_skus(conn: asyncpg.Connection, skus: list[str]) -> dict[tuple[str, str], Level]:
    """Locks every location's row of these SKUs, in one order so concurrent orders never deadlock. Inside a batch
    that locked them all at its start (`locked_batch`), the levels it keeps are given instead, without a statement."""
    if (batch := _levels.get()) is not None and batch[0] is conn and batch[1].issuperset(skus):
        return {key: level for key, level in batch[2].items() if key[1] in skus}
    rows = await conn.fetch(
        "SELECT sku, location_id, on_hand, reserved, inbound FROM stock WHERE sku = ANY($1::text[]) "
        "ORDER BY sku, location_id FOR UPDATE", sorted(skus))
    return {(r["location_id"], r["sku"]): Level(r["sku"], r["location_id"], r["on_hand"], r["reserved"],
                                                 r["inbound"]) for r in rows}


# A command batch's locked SKUs and their levels as the batch leaves them (every write below keeps them current).
_levels: ContextVar[tuple[asyncpg.Connection, set[str], dict[tuple[str, str], Level]] | None] = \
    ContextVar("inventory_levels", default=None)


@contextlib.asynccontextmanager
async def locked_batch(conn: asyncpg.Connection, skus: set[str]) -> AsyncIterator[None]:
    token = _levels.set((conn, set(skus), await lock_skus(conn, sorted(skus))))
    try:
        yield
    finally:
        _levels.reset(token)


def leave(conn: asyncpg.Connection, level: Level) -> None:
    """Notes a level this transaction wrote, for the batch's later commands."""
    if (batch := _levels.get()) is not None and batch[0] is conn and level.sku in batch[1]:
        batch[2][(level.location_id, level.sku)] = level


async def add_reservation(conn: asyncpg.Connection, reservation_id: str, order_id: str, location_id: str,
                          lines: dict[str, int]) -> None:
    """The reservation, its lines and the reserved counts, in one statement; fails if any line no longer fits."""
    updated = await conn.fetchval(
        "WITH r AS (INSERT INTO reservations (reservation_id, order_id, location_id, status) "
        "VALUES ($1, $2, $3, 'open') RETURNING reservation_id), "
        "l AS (INSERT INTO reservation_lines (reservation_id, sku, quantity) "
        "SELECT r.reservation_id, v.sku, v.qty FROM r, unnest($4::text[], $5::int[]) AS v(sku, qty)), "
        "s AS (UPDATE stock s SET reserved = s.reserved + v.qty, updated_at = now() "
        "FROM unnest($4::text[], $5::int[]) AS v(sku, qty) "
        "WHERE s.sku = v.sku AND s.location_id = $3 AND s.on_hand - s.reserved >= v.qty RETURNING 1) "
        "SELECT count(*) FROM s",
        reservation_id, order_id, location_id, list(lines), list(lines.values()))
    if updated != len(lines):
        raise RuntimeError(f"stock at {location_id} changed under reservation {reservation_id}")


async def open_reservation_skus(conn: asyncpg.Connection, order_ids: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT l.sku FROM reservations r JOIN reservation_lines l USING (reservation_id) "
        "WHERE r.order_id = ANY($1::text[]) AND r.status = 'open'", order_ids)
    return {r["sku"] for r in rows}


async def lock_open_reservations(conn: asyncpg.Connection, order_id: str,
                                 reservation_id: str | None) -> list[asyncpg.Record]:
    """The order's open reservation lines with their stock rows, locked in (sku, location) order like reservations."""
    return await conn.fetch(
        "SELECT r.reservation_id, r.location_id, l.sku, l.quantity, s.on_hand, s.reserved, s.inbound "
        "FROM reservations r JOIN reservation_lines l USING (reservation_id) "
        "JOIN stock s ON s.sku = l.sku AND s.location_id = r.location_id "
        "WHERE r.order_id = $1 AND r.status = 'open' AND ($2::text IS NULL OR r.reservation_id = $2) "
        "ORDER BY l.sku, r.location_id FOR UPDATE OF r, s", order_id, reservation_id)


async def finish_reservations(conn: asyncpg.Connection, ids: list[str], status: str,
                              levels: list[tuple[Level, int]], message_id: str) -> None:
    """New levels, the shipped quantities in the ledger and the reservations closed, in one statement."""
    await conn.execute(
        "WITH u AS (UPDATE stock s SET on_hand = v.on_hand, reserved = v.reserved, updated_at = now() "
        "FROM unnest($1::text[], $2::text[], $3::int[], $4::int[]) AS v(sku, loc, on_hand, reserved) "
        "WHERE s.sku = v.sku AND s.location_id = v.loc), "
        "g AS (INSERT INTO stock_ledger (sku, location_id, kind, quantity, message_id) "
        "SELECT x.sku, x.loc, 'shipped', -x.q, $5 FROM unnest($1::text[], $2::text[], $6::int[]) AS x(sku, loc, q) "
        "WHERE x.q > 0) "
        "UPDATE reservations SET status = $7 WHERE reservation_id = ANY($8::text[])",
        [lv.sku for lv, _ in levels], [lv.location_id for lv, _ in levels], [lv.on_hand for lv, _ in levels],
        [lv.reserved for lv, _ in levels], message_id, [shipped for _, shipped in levels], status, ids)


async def add_backorder(conn: asyncpg.Connection, order_id: str, command: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO backorders (order_id, command) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        order_id, orjson.dumps(command).decode())


async def backorders_for(conn: asyncpg.Connection, skus: list[str]) -> list[asyncpg.Record]:
    """Waiting orders that ask for any of these SKUs, oldest first, locked for the caller."""
    return await conn.fetch(
        "SELECT order_id, command FROM backorders WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(command->'lines') l "
        "WHERE l->>'sku' = ANY($1::text[])) ORDER BY created_at FOR UPDATE SKIP LOCKED", skus)


async def remove_backorder(conn: asyncpg.Connection, order_id: str) -> bool:
    return (await conn.execute("DELETE FROM backorders WHERE order_id = $1", order_id)).endswith(" 1")
