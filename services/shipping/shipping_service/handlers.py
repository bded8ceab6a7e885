"""Shipping handlers: book the best carrier for a packed fulfillment; follow the carrier's tracking."""

from __future__ import annotations

from datetime import timedelta

from contracts import topics
from contracts.base import Address, Window
from contracts.fulfillment import ShipmentProgressed
from contracts.order import BookShipment
from contracts.partners import (
    PickupConfirmed,
    PickupMissed,
    PickupRequested,
    ShipmentBooked,
    ShipmentBookingRequested,
    ShipmentCancelRequested,
    ShipmentTrackingRequested,
    ShipmentUpdate,
)
from rules import pickups
from runtime.consume import Unprocessable
from runtime.deps import Deps
from runtime.logging import log
from runtime.pollers import Tick
from runtime.unit import Handler
from shipping_service import domain
from shipping_service.scorecards import failing
from shipping_service.store import Pickup, Shipment, ShippingWork


def location_address(deps: Deps, location_id: str) -> Address:
    loc = deps.network.location(location_id)
    return Address(name=loc.name, line1=loc.line1 or loc.name, city=loc.city or loc.region,
                   postal_code=loc.postal_code or "00000", country=loc.country)


def book_next(unit: ShippingWork, shipment: Shipment, tried: list[str]) -> None:
    """Books the best carrier not yet tried, or tells the saga that none is left."""
    network = unit.deps.network
    ship_to = shipment.address()
    origin = network.location(shipment.location_id).country
    level = shipment.service_level
    passed_over = [c for c in failing(unit.deps) if c not in tried]  # failing lately: only if no other can
    choice = domain.choose_carrier(network.carriers, origin, ship_to.country, level, tried + passed_over) or \
        domain.choose_carrier(network.carriers, origin, ship_to.country, level, tried)
    if choice is None:
        unit.shipments.set_status(shipment, domain.ShipmentStatus.BOOKING_FAILED, None)
        unit.send(topics.SHIPPING_EVENTS.name, shipment.order_id, ShipmentProgressed(
            order_id=shipment.order_id, shipment_id=shipment.shipment_id, status="booking_failed",
            reason=f"no carrier left for {shipment.service_level} to {ship_to.country} (tried {', '.join(tried)})"))
        log.warning("shipment.no_carrier_left", order_id=shipment.order_id)
        return
    carrier_id, rate, days = choice
    request = ShipmentBookingRequested(
        shipment_id=shipment.shipment_id, order_id=shipment.order_id, carrier_id=carrier_id,
        service_level=shipment.service_level, from_location_id=shipment.location_id,
        ship_from=location_address(unit.deps, shipment.location_id), ship_to=ship_to, parcels=shipment.parcel_list(),
        delivery_window=Window(start=shipment.window_from, end=shipment.deliver_by)
        if shipment.window_from and shipment.deliver_by else None)
    carrier = next(c for c in network.carriers if c.id == carrier_id)
    unit.shipments.booking_sent(shipment, carrier_id, carrier.answer_within_s, unit.now())
    unit.send(topics.CARRIER_REQUESTS.for_partner(carrier_id), shipment.order_id, request)
    log.info("shipment.booking_requested", order_id=shipment.order_id, carrier_id=carrier_id, rate=str(rate),
             days=days)


async def book_shipment(cmd: BookShipment, unit: ShippingWork) -> None:
    shipment = unit.shipments.add_shipment(cmd)
    if shipment is not None and cmd.carrier_id and cmd.tracking_number:
        follow(unit, shipment, cmd.carrier_id, cmd.tracking_number)
        return
    if shipment is not None:
        book_next(unit, shipment, list(cmd.excluded_carriers))
        return
    existing = await unit.shipments.get(cmd.shipment_id)
    if existing is not None and existing.status == domain.ShipmentStatus.BOOKING_FAILED:  # a released no_carrier hold
        restarted = unit.shipments.restart_booking(cmd.shipment_id, list(cmd.excluded_carriers))
        book_next(unit, restarted, list(cmd.excluded_carriers))


def follow(unit: ShippingWork, shipment: Shipment, carrier_id: str, tracking_number: str) -> None:
    """A shipment its sender handed to a carrier it booked itself (a drop-ship supplier): it has left (the order is
    `shipped`), and the carrier is asked to report its tracking as for the OMS's own."""
    unit.shipments.followed(shipment, carrier_id, tracking_number)
    unit.send(topics.CARRIER_REQUESTS.for_partner(carrier_id), shipment.order_id, ShipmentTrackingRequested(
        shipment_id=shipment.shipment_id, order_id=shipment.order_id, tracking_number=tracking_number))
    unit.send(topics.SHIPPING_EVENTS.name, shipment.order_id, ShipmentProgressed(
        order_id=shipment.order_id, shipment_id=shipment.shipment_id, carrier_id=carrier_id,
        tracking_number=tracking_number, status=domain.ShipmentStatus.PICKED_UP))
    log.info("shipment.followed", order_id=shipment.order_id, carrier_id=carrier_id)


def carrier_update(carrier_id: str) -> Handler[ShippingWork]:
    """The handler of one carrier's updates topic: answers from a carrier the shipment has left change nothing."""

    async def update_from_carrier(update: ShipmentUpdate, unit: ShippingWork) -> None:
        shipment = await unit.shipments.get(update.shipment_id)
        if shipment is None:
            raise Unprocessable(f"no shipment {update.shipment_id}")
        if shipment.carrier_id != carrier_id:
            if carrier_id not in shipment.tried_carriers:
                log.warning("shipment.update_from_another_carrier", order_id=shipment.order_id, sender=carrier_id)
                raise Unprocessable(f"shipment {update.shipment_id} was never handed to {carrier_id}: its update "
                                    "changes nothing")
            log.info("shipment.update_from_former_carrier_ignored", order_id=shipment.order_id, carrier_id=carrier_id)
            return
        status = domain.UPDATE_STATUS[update.type]
        if status == domain.ShipmentStatus.BOOKING_FAILED:
            if shipment.status == domain.ShipmentStatus.BOOKING:
                book_next(unit, shipment, list(shipment.tried_carriers))
            return
        if status != domain.ShipmentStatus.EXCEPTION and not domain.moves_on(shipment.status, status):
            return
        booked = update if isinstance(update, ShipmentBooked) else None
        before = shipment.status
        if status == domain.ShipmentStatus.EXCEPTION:
            unit.shipments.exception(shipment)
        else:
            unit.shipments.set_status(shipment, status, booked.tracking_number if booked else None, unit.now(),
                                      booked.estimated_delivery if booked else None)
        if not domain.tells_the_order(before, status):
            log.info("shipment.progressed", order_id=shipment.order_id, status=status)
            return
        unit.send(topics.SHIPPING_EVENTS.name, shipment.order_id, ShipmentProgressed(
            order_id=shipment.order_id, shipment_id=update.shipment_id, carrier_id=carrier_id,
            tracking_number=shipment.tracking_number, status=status, reason=getattr(update, "reason", None),
            estimated_delivery=shipment.estimated_delivery))
        log.info("shipment.progressed", order_id=shipment.order_id, status=status)

    return update_from_carrier


async def expire(tick: Tick, unit: ShippingWork) -> None:
    """A carrier that did not answer a booking in time is told to cancel; the next one is asked."""
    shipments = await unit.shipments.expired(tick.limit)
    for shipment in shipments:
        assert shipment.carrier_id is not None  # a booking waiting for an answer was sent to a carrier
        unit.send(topics.CARRIER_REQUESTS.for_partner(shipment.carrier_id), shipment.order_id,
                  ShipmentCancelRequested(shipment_id=shipment.shipment_id, order_id=shipment.order_id,
                                          reason="no answer in time"))
        log.warning("shipment.carrier_silent", order_id=shipment.order_id, carrier_id=shipment.carrier_id)
        book_next(unit, shipment, list(shipment.tried_carriers))


async def request_pickups(tick: Tick, unit: ShippingWork) -> None:
    """Each carrier pickup due within `OMS_PICKUP_LEAD_S` is asked for once, with its manifest: the shipments booked
    at that location with that carrier since the pickup before (none: not asked for yet, looked at again)."""
    lead = timedelta(seconds=unit.deps.settings.pickup_lead_s)
    for location in unit.deps.network.locations:
        for schedule in location.pickups:
            at = pickups.next_pickup(location, schedule, tick.at)
            if at is None or at - tick.at > lead:
                continue
            pickup_id = pickups.pickup_id(location.id, schedule.carrier, at)
            if await unit.pickups.get(pickup_id) is not None:
                continue
            manifest = await unit.shipments.awaiting_pickup(location.id, schedule.carrier, tick.limit)
            if not manifest:
                continue
            parcels = [parcel for shipment in manifest for parcel in shipment.parcel_list()]
            request = PickupRequested(pickup_id=pickup_id, location_id=location.id, carrier_id=schedule.carrier, at=at,
                                      shipment_ids=[s.shipment_id for s in manifest], parcels=len(parcels),
                                      weight_grams=sum(p.weight_grams for p in parcels))
            unit.pickups.add(Pickup(pickup_id, location.id, schedule.carrier, at, "requested", request.shipment_ids,
                                    request.parcels, request.weight_grams))
            for shipment in manifest:
                unit.shipments.save(shipment.shipment_id, pickup_id=pickup_id)
            unit.send(topics.CARRIER_REQUESTS.for_partner(schedule.carrier), pickup_id, request)
            log.info("pickup.requested", location_id=location.id, carrier_id=schedule.carrier,
                     shipments=len(manifest))


def pickup_answer(carrier_id: str) -> Handler[ShippingWork]:
    """A carrier's answer to a pickup: confirmed; or missed, and what it had not collected waits for its next pickup
    (the saga told when that is, to re-check the shipment's promise)."""
    async def answered(answer: PickupConfirmed | PickupMissed, unit: ShippingWork) -> None:
        pickup = await unit.pickups.get(answer.pickup_id)
        if pickup is None or pickup.carrier_id != carrier_id:
            raise Unprocessable(f"{carrier_id} was asked for no pickup {answer.pickup_id}")
        if pickup.status != "requested":
            return  # answered before
        missed = isinstance(answer, PickupMissed)
        unit.pickups.save(answer.pickup_id, status="missed" if missed else "confirmed")
        log.log(30 if missed else 20, "pickup.missed" if missed else "pickup.confirmed",
                location_id=pickup.location_id, carrier_id=carrier_id)
        if not isinstance(answer, PickupMissed):
            return
        location = unit.deps.network.location(pickup.location_id)
        schedule = next((s for s in location.pickups if s.carrier == carrier_id), None)
        after = max(pickup.at, unit.now())
        later = pickups.next_pickup(location, schedule, after) if schedule else None
        await unit.shipments.load_keys(pickup.shipment_ids)
        for shipment_id in pickup.shipment_ids:
            shipment = unit.shipments.cached(shipment_id)
            if shipment is None or shipment.status != domain.ShipmentStatus.BOOKED:
                continue  # collected after all
            unit.shipments.save(shipment_id, pickup_id=None)
            unit.send(topics.SHIPPING_EVENTS.name, shipment.order_id, ShipmentProgressed(
                order_id=shipment.order_id, shipment_id=shipment_id, carrier_id=carrier_id, status="pickup_missed",
                reason=answer.reason or f"{carrier_id} missed its pickup at {location.id}", next_pickup_at=later))
    return answered


COMMANDS: dict[str, Handler[ShippingWork]] = {"shipping.book_shipment": book_shipment}
PICKUP_ANSWERS = ("pickup.confirmed", "pickup.missed")


def updates_from(carrier_id: str) -> dict[str, Handler[ShippingWork]]:
    handler, answers = carrier_update(carrier_id), pickup_answer(carrier_id)
    return {kind: answers if kind in PICKUP_ANSWERS else handler for kind in topics.CARRIER_UPDATES.message_types}
