"""Inventory's handlers: stock feeds change levels; the saga's commands reserve, release and commit."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg

from contracts import topics
from contracts.base import Message, SkuQuantity, new_id
from contracts.inventory import (
    Allocation,
    StockAdjusted,
    StockCounted,
    StockInboundExpected,
    StockLevelChanged,
    StockLow,
    StockReceived,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from contracts.order import CommitStock, ReleaseStock, ReserveStock
from inventory_service import domain, store
from shared.handling import BoundHandler, transactional
from shared.logging import log
from shared.service import Deps


def level_events(deps: Deps, before: domain.Level, after: domain.Level) -> list[tuple[str, str | None, Message]]:
    events: list[Message] = [StockLevelChanged(
        sku=after.sku, location_id=after.location_id, on_hand=after.on_hand, reserved=after.reserved,
        available=after.available, inbound=after.inbound)]
    reorder_point = deps.network.reorder_point(after.sku)
    if domain.newly_low(before, after, reorder_point):
        events.append(StockLow(sku=after.sku, location_id=after.location_id, available=after.available,
                               reorder_point=reorder_point))
    return [(topics.INVENTORY_EVENTS.name, after.sku, e) for e in events]


async def publish_level(deps: Deps, conn: asyncpg.Connection, before: domain.Level, after: domain.Level) -> None:
    await deps.outbox.add_many(conn, level_events(deps, before, after))


async def change_level(deps: Deps, conn: asyncpg.Connection, msg: StockCounted | StockAdjusted | StockInboundExpected
                       | StockReceived) -> None:
    before = await store.lock_level(conn, msg.sku, msg.location_id)
    match msg:
        case StockCounted():
            after, kind, qty = domain.counted(before, msg.on_hand), "counted", msg.on_hand - before.on_hand
        case StockAdjusted():
            after, kind, qty = domain.adjusted(before, msg.delta), "adjusted", msg.delta
        case StockInboundExpected():
            after, kind, qty = domain.inbound_expected(before, msg.quantity), "", 0
            await store.expect_inbound(conn, msg.sku, msg.location_id, msg.quantity, msg.eta)
        case StockReceived():
            after, kind, qty = domain.received(before, msg.quantity), "received", msg.quantity
    await store.save_level(conn, after)
    if kind:
        await store.record(conn, after, kind, qty, msg.id)
    await publish_level(deps, conn, before, after)
    log.info("stock.level_changed", sku=msg.sku, location_id=msg.location_id, on_hand=after.on_hand)
    if after.available > before.available:
        await serve_backorders(deps, conn, [msg.sku])


async def try_reserve(deps: Deps, conn: asyncpg.Connection, cmd: ReserveStock,
                      levels: dict[tuple[str, str], domain.Level] | None = None) -> StockReserved | None:
    """Allocates and reserves the whole order, or nothing; the rows stay locked until commit."""
    lines: dict[str, int] = {}
    for line in cmd.lines:
        lines[line.sku] = lines.get(line.sku, 0) + line.quantity
    if levels is None:
        levels = await store.lock_skus(conn, list(lines))
    sites = [domain.Site(loc.id, domain.distance_km(loc.lat, loc.lon, cmd.ship_to.country), loc.safety_stock)
             for loc in deps.network.locations if loc.ships and loc.id not in cmd.excluded_locations]
    plan = domain.allocate(lines, {key: level.available for key, level in levels.items()}, sites)
    if plan is None:
        return None
    allocations, events = [], []
    for location_id, part in plan:
        reservation_id = f"res-{new_id()}"
        await store.add_reservation(conn, reservation_id, cmd.order_id, location_id, part)
        allocations.append(Allocation(reservation_id=reservation_id, location_id=location_id,
                                      lines=[SkuQuantity(sku=s, quantity=q) for s, q in part.items()]))
        for sku, qty in part.items():
            before = levels[(location_id, sku)]
            after = replace(before, reserved=before.reserved + qty)
            store.leave(conn, after)
            events += level_events(deps, before, after)
    reply = StockReserved(order_id=cmd.order_id, allocations=allocations)
    await deps.outbox.add_many(conn, [*events, (topics.INVENTORY_REPLIES.name, cmd.order_id, reply)])
    return reply


@transactional
async def reserve_stock(deps: Deps, conn: asyncpg.Connection, cmd: ReserveStock) -> None:
    levels = await store.lock_skus(conn, sorted({line.sku for line in cmd.lines}))
    unknown = sorted({line.sku for line in cmd.lines} - {sku for _, sku in levels})
    if unknown:
        failed = StockReservationFailed(order_id=cmd.order_id, reason="unknown_sku", unknown_skus=unknown)
    elif await try_reserve(deps, conn, cmd, levels) is None:
        failed = StockReservationFailed(order_id=cmd.order_id, reason="insufficient_stock")
        await store.add_backorder(conn, cmd.order_id, cmd.model_dump(mode="json"))
    else:
        log.info("stock.reserved", order_id=cmd.order_id)
        return
    log.info("stock.not_reserved", order_id=cmd.order_id, reason=failed.reason)
    await deps.outbox.add(conn, topics.INVENTORY_REPLIES.name, cmd.order_id, failed)


async def serve_backorders(deps: Deps, conn: asyncpg.Connection, skus: list[str]) -> None:
    """Stock arrived: waiting orders that now fit are reserved, oldest first (try_reserve writes all or nothing)."""
    for row in await store.backorders_for(conn, skus):
        cmd = ReserveStock.model_validate_json(row["command"])
        if await try_reserve(deps, conn, cmd) is not None:
            await store.remove_backorder(conn, cmd.order_id)
            log.info("stock.backorder_reserved", order_id=cmd.order_id)


async def finish(deps: Deps, conn: asyncpg.Connection, order_id: str, reservation_id: str | None,
                 status: str, message_id: str) -> tuple[list[str], set[str]]:
    """Releases (back to available) or commits (shipped: off on-hand) an order's open reservations.

    Alone: two round trips however many lines (lock and read, write everything). In a command batch: none, the
    batch writes once at its end.
    """
    rows = await store.lock_open_reservations(conn, order_id, reservation_id)
    levels: dict[tuple[str, str], tuple[domain.Level, int]] = {}
    for row in rows:
        key = (row["sku"], row["location_id"])
        before, quantity = levels.get(key, (domain.Level(row["sku"], row["location_id"], row["on_hand"],
                                                         row["reserved"], row["inbound"]), 0))
        levels[key] = (before, quantity + row["quantity"])
    changes = []
    for before, quantity in levels.values():
        shipped = quantity if status == "committed" else 0
        changes.append((before, replace(before, on_hand=before.on_hand - shipped, reserved=before.reserved - quantity),
                        shipped))
    ids = sorted({r["reservation_id"] for r in rows})
    await store.finish_reservations(conn, ids, status, [(after, shipped) for _, after, shipped in changes], message_id)
    for _, after, _ in changes:
        store.leave(conn, after)
    await deps.outbox.add_many(conn, [e for before, after, _ in changes for e in level_events(deps, before, after)])
    return ids, {row["sku"] for row in rows}


@transactional
async def release_stock(deps: Deps, conn: asyncpg.Connection, cmd: ReleaseStock) -> None:
    if cmd.reservation_id is None:
        await store.remove_backorder(conn, cmd.order_id)
    ids, skus = await finish(deps, conn, cmd.order_id, cmd.reservation_id, "released", cmd.id)
    await deps.outbox.add(conn, topics.INVENTORY_REPLIES.name, cmd.order_id,
                          StockReleased(order_id=cmd.order_id, reservation_ids=ids))
    if skus:
        await serve_backorders(deps, conn, sorted(skus))


@transactional
async def commit_stock(deps: Deps, conn: asyncpg.Connection, cmd: CommitStock) -> None:
    await finish(deps, conn, cmd.order_id, cmd.reservation_id, "committed", cmd.id)


@contextlib.asynccontextmanager
async def batch(conn: asyncpg.Connection, messages: list[Message]) -> AsyncIterator[None]:
    """Locks a batch's stock rows in the order reservations lock them, so the two never deadlock."""
    await store.lock_skus(conn, sorted({getattr(m, "sku") for m in messages}))  # noqa: B009
    yield


@contextlib.asynccontextmanager
async def command_batch(conn: asyncpg.Connection, messages: list[Message]) -> AsyncIterator[None]:
    """Locks every stock row a batch of commands will touch, in the (sku, location) order reservations use, so
    concurrent batches wait for each other instead of deadlocking."""
    skus = {line.sku for m in messages if isinstance(m, ReserveStock) for line in m.lines}
    finishing = [m.order_id for m in messages if isinstance(m, ReleaseStock | CommitStock)]
    async with store.command_batch(conn, skus, finishing):  # read and locked once; written once at the end
        yield


HANDLERS_ADJUSTMENTS: dict[str, BoundHandler] = {
    name: transactional(change_level) for name in topics.INVENTORY_ADJUSTMENTS.message_types}
HANDLERS_COMMANDS: dict[str, BoundHandler] = {
    "inventory.reserve_stock": reserve_stock, "inventory.release_stock": release_stock,
    "inventory.commit_stock": commit_stock}
