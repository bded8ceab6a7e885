"""Shipping handlers: book the best carrier for a packed fulfillment; follow the carrier's tracking."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import orjson

from contracts import topics
from contracts.base import Address, Message
from contracts.fulfillment import ShipmentProgressed
from contracts.order import BookShipment
from contracts.partners import (
    Parcel,
    ShipmentBooked,
    ShipmentBookingRequested,
    ShipmentCancelRequested,
    ShipmentUpdate,
)
from shared import deadlines
from shared.consume import Unprocessable
from shared.handling import BoundHandler, transactional
from shared.logging import log
from shared.service import Deps
from shipping_service import domain, store


def location_address(deps: Deps, location_id: str) -> Address:
    loc = deps.network.location(location_id)
    return Address(name=loc.name, line1=loc.line1 or loc.name, city=loc.city or loc.region,
                   postal_code=loc.postal_code or "00000", country=loc.country)


async def book_next(deps: Deps, conn: asyncpg.Connection, shipment: Mapping[str, Any], tried: list[str]) -> None:
    """Books the best carrier not yet tried, or tells the saga that none is left."""
    ship_to = Address.model_validate_json(shipment["ship_to"])
    origin = deps.network.location(shipment["location_id"]).country
    choice = domain.choose_carrier(deps.network.carriers, origin, ship_to.country, shipment["service_level"], tried)
    if choice is None:
        await store.set_status(conn, shipment["shipment_id"], domain.ShipmentStatus.BOOKING_FAILED, None)
        await deps.outbox.add(conn, topics.SHIPPING_EVENTS.name, shipment["order_id"], ShipmentProgressed(
            order_id=shipment["order_id"], shipment_id=shipment["shipment_id"], status="booking_failed",
            reason=f"no carrier left for {shipment['service_level']} to {ship_to.country} (tried {', '.join(tried)})"))
        log.warning("shipment.no_carrier_left", order_id=shipment["order_id"])
        return
    carrier_id, rate, days = choice
    request = ShipmentBookingRequested(
        shipment_id=shipment["shipment_id"], order_id=shipment["order_id"], carrier_id=carrier_id,
        service_level=shipment["service_level"], from_location_id=shipment["location_id"],
        ship_from=location_address(deps, shipment["location_id"]), ship_to=ship_to,
        parcels=[Parcel.model_validate(p) for p in orjson.loads(shipment["parcels"])])
    carrier = next(c for c in deps.network.carriers if c.id == carrier_id)
    await store.booking_sent(conn, shipment["shipment_id"], carrier_id, carrier.answer_within_s, deps.clock.now())
    await deps.outbox.add(conn, topics.CARRIER_REQUESTS.for_partner(carrier_id), shipment["order_id"], request)
    log.info("shipment.booking_requested", order_id=shipment["order_id"], carrier_id=carrier_id, rate=str(rate),
             days=days)


@transactional
async def book_shipment(deps: Deps, conn: asyncpg.Connection, cmd: BookShipment) -> None:
    shipment = store.new_shipment(cmd)
    if await store.insert(conn, shipment):
        await book_next(deps, conn, shipment, list(cmd.excluded_carriers))
        return
    existing = await store.lock(conn, cmd.shipment_id)
    if existing is not None and existing["status"] == domain.ShipmentStatus.BOOKING_FAILED:  # a released no_carrier hold
        await store.restart_booking(conn, cmd.shipment_id, list(cmd.excluded_carriers))
        restarted = await store.lock(conn, cmd.shipment_id)
        assert restarted is not None
        await book_next(deps, conn, restarted, list(cmd.excluded_carriers))


def carrier_update(carrier_id: str) -> BoundHandler:
    """The handler of one carrier's updates topic: answers from a carrier the shipment has left change nothing."""

    @transactional
    async def update_from_carrier(deps: Deps, conn: asyncpg.Connection, update: ShipmentUpdate) -> None:
        shipment = await store.lock(conn, update.shipment_id)
        if shipment is None:
            raise Unprocessable(f"no shipment {update.shipment_id}")
        if shipment["carrier_id"] != carrier_id:
            log.info("shipment.update_from_former_carrier_ignored", order_id=shipment["order_id"], carrier_id=carrier_id)
            return
        status = domain.UPDATE_STATUS[update.type]
        if status == domain.ShipmentStatus.BOOKING_FAILED:
            if shipment["status"] == "booking":
                await book_next(deps, conn, shipment, list(shipment["tried_carriers"]))
            return
        if status != "exception" and not domain.moves_on(shipment["status"], status):
            return
        tracking = update.tracking_number if isinstance(update, ShipmentBooked) else None
        if status != "exception":
            await store.set_status(conn, update.shipment_id, status, tracking)
        await deps.outbox.add(conn, topics.SHIPPING_EVENTS.name, shipment["order_id"], ShipmentProgressed(
            order_id=shipment["order_id"], shipment_id=update.shipment_id, carrier_id=carrier_id,
            tracking_number=tracking or shipment["tracking_number"], status=status,
            reason=getattr(update, "reason", None)))
        log.info("shipment.progressed", order_id=shipment["order_id"], status=status)

    return update_from_carrier


async def expire_silent_carriers(deps: Deps) -> None:
    """The deadline poller: a carrier that did not answer a booking in time is told to cancel; the next one is asked.
    The clock stands still while the broker is away (`shared.deadlines`)."""

    async def expire(conn: asyncpg.Connection) -> int:
        shipments = await store.claim_expired(conn, 100)
        async with store.batch(conn, [s["shipment_id"] for s in shipments]):
            for shipment in shipments:
                await deps.outbox.add(conn, topics.CARRIER_REQUESTS.for_partner(shipment["carrier_id"]),
                                      shipment["order_id"], ShipmentCancelRequested(
                                          shipment_id=shipment["shipment_id"], order_id=shipment["order_id"],
                                          reason="no answer in time"))
                log.warning("shipment.carrier_silent", order_id=shipment["order_id"], carrier_id=shipment["carrier_id"])
                await book_next(deps, conn, shipment, list(shipment["tried_carriers"]))
        return len(shipments)

    await deadlines.every_second_unless_paused(deps.pool, deps.settings.kafka_bootstrap, deps.service,
                                               [("shipments", "deadline_at")], expire, "shipment.deadlines")


def batch(conn: asyncpg.Connection, messages: list[Message]) -> AbstractAsyncContextManager[object]:
    """A batch's shipments, locked in id order (so two batches never deadlock), read and written once."""
    return store.batch(conn, [getattr(m, "shipment_id") for m in messages])  # noqa: B009 - every message names one


COMMANDS: dict[str, BoundHandler] = {"shipping.book_shipment": book_shipment}


def updates_from(carrier_id: str) -> dict[str, BoundHandler]:
    handler = carrier_update(carrier_id)
    return {kind: handler for kind in topics.CARRIER_UPDATES.message_types}
