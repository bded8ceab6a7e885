"""Fulfillment handlers: hand a reservation to its warehouse or store (to a drop-ship supplier as a purchase order);
turn their updates into progress."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from contracts import topics
from contracts.base import SkuQuantity, minus, quantities
from contracts.fulfillment import FulfillmentProgressed, RequestTransfer, ReturnArrived, TransferProgressed
from contracts.inventory import StockAdjusted
from contracts.order import CancelFulfillment, ChangeFulfillment, ExpectReturn, RequestFulfillment, SetLocationPaused
from contracts.partners import (
    FulfillmentCancelled,
    FulfillmentCancelRequested,
    FulfillmentChanged,
    FulfillmentPacked,
    FulfillmentRejected,
    FulfillmentRequested,
    FulfillmentUpdate,
    LocationPaused,
    LocationResumed,
    PurchaseOrderAcknowledged,
    PurchaseOrderCancelled,
    PurchaseOrderChanged,
    PurchaseOrderRejected,
    PurchaseOrderShipped,
    ReturnExpected,
    ReturnReceived,
    TransferExpected,
    TransferReceived,
    TransferRequested,
    TransferShipped,
)
from fulfillment_service import domain
from fulfillment_service.store import Fulfillment, FulfillmentWork, Return, Transfer
from runtime.consume import Unprocessable
from runtime.logging import log
from runtime.pollers import Tick
from runtime.unit import Handler

H = TypeVar("H", Fulfillment, Return)  # what was handed to a location
SHIP_WITHIN = {"express": timedelta(hours=4), "standard": timedelta(days=1)}


async def request_fulfillment(cmd: RequestFulfillment, unit: FulfillmentWork) -> None:
    now = unit.now()
    location = unit.deps.network.location(cmd.location_id)
    invoice = domain.invoice(cmd.fulfillment_id, cmd.currency, cmd.lines, cmd.unit_prices, cmd.paid)
    ship_by = cmd.ship_by or now + SHIP_WITHIN.get(cmd.service_level, SHIP_WITHIN["standard"])
    # a collection arrived by carrier: the store has nothing to accept or refuse, only to hand over
    deadline = None if cmd.collection else now + timedelta(seconds=location.accept_within_s)
    if not unit.fulfillments.add_fulfillment(cmd.fulfillment_id, cmd.order_id, cmd.location_id, cmd.lines, invoice,
                                            ship_by, deadline):
        return
    if location.supplier:
        unit.send(topics.SUPPLIER_REQUESTS.for_partner(cmd.location_id), cmd.order_id, domain.purchase_order(
            cmd.fulfillment_id, cmd.order_id, location, cmd.lines, cmd.unit_prices, cmd.currency, cmd.ship_to,
            cmd.service_level, ship_by, cmd.shipment_id))
        log.info("purchase_order.requested", order_id=cmd.order_id, location_id=cmd.location_id)
        return
    request = FulfillmentRequested(
        fulfillment_id=cmd.fulfillment_id, order_id=cmd.order_id, location_id=cmd.location_id, lines=cmd.lines,
        ship_to=cmd.ship_to, service_level=cmd.service_level, ship_by=ship_by, invoice=invoice, pickup=cmd.pickup)
    unit.send(topics.WAREHOUSE_REQUESTS.for_partner(cmd.location_id), cmd.order_id, request)
    log.info("fulfillment.requested", order_id=cmd.order_id, location_id=cmd.location_id)


async def cancel_fulfillment(cmd: CancelFulfillment, unit: FulfillmentWork) -> None:
    row = await unit.fulfillments.get(cmd.fulfillment_id)
    if row is None or row.status in domain.FINAL:
        return
    reason = cmd.reason or "cancelled by the customer"
    if unit.deps.network.location(row.location_id).supplier:
        withdraw_purchase_order(unit, row, reason, cmd.lines)
        return
    cancel_at_warehouse(unit, row, reason, cmd.lines)


def withdraw_purchase_order(unit: FulfillmentWork, row: Fulfillment, reason: str,
                            lines: list[SkuQuantity] | None) -> None:
    """A purchase order is the buyer's to withdraw until the supplier ships it, whole: the OMS answers for it."""
    shipped = row.status == domain.FulfillmentStatus.PACKED
    if shipped or (lines and minus(row.line_list(), lines)):
        unit.send(topics.FULFILLMENT_EVENTS.name, row.order_id, FulfillmentProgressed(
            order_id=row.order_id, fulfillment_id=row.fulfillment_id, location_id=row.location_id,
            status="cancel_refused", reason=f"{row.location_id} already shipped it" if shipped else
            "a drop-ship purchase order is withdrawn whole, not in part"))
        return
    unit.fulfillments.set_status(row, domain.FulfillmentStatus.CANCELLED, row.qc_failures, unit.now())
    cancel_at_warehouse(unit, row, reason)
    unit.send(topics.FULFILLMENT_EVENTS.name, row.order_id, FulfillmentProgressed(
        order_id=row.order_id, fulfillment_id=row.fulfillment_id, location_id=row.location_id, status="cancelled",
        reason=reason))
    log.info("purchase_order.withdrawn", order_id=row.order_id, location_id=row.location_id)


def cancel_at_warehouse(unit: FulfillmentWork, row: Fulfillment, reason: str,
                        lines: list[SkuQuantity] | None = None) -> None:
    if unit.deps.network.location(row.location_id).supplier:  # told; it has nothing to answer
        unit.send(topics.SUPPLIER_REQUESTS.for_partner(row.location_id), row.order_id, PurchaseOrderCancelled(
            po_id=domain.po_id(row.fulfillment_id), order_id=row.order_id, reason=reason))
        return
    request = FulfillmentCancelRequested(fulfillment_id=row.fulfillment_id, order_id=row.order_id, reason=reason,
                                         lines=lines)
    unit.send(topics.WAREHOUSE_REQUESTS.for_partner(row.location_id), row.order_id, request)


async def change_fulfillment(cmd: ChangeFulfillment, unit: FulfillmentWork) -> None:
    """The warehouse ships to the new address, at the new speed."""
    row = await unit.fulfillments.get(cmd.fulfillment_id)
    if row is None or row.status in domain.FINAL:
        return
    if unit.deps.network.location(row.location_id).supplier:
        unit.send(topics.SUPPLIER_REQUESTS.for_partner(row.location_id), row.order_id, PurchaseOrderChanged(
            po_id=domain.po_id(row.fulfillment_id), order_id=row.order_id, ship_to=cmd.ship_to,
            service_level=cmd.service_level))
        log.info("purchase_order.changed", order_id=cmd.order_id, location_id=row.location_id)
        return
    unit.send(topics.WAREHOUSE_REQUESTS.for_partner(row.location_id), row.order_id, FulfillmentChanged(
        fulfillment_id=cmd.fulfillment_id, order_id=cmd.order_id, ship_to=cmd.ship_to,
        service_level=cmd.service_level))
    log.info("fulfillment.changed", order_id=cmd.order_id, location_id=row.location_id)


def lines_cancelled(unit: FulfillmentWork, row: Fulfillment, update: FulfillmentCancelled) -> bool:
    """A partial cancel confirmed: what is left (and its invoice) kept, the saga told; False when the lines the
    warehouse names leave nothing (the whole fulfillment is cancelled then)."""
    cancelled = update.lines or []
    kept = minus(row.line_list(), cancelled)
    if not kept:
        return False
    before = row.invoice_model()
    prices = {line.sku: line.unit_price for line in before.lines} if before else {}
    unit.fulfillments.reduce(update.fulfillment_id, kept, domain.invoice(
        update.fulfillment_id, before.currency if before else "EUR", kept, prices, before.lines if before else None))
    unit.send(topics.FULFILLMENT_EVENTS.name, row.order_id, FulfillmentProgressed(
        order_id=row.order_id, fulfillment_id=update.fulfillment_id, location_id=row.location_id,
        status="lines_cancelled", lines=cancelled))
    log.info("fulfillment.lines_cancelled", order_id=row.order_id, location_id=row.location_id)
    return True


def short_picked(unit: FulfillmentWork, row: Fulfillment, short: list[SkuQuantity]) -> None:
    """A location that could not find units it was asked for has fewer than inventory thinks: its stock is
    corrected (`stock.adjusted`, reason `short_pick`, at most what was asked of it), so the shortfall is not
    allocated there again."""
    asked = quantities(row.line_list())
    for sku, missing in sorted(quantities(short).items()):
        if (n := min(missing, asked.get(sku, 0))) > 0:
            unit.send(topics.INVENTORY_ADJUSTMENTS.name, sku, StockAdjusted(
                sku=sku, location_id=row.location_id, delta=-n, reason="short_pick"))
            log.warning("stock.short_pick", order_id=row.order_id, location_id=row.location_id, sku=sku,
                        units=n)


async def expect_return(cmd: ExpectReturn, unit: FulfillmentWork) -> None:
    if not unit.returns.add_return(cmd.return_id, cmd.order_id, cmd.location_id, cmd.lines):
        return
    expected = ReturnExpected(return_id=cmd.return_id, order_id=cmd.order_id, lines=cmd.lines, reason=cmd.reason)
    unit.send(topics.WAREHOUSE_REQUESTS.for_partner(cmd.location_id), cmd.order_id, expected)
    log.info("return.expected", order_id=cmd.order_id, location_id=cmd.location_id)


async def request_transfer(cmd: RequestTransfer, unit: FulfillmentWork) -> None:
    """Inventory holds the units back; the source location is asked to send them."""
    if not unit.transfers.add(Transfer(transfer_id=cmd.transfer_id, sku=cmd.sku, quantity=cmd.quantity,
                                       from_location_id=cmd.from_location_id, to_location_id=cmd.to_location_id,
                                       status="requested")):
        return
    unit.send(topics.WAREHOUSE_REQUESTS.for_partner(cmd.from_location_id), cmd.transfer_id, TransferRequested(
        transfer_id=cmd.transfer_id, sku=cmd.sku, quantity=cmd.quantity, to_location_id=cmd.to_location_id))
    log.info("transfer.requested", transfer_id=cmd.transfer_id, location_id=cmd.from_location_id)


def updates_from(location_id: str, supplier: bool = False) -> dict[str, Handler[FulfillmentWork]]:
    """The handlers of one location's updates topic (a drop-ship supplier's: its answers to purchase orders): a
    location speaks only for what was handed to it."""

    def ours(row: H | None, what: str, handed: str, event: str) -> H:
        """The row `what` names, if it was `handed` to this location; otherwise the message changes nothing."""
        if row is None:
            raise Unprocessable(f"no {what}")
        if row.location_id != location_id:
            log.warning(event, order_id=row.order_id, sender=location_id)
            raise Unprocessable(f"{what} was {handed} {row.location_id}, not to {location_id}: it changes nothing")
        return row

    async def warehouse_update(update: FulfillmentUpdate, unit: FulfillmentWork) -> None:
        row = ours(await unit.fulfillments.get(update.fulfillment_id), f"fulfillment {update.fulfillment_id}",
                   "handed to", "fulfillment.update_from_another_location")
        if isinstance(update, FulfillmentCancelled) and update.lines and row.status not in domain.FINAL and \
                lines_cancelled(unit, row, update):
            return
        outcome = domain.apply_update(row.status, row.qc_failures, domain.UPDATE_STATUS[update.type])
        if outcome.report is None:
            log.info("fulfillment.update_ignored", order_id=row.order_id, update=update.type, current=row.status)
            return
        before = row.status
        unit.fulfillments.set_status(row, outcome.status or row.status, outcome.qc_failures, unit.now())
        if outcome.cancel_at_warehouse:
            cancel_at_warehouse(unit, row, outcome.reason or "given up")
        if not domain.tells_the_order(before, outcome.report):
            log.info("fulfillment.progressed", order_id=row.order_id, status=outcome.report)
            return
        progressed = FulfillmentProgressed(
            order_id=row.order_id, fulfillment_id=update.fulfillment_id, location_id=row.location_id,
            status=outcome.report, reason=outcome.reason or getattr(update, "reason", None),
            short_lines=(update.short_lines or []) if isinstance(update, FulfillmentRejected) else [],
            parcels=update.parcels if isinstance(update, FulfillmentPacked) else [])
        unit.send(topics.FULFILLMENT_EVENTS.name, row.order_id, progressed)
        if outcome.report == "rejected" and isinstance(update, FulfillmentRejected) and update.short_lines:
            short_picked(unit, row, update.short_lines)
        log.info("fulfillment.progressed", order_id=row.order_id, status=outcome.report)

    async def return_received(update: ReturnReceived, unit: FulfillmentWork) -> None:
        row = ours(await unit.returns.get(update.return_id), f"return {update.return_id}", "sent to",
                   "return.received_by_another_location")
        if row.status == "received":
            log.info("return.duplicate_receipt", order_id=row.order_id)
            return
        unit.returns.received(update.return_id, update.lines)
        unit.send(topics.FULFILLMENT_EVENTS.name, row.order_id, ReturnArrived(
            order_id=row.order_id, return_id=update.return_id, location_id=location_id, lines=update.lines))
        log.info("return.received", order_id=row.order_id, location_id=location_id)

    async def paused_or_resumed(update: LocationPaused | LocationResumed, unit: FulfillmentWork) -> None:
        """A location pauses or resumes itself (or an operator for it): allocation is told."""
        if update.location_id != location_id:
            log.warning("location.paused_by_another", sender=location_id, named=update.location_id)
            raise Unprocessable(f"{location_id} cannot pause or resume {update.location_id}: it changes nothing")
        paused = isinstance(update, LocationPaused)
        unit.send(topics.INVENTORY_COMMANDS.name, location_id, SetLocationPaused(
            location_id=location_id, paused=paused, reason=update.reason))
        log.warning("location.paused" if paused else "location.resumed", location_id=location_id)

    async def transfer_update(update: TransferShipped | TransferReceived, unit: FulfillmentWork) -> None:
        """The source says what left (the destination is told what is coming), the destination what arrived: each
        only for its own side of a transfer, once."""
        row = await unit.transfers.get(update.transfer_id)
        if row is None:
            raise Unprocessable(f"no transfer {update.transfer_id}")
        shipped = isinstance(update, TransferShipped)
        side = row.from_location_id if shipped else row.to_location_id
        if side != location_id:
            log.warning("transfer.update_from_another_location", transfer_id=update.transfer_id, sender=location_id)
            raise Unprocessable(f"transfer {update.transfer_id} is {'from' if shipped else 'to'} {side}, not "
                                f"{location_id}: it changes nothing")
        if row.status != ("requested" if shipped else "shipped"):
            log.info("transfer.update_ignored", transfer_id=update.transfer_id, status=row.status)
            return
        unit.transfers.save(update.transfer_id, status="shipped" if shipped else "received")
        unit.send(topics.INVENTORY_COMMANDS.name, update.transfer_id, TransferProgressed(
            transfer_id=update.transfer_id, status="shipped" if shipped else "received", quantity=update.quantity,
            eta=update.eta if isinstance(update, TransferShipped) else None))
        if isinstance(update, TransferShipped) and update.quantity:
            unit.send(topics.WAREHOUSE_REQUESTS.for_partner(row.to_location_id), update.transfer_id,
                      TransferExpected(transfer_id=update.transfer_id, sku=row.sku, quantity=update.quantity,
                                       from_location_id=location_id, eta=update.eta))
        log.info("transfer.progressed", transfer_id=update.transfer_id, update=update.type, sender=location_id)

    async def purchase_order_answered(update: PurchaseOrderAcknowledged | PurchaseOrderRejected | PurchaseOrderShipped,
                                      unit: FulfillmentWork) -> None:
        """A drop-ship supplier takes its purchase order, refuses it (allocated elsewhere, as a warehouse's
        rejection is), or ships it: with a carrier of the network it booked itself (followed by its tracking), or
        ready for a carrier the OMS books."""
        fulfillment_id = domain.fulfillment_of(update.po_id)
        row = ours(await unit.fulfillments.get(fulfillment_id), f"purchase order {update.po_id}", "sent to",
                   "purchase_order.update_from_another_supplier")
        shipped = update if isinstance(update, PurchaseOrderShipped) else None
        if shipped and shipped.carrier_id and (shipped.carrier_id not in {c.id for c in unit.deps.network.carriers}
                                               or not shipped.tracking_number):
            raise Unprocessable(f"carrier {shipped.carrier_id!r} with tracking number {shipped.tracking_number!r}: "
                                "the OMS follows only the network's carriers, by a tracking number (name none to "
                                "have the OMS book one)")
        outcome = domain.apply_update(row.status, row.qc_failures, domain.UPDATE_STATUS[update.type])
        if outcome.report is None:
            log.info("purchase_order.update_ignored", order_id=row.order_id, update=update.type, current=row.status)
            return
        unit.fulfillments.set_status(row, outcome.status or row.status, outcome.qc_failures, unit.now())
        unit.send(topics.FULFILLMENT_EVENTS.name, row.order_id, FulfillmentProgressed(
            order_id=row.order_id, fulfillment_id=fulfillment_id, location_id=row.location_id, status=outcome.report,
            reason=update.reason if isinstance(update, PurchaseOrderRejected) else None,
            parcels=(shipped.parcels or domain.parcels_for(fulfillment_id, row.line_list())) if shipped else [],
            carrier_id=shipped.carrier_id if shipped else None,
            tracking_number=shipped.tracking_number if shipped and shipped.carrier_id else None))
        log.info("purchase_order.progressed", order_id=row.order_id, status=outcome.report)

    if supplier:
        return {kind: purchase_order_answered for kind in topics.SUPPLIER_UPDATES.message_types}
    handlers: dict[str, Handler[FulfillmentWork]] = {
        kind: warehouse_update for kind in topics.WAREHOUSE_UPDATES.message_types}
    return handlers | {"return.received": return_received, "location.paused": paused_or_resumed,
                       "location.resumed": paused_or_resumed, "transfer.shipped": transfer_update,
                       "transfer.received": transfer_update}


async def expire(tick: Tick, unit: FulfillmentWork) -> None:
    """A warehouse that did not accept in time is told to cancel, and the saga reroutes."""
    rows = await unit.fulfillments.expired(tick.limit)
    for row in rows:
        unit.fulfillments.set_status(row, domain.FulfillmentStatus.TIMED_OUT, row.qc_failures)
        cancel_at_warehouse(unit, row, "not accepted in time")
        unit.send(topics.FULFILLMENT_EVENTS.name, row.order_id, FulfillmentProgressed(
            order_id=row.order_id, fulfillment_id=row.fulfillment_id, location_id=row.location_id,
            status="timed_out", reason="the warehouse did not accept in time"))
        log.warning("fulfillment.timed_out", order_id=row.order_id, location_id=row.location_id)


COMMANDS: dict[str, Handler[FulfillmentWork]] = {
    "fulfillment.request_fulfillment": request_fulfillment, "fulfillment.cancel_fulfillment": cancel_fulfillment,
    "fulfillment.expect_return": expect_return, "fulfillment.change_fulfillment": change_fulfillment,
    "fulfillment.request_transfer": request_transfer}
