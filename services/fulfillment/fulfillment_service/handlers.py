"""Fulfillment handlers: hand a reservation to its warehouse; turn the warehouse's updates into progress."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import asyncpg

from contracts import topics
from contracts.base import Message
from contracts.fulfillment import FulfillmentProgressed
from contracts.order import CancelFulfillment, RequestFulfillment
from contracts.partners import (
    FulfillmentCancelRequested,
    FulfillmentPacked,
    FulfillmentRejected,
    FulfillmentRequested,
    FulfillmentUpdate,
)
from fulfillment_service import domain, store
from shared import deadlines
from shared.consume import Unprocessable
from shared.handling import BoundHandler, transactional
from shared.logging import log
from shared.service import Deps

SHIP_WITHIN = {"express": timedelta(hours=4), "standard": timedelta(days=1)}


@transactional
async def request_fulfillment(deps: Deps, conn: asyncpg.Connection, cmd: RequestFulfillment) -> None:
    now = deps.clock.now()
    location = deps.network.location(cmd.location_id)
    invoice = domain.invoice(cmd.fulfillment_id, cmd.currency, cmd.lines, cmd.unit_prices)
    ship_by = now + SHIP_WITHIN.get(cmd.service_level, SHIP_WITHIN["standard"])
    deadline = now + timedelta(seconds=location.accept_within_s)
    if not await store.insert(conn, cmd.fulfillment_id, cmd.order_id, cmd.location_id, cmd.lines, invoice, ship_by,
                              deadline):
        return
    request = FulfillmentRequested(
        fulfillment_id=cmd.fulfillment_id, order_id=cmd.order_id, location_id=cmd.location_id, lines=cmd.lines,
        ship_to=cmd.ship_to, service_level=cmd.service_level, ship_by=ship_by, invoice=invoice)
    await deps.outbox.add(conn, topics.WAREHOUSE_REQUESTS.for_partner(cmd.location_id), cmd.order_id, request)
    log.info("fulfillment.requested", order_id=cmd.order_id, location_id=cmd.location_id)


@transactional
async def cancel_fulfillment(deps: Deps, conn: asyncpg.Connection, cmd: CancelFulfillment) -> None:
    row = await store.lock(conn, cmd.fulfillment_id)
    if row is None or row["status"] in domain.FINAL:
        return
    await cancel_at_warehouse(deps, conn, row, cmd.reason or "cancelled by the customer")


async def cancel_at_warehouse(deps: Deps, conn: asyncpg.Connection, row: Mapping[str, Any], reason: str) -> None:
    request = FulfillmentCancelRequested(fulfillment_id=row["fulfillment_id"], order_id=row["order_id"], reason=reason)
    await deps.outbox.add(conn, topics.WAREHOUSE_REQUESTS.for_partner(row["location_id"]), row["order_id"], request)


@transactional
async def warehouse_update(deps: Deps, conn: asyncpg.Connection, update: FulfillmentUpdate) -> None:
    row = await store.lock(conn, update.fulfillment_id)
    if row is None:
        raise Unprocessable(f"no fulfillment {update.fulfillment_id}")
    outcome = domain.apply_update(row["status"], row["qc_failures"], domain.UPDATE_STATUS[update.type])
    if outcome.report is None:
        log.info("fulfillment.update_ignored", order_id=row["order_id"], update=update.type, current=row["status"])
        return
    await store.set_status(conn, update.fulfillment_id, outcome.status or row["status"], outcome.qc_failures)
    if outcome.cancel_at_warehouse:
        await cancel_at_warehouse(deps, conn, row, outcome.reason or "given up")
    progressed = FulfillmentProgressed(
        order_id=row["order_id"], fulfillment_id=update.fulfillment_id, location_id=row["location_id"],
        status=outcome.report, reason=outcome.reason or getattr(update, "reason", None),
        short_lines=(update.short_lines or []) if isinstance(update, FulfillmentRejected) else [],
        parcels=update.parcels if isinstance(update, FulfillmentPacked) else [])
    await deps.outbox.add(conn, topics.FULFILLMENT_EVENTS.name, row["order_id"], progressed)
    log.info("fulfillment.progressed", order_id=row["order_id"], status=outcome.report)


async def expire_silent_warehouses(deps: Deps) -> None:
    """The deadline poller: a warehouse that did not accept in time is told to cancel, and the saga reroutes. The
    clock stands still while the broker is away (`shared.deadlines`)."""

    async def expire(conn: asyncpg.Connection) -> int:
        rows = await store.claim_expired(conn, 100)
        async with store.batch(conn, [row["fulfillment_id"] for row in rows]):
            for row in rows:
                await store.set_status(conn, row["fulfillment_id"], domain.FulfillmentStatus.TIMED_OUT,
                                       row["qc_failures"])
                await cancel_at_warehouse(deps, conn, row, "not accepted in time")
                await deps.outbox.add(conn, topics.FULFILLMENT_EVENTS.name, row["order_id"], FulfillmentProgressed(
                    order_id=row["order_id"], fulfillment_id=row["fulfillment_id"], location_id=row["location_id"],
                    status="timed_out", reason="the warehouse did not accept in time"))
                log.warning("fulfillment.timed_out", order_id=row["order_id"], location_id=row["location_id"])
        return len(rows)

    await deadlines.every_second_unless_paused(deps.pool, deps.settings.kafka_bootstrap, deps.service,
                                               [("fulfillments", "deadline_at")], expire, "fulfillment.deadlines")


def batch(conn: asyncpg.Connection, messages: list[Message]) -> AbstractAsyncContextManager[object]:
    """A batch's fulfillments, locked in id order (so two batches never deadlock), read and written once."""
    return store.batch(conn, [getattr(m, "fulfillment_id") for m in messages])  # noqa: B009 - every message names one


COMMANDS: dict[str, BoundHandler] = {
    "fulfillment.request_fulfillment": request_fulfillment, "fulfillment.cancel_fulfillment": cancel_fulfillment}
UPDATES: dict[str, BoundHandler] = {kind: warehouse_update for kind in topics.WAREHOUSE_UPDATES.message_types}
