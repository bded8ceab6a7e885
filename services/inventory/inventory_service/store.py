"""Inventory's SQL: stock rows, the ledger, reservations and backorders."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from inventory_service.domain import Level
from shared import outbox, rowbatch


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
    """Locks every location's row of these SKUs, in one order so concurrent orders never deadlock. Inside a command
    batch, which locked its SKUs at its start, the levels as the batch has left them, without a statement."""
    if (batch := _current(conn)) is not None:
        batch.cover(skus)
        return {key: level for key, level in batch.levels.items() if key[1] in skus}
    return await _lock(conn, skus)


async def _lock(conn: asyncpg.Connection, skus: list[str] | set[str]) -> dict[tuple[str, str], Level]:
    rows = await conn.fetch(
        "SELECT sku, location_id, on_hand, reserved, inbound FROM stock WHERE sku = ANY($1::text[]) "
        "ORDER BY sku, location_id FOR UPDATE", sorted(skus))
    return {(r["location_id"], r["sku"]): Level(r["sku"], r["location_id"], r["on_hand"], r["reserved"],
                                                 r["inbound"]) for r in rows}


class OutsideBatch(Exception):
    """A command needs rows its batch did not lock at the start: the batch is handled one command at a time."""


@dataclass
class CommandBatch:
    """A batch of commands: the stock rows it touches locked and read once at the start, the open reservations of
    the orders it finishes read once; reservations, levels, closed reservations, the ledger and the outbox written in
    one statement at the end. Every level written is checked against the one read, under the batch's locks."""

    conn: asyncpg.Connection
    skus: set[str]
    read: dict[tuple[str, str], Level]
    levels: dict[tuple[str, str], Level]
    open: dict[str, list[dict[str, Any]]]  # order id -> its open reservation lines
    new: dict[str, tuple[str, str, dict[str, int]]] = field(default_factory=dict)  # reservation id -> order, location
    closed: dict[str, str] = field(default_factory=dict)  # reservation id -> committed or released
    shipped: list[tuple[str, str, int, str]] = field(default_factory=list)  # sku, location, quantity, message id

    def cover(self, skus: list[str] | set[str]) -> None:
        if not self.skus.issuperset(skus):
            raise OutsideBatch(f"SKUs {sorted(set(skus) - self.skus)} not locked by the batch")

    async def flush(self) -> None:
        """One statement: new reservations and their lines, closed reservations, changed levels, the ledger, and the
        outbox rows the batch's handlers queued (`outbox.carried`)."""
        ctes: list[str] = []
        args: list[Any] = []

        def arrays(*columns: tuple[list[Any], str]) -> str:
            args.extend(values for values, _ in columns)
            return ", ".join(f"${len(args) - len(columns) + n}::{sql_type}[]"
                             for n, (_, sql_type) in enumerate(columns, 1))

        if self.new:
            ctes.append("new_reservations AS (INSERT INTO reservations (reservation_id, order_id, location_id, "
                        "status) SELECT * FROM unnest(" + arrays(
                            (list(self.new), "text"), ([o for o, _, _ in self.new.values()], "text"),
                            ([loc for _, loc, _ in self.new.values()], "text"),
                            ([self.closed.get(rid, "open") for rid in self.new], "text")) + "))")
            lines = [(rid, sku, q) for rid, (_, _, wanted) in self.new.items() for sku, q in wanted.items()]
            ctes.append("new_lines AS (INSERT INTO reservation_lines (reservation_id, sku, quantity) "
                        "SELECT * FROM unnest(" + arrays(([r for r, _, _ in lines], "text"),
                                                         ([sku for _, sku, _ in lines], "text"),
                                                         ([q for _, _, q in lines], "int")) + "))")
        checks: list[tuple[str, int, str]] = []
        older = {rid: status for rid, status in self.closed.items() if rid not in self.new}
        if older:
            ctes.append("closed AS (UPDATE reservations r SET status = v.status FROM unnest(" + arrays(
                (list(older), "text"), (list(older.values()), "text")) + ") AS v(id, status) "
                "WHERE r.reservation_id = v.id AND r.status = 'open' RETURNING 1)")
            checks.append(("(SELECT count(*) FROM closed)", len(older), "reservations closed under the batch"))
        changed = [key for key, level in self.levels.items() if level != self.read[key]]
        if changed:
            was, now = [self.read[k] for k in changed], [self.levels[k] for k in changed]
            ctes.append("levels AS (UPDATE stock s SET on_hand = v.on_hand, reserved = v.reserved, updated_at = now() "
                        "FROM unnest(" + arrays(
                            ([lv.sku for lv in now], "text"), ([lv.location_id for lv in now], "text"),
                            ([lv.on_hand for lv in now], "int"), ([lv.reserved for lv in now], "int"),
                            ([lv.on_hand for lv in was], "int"), ([lv.reserved for lv in was], "int")) + ") "
                        "AS v(sku, loc, on_hand, reserved, was_on_hand, was_reserved) WHERE s.sku = v.sku AND "
                        "s.location_id = v.loc AND s.on_hand = v.was_on_hand AND s.reserved = v.was_reserved "
                        "RETURNING 1)")
            checks.append(("(SELECT count(*) FROM levels)", len(changed), "stock changed under the batch"))
        if self.shipped:
            sku, loc, quantity, message = map(list, zip(*self.shipped, strict=True))
            ctes.append("ledger AS (INSERT INTO stock_ledger (sku, location_id, kind, quantity, message_id) "
                        "SELECT x.sku, x.loc, 'shipped', -x.q, x.m FROM unnest(" + arrays(
                            (sku, "text"), (loc, "text"), (quantity, "int"), (message, "text")) + ") "
                        "AS x(sku, loc, q, m))")
        if not ctes:
            return
        statement, args = outbox.carried(self.conn, ", ".join(ctes), args,
                                         ", ".join(check for check, _, _ in checks) or "0")
        found = await self.conn.fetchrow(statement, *args)
        assert found is not None
        for n, (_, expected, problem) in enumerate(checks):
            if found[n] != expected:
                raise RuntimeError(problem)


_batch: ContextVar[CommandBatch | None] = ContextVar("inventory_command_batch", default=None)


def _current(conn: asyncpg.Connection) -> CommandBatch | None:
    batch = _batch.get()
    return batch if batch is not None and batch.conn is conn else None


@contextlib.asynccontextmanager
async def command_batch(conn: asyncpg.Connection, skus: set[str], finishing: list[str]) -> AsyncIterator[None]:
    """Reads the open reservations of the orders the batch finishes, then locks every stock row it will touch in
    the (sku, location) order reservations use, so concurrent batches wait for each other instead of deadlocking."""
    lines = [dict(r) for r in await conn.fetch(
        "SELECT r.reservation_id, r.order_id, r.location_id, l.sku, l.quantity FROM reservations r "
        "JOIN reservation_lines l USING (reservation_id) WHERE r.order_id = ANY($1::text[]) AND r.status = 'open' "
        "ORDER BY r.reservation_id, l.sku", finishing)] if finishing else []
    skus = skus | {line["sku"] for line in lines}
    levels = await _lock(conn, skus)
    open_lines: dict[str, list[dict[str, Any]]] = {order_id: [] for order_id in finishing}
    for line in lines:
        open_lines[line["order_id"]].append(line)
    async with rowbatch.current_for(_batch, CommandBatch(conn, skus, levels, dict(levels), open_lines)):
        yield


def leave(conn: asyncpg.Connection, level: Level) -> None:
    """Notes a level this transaction reached, for the batch's later commands and its final write."""
    if (batch := _current(conn)) is not None:
        batch.levels[(level.location_id, level.sku)] = level


async def add_reservation(conn: asyncpg.Connection, reservation_id: str, order_id: str, location_id: str,
                          lines: dict[str, int]) -> None:
    """The reservation, its lines and the reserved counts, in one statement; fails if any line no longer fits.
    In a command batch: checked against the batch's levels, written with the batch."""
    if (batch := _current(conn)) is not None:
        batch.cover(list(lines))
        for sku, quantity in lines.items():
            level = batch.levels.get((location_id, sku))
            if level is None or level.on_hand - level.reserved < quantity:
                raise RuntimeError(f"stock at {location_id} changed under reservation {reservation_id}")
        batch.new[reservation_id] = (order_id, location_id, dict(lines))
        batch.open.setdefault(order_id, []).extend(
            {"reservation_id": reservation_id, "order_id": order_id, "location_id": location_id, "sku": sku,
             "quantity": quantity} for sku, quantity in lines.items())
        return
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


async def lock_open_reservations(conn: asyncpg.Connection, order_id: str,
                                 reservation_id: str | None) -> list[Mapping[str, Any]]:
    """The order's open reservation lines with their stock rows, locked in (sku, location) order like reservations."""
    if (batch := _current(conn)) is not None:
        if order_id not in batch.open:
            raise OutsideBatch(f"the open reservations of {order_id} were not read by the batch")
        lines = [line for line in batch.open[order_id]
                 if reservation_id is None or line["reservation_id"] == reservation_id]
        for line in lines:
            if (line["location_id"], line["sku"]) not in batch.levels:
                raise OutsideBatch(f"{line['sku']} at {line['location_id']} not locked by the batch")
        return sorted(({**line, **vars(batch.levels[(line["location_id"], line["sku"])])} for line in lines),
                      key=lambda row: (row["sku"], row["location_id"]))
    return await conn.fetch(
        "SELECT r.reservation_id, r.location_id, l.sku, l.quantity, s.on_hand, s.reserved, s.inbound "
        "FROM reservations r JOIN reservation_lines l USING (reservation_id) "
        "JOIN stock s ON s.sku = l.sku AND s.location_id = r.location_id "
        "WHERE r.order_id = $1 AND r.status = 'open' AND ($2::text IS NULL OR r.reservation_id = $2) "
        "ORDER BY l.sku, r.location_id FOR UPDATE OF r, s", order_id, reservation_id)


async def finish_reservations(conn: asyncpg.Connection, ids: list[str], status: str,
                              levels: list[tuple[Level, int]], message_id: str) -> None:
    """New levels, the shipped quantities in the ledger and the reservations closed, in one statement (in a command
    batch: with the batch)."""
    if (batch := _current(conn)) is not None:
        for rid in ids:
            batch.closed[rid] = status
        for lines in batch.open.values():
            lines[:] = [line for line in lines if line["reservation_id"] not in batch.closed]
        batch.shipped += [(lv.sku, lv.location_id, shipped, message_id) for lv, shipped in levels if shipped > 0]
        return
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
