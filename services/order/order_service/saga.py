"""The order saga: named states (`SagaState`) and one pure `decide(saga, message) -> Decision`, no I/O.

States: `new` -> `awaiting_stock` (reservation asked for) -> `fulfilling` (every fulfillment followed to delivery)
-> `completed` (-> `returning` while a return is on its way back, then `completed` again); `cancelling` while
warehouses are asked to cancel; side states `on_hold` (a person must act;
`hold_reason` says why and where a release resumes) and `backordered` (waiting for stock); terminal `completed`,
`cancelled`, `rejected`. `reserving` is true while a reservation is asked for, also when a rejected part is
rerouted while the rest of the order moves on, or (ship_available) the rest of a line waits for stock.

Beside the states, the order's clock (`promise_due`, watched by the order service): each shipment's ship-by and
promised-by times, and a click-and-collect order's reminder and expiry once it waits at the store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from contracts.base import Address, Message, SkuQuantity, Window, minus, quantities
from contracts.channels import (
    FulfillmentMoveRequested,
    OrderCancelRequested,
    OrderChangeRequested,
    OrderHoldReleased,
    OrderHoldRequested,
    OrderNoteAdded,
    OrderReturnRequested,
    RefundGoodwillRequested,
)
from contracts.fulfillment import FulfillmentProgressed, ReturnArrived, ShipmentProgressed
from contracts.inventory import StockExpected, StockReservationFailed, StockReserved
from contracts.order import (
    BookShipment,
    CancelFulfillment,
    ChangeFulfillment,
    CommitStock,
    Destination,
    ExpectReturn,
    OrderStatus,
    Reason,
    ReleaseStock,
    RequestFulfillment,
    ReserveStock,
    Restock,
)
from contracts.partners import ReturnedLine
from contracts.payments import PaymentCaptured, PaymentCaptureFailed, PaymentCaptureRequested, RefundLine, RefundRequested
from rules import promise
from rules.money import Ledger, PaidLine, Share
from rules.network import Network


class SagaState(StrEnum):
    """Every state a saga can be in; the name is what is stored (`orders.saga_state`), never a step index."""

    NEW = "new"
    AWAITING_STOCK = "awaiting_stock"
    FULFILLING = "fulfilling"
    CANCELLING = "cancelling"
    RETURNING = "returning"
    ON_HOLD = "on_hold"
    BACKORDERED = "backordered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class Step(StrEnum):
    """How far one fulfillment and its shipment have come (`Fulfillment.step`)."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    PICKED = "picked"
    PACKED = "packed"
    BOOKING = "booking"
    BOOKED = "booked"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"


TERMINAL_STATES = {SagaState.COMPLETED, SagaState.CANCELLED, SagaState.REJECTED}
RESERVATION_DEADLINE = timedelta(minutes=5)  # for inventory's answer, counted while the broker is reachable
# How far each step of a shipment has come, and the order status it stands for.
STEP_RANK = {"requested": 0, "accepted": 1, "picked": 2, "packed": 3, "booking": 3, "booked": 4, "picked_up": 5,
             "in_transit": 6, "delivered": 7, "ready_for_pickup": 8, "collected": 9}
STEP_STATUS: dict[str, OrderStatus] = {
    "requested": "released", "accepted": "in_fulfillment", "picked": "in_fulfillment", "packed": "ready_to_ship",
    "booking": "ready_to_ship", "booked": "ready_to_ship", "picked_up": "shipped", "in_transit": "shipped",
    "delivered": "delivered", "ready_for_pickup": "ready_for_pickup", "collected": "collected"}
LIFECYCLE: list[OrderStatus] = ["received", "accepted", "reserved", "released", "in_fulfillment", "ready_to_ship",
                                "shipped", "delivered", "ready_for_pickup", "collected"]
HANDED_OVER = {"delivered", "collected"}  # the customer has it


class StepTimedOut(Message):
    """Fed to `decide` by the deadline poller when a saga's `deadline_at` has passed (`at`: the poller's now)."""

    type: str = "saga.step_timed_out"
    order_id: str
    state: str
    at: datetime | None = None


class PromisesDue(Message):
    """Fed to `decide` by the promise watcher when a shipment's ship-by or deliver-by time has passed (`at`: now)."""

    type: str = "saga.promises_due"
    order_id: str
    at: datetime


class Return(BaseModel):
    """One return of delivered lines to one location: asked for, then received (with what came back) or expired."""

    model_config = ConfigDict(frozen=True)

    return_id: str
    location_id: str
    lines: list[SkuQuantity]
    status: Literal["requested", "received", "expired"] = "requested"
    reason: str | None = None
    received: list[ReturnedLine] = []
    expires_at: datetime | None = None
    replacements: list[SkuQuantity] = []  # an exchange: ordered anew (instead of a refund) once it arrives


class ExchangeOrder(Message):
    """An exchange arrived: the order service places a new order of `lines` for the same customer (it has their
    details), as `external_id` on the same channel, paid by the return. Never sent as it is."""

    type: str = "order.exchange"
    return_id: str
    external_id: str
    lines: list[SkuQuantity]


class Fulfillment(BaseModel):
    """One reservation at one location, handed off, packed and shipped as one shipment."""

    model_config = ConfigDict(frozen=True)

    fulfillment_id: str
    shipment_id: str
    reservation_id: str
    location_id: str
    lines: list[SkuQuantity]
    step: Step = Step.REQUESTED
    carrier_id: str | None = None
    tracking_number: str | None = None
    active: bool = True
    exception: str | None = None
    parcels: list[dict[str, Any]] = []
    cancel_requested: bool = False
    cancel_lines: list[SkuQuantity] = []  # a partial cancel asked of its warehouse, not answered yet
    ship_by: datetime | None = None  # the promise made at its reservation (`promised`)
    deliver_by: datetime | None = None
    estimated_delivery: datetime | None = None  # the carrier's, once booked
    late: list[str] = []  # the promises it broke, each told once: `late_to_ship`, `late_delivery`
    pickup: bool = False  # collected by the customer at this location (the order's pickup store)
    to_store: bool = False  # shipped to the pickup store, where a collection of its lines takes over once there
    moving_to: str | None = None  # a move asked for: cancelled here, then reserved there alone


class Saga(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    channel: str
    external_id: str
    state: SagaState = SagaState.NEW
    status: OrderStatus | None = None
    lines: list[SkuQuantity]
    ship_to: Address
    service_level: str = "standard"
    currency: str = "EUR"
    unit_prices: dict[str, str] = {}
    hold_reason: str | None = None
    fulfillments: list[Fulfillment] = []
    next_fulfillment: int = 1
    reserving: bool = False
    reservation_request: ReserveStock | None = None  # the one asked for while `reserving`: sent again as it was
    reservation_retried: bool = False
    payment_reference: str | None = None
    paid: bool = False  # the payment was authorized: what is cancelled or returned is refunded
    ledger: Ledger | None = None  # what was paid line by line, captured and refunded (None: placed before v1.2)
    refund_shipping: bool = True  # the channel gives the shipping charge back when a whole order is cancelled unshipped
    waiting_as: OrderStatus | None = None  # held while waiting for stock: the status a release goes back to
    backordered_lines: list[SkuQuantity] = []  # ship_available: what waits for stock while the rest ships
    # waiting for inbound units: when they are expected to leave, and from where (the event shows them as a shipment)
    expected_ship: datetime | None = None
    expected_location_id: str | None = None
    returns: list[Return] = []
    pickup_location_id: str | None = None  # click and collect: `ship_to` is that store's address
    pickup_expires_at: datetime | None = None  # ready for pickup: cancelled (`not_collected`) if not collected by then
    pickup_remind_at: datetime | None = None
    pickup_reminded: bool = False
    quote_id: str | None = None  # placed on a quote: its plan and dates asked for at the first reservation
    window: Window | None = None  # the delivery slot chosen: claimed with the stock; its end is the promise

    def fulfillment(self, fulfillment_id: str) -> Fulfillment | None:
        return next((f for f in self.fulfillments if f.fulfillment_id == fulfillment_id), None)


@dataclass(frozen=True)
class StatusChange:
    status: OrderStatus
    reason: Reason | None = None


@dataclass(frozen=True)
class Decision:
    saga: Saga
    commands: list[Message] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)
    deadline_in: timedelta | None = None
    deadline_at: datetime | None = None  # an absolute deadline (an open return's expiry), where `deadline_in` is None


def reason(code: str, message: str) -> Reason:
    return Reason(code=code, message=message)


def start(saga: Saga, payment_status: str | None, address_problem: str | None,
          pickup_problem: str | None = None) -> Decision:
    """A new order: accepted and reserved, or put on hold for a person to look at (rejected for a pickup at a place
    that is not a location of the network)."""
    received = StatusChange("received")
    if pickup_problem:
        return Decision(saga.model_copy(update={"state": SagaState.REJECTED}), [], [received, StatusChange(
            "rejected", reason("unknown_pickup_location", pickup_problem))])
    if payment_status in ("pending", "failed"):
        held = saga.model_copy(update={"state": SagaState.ON_HOLD, "hold_reason": f"payment_{payment_status}"})
        return Decision(held, [], [received, StatusChange("on_hold", reason(
            f"payment_{payment_status}", f"payment is {payment_status}"))])
    if address_problem:
        held = saga.model_copy(update={"state": SagaState.ON_HOLD, "hold_reason": "address_incomplete"})
        return Decision(held, [], [received, StatusChange("on_hold", reason("address_incomplete", address_problem))])
    return _reserve(saga, [received, StatusChange("accepted")])


def _reserve(saga: Saga, changes: list[StatusChange], excluded: list[str] | None = None,
             lines: list[SkuQuantity] | None = None, only: list[str] | None = None) -> Decision:
    command = ReserveStock(order_id=saga.order_id, lines=lines or saga.lines, only_locations=only,
                           destination=Destination(country=saga.ship_to.country, region=saga.ship_to.region,
                                                   postal_code=saga.ship_to.postal_code),
                           excluded_locations=excluded or [], channel=saga.channel,
                           pickup_location_id=saga.pickup_location_id, service_level=saga.service_level,
                           quote_id=saga.quote_id if not saga.fulfillments else None, window=saga.window)
    waiting = saga.model_copy(update={"state": SagaState.AWAITING_STOCK, "reserving": True,
                                      "reservation_request": command, "reservation_retried": False})
    return Decision(waiting, [command], changes, RESERVATION_DEADLINE)


def _reservation_timed_out(saga: Saga) -> Decision:
    """Inventory did not answer in time: the same request once more (its id unchanged, so an inventory that handled
    it already ignores the copy), then the order is held for a person, with the reason (operators are alerted)."""
    if not saga.reservation_retried and saga.reservation_request is not None:
        return Decision(saga.model_copy(update={"reservation_retried": True}), [saga.reservation_request], [],
                        RESERVATION_DEADLINE)
    held = saga.model_copy(update={"state": SagaState.ON_HOLD, "hold_reason": "step_timed_out", "reserving": False})
    return Decision(held, [], [StatusChange("on_hold", reason(
        "step_timed_out", "inventory did not answer the reservation in time; a person must look"))])


def decide(saga: Saga, message: Message) -> Decision:
    """The saga's whole behaviour: given its state, what a message changes and which commands it sends."""
    decision = _decide(saga, message)
    if decision.saga.window and decision.saga.state == SagaState.CANCELLED != saga.state and not any(
            isinstance(c, ReleaseStock) and c.reservation_id is None for c in decision.commands):
        # its shipments released one by one as their warehouses confirmed: the delivery window goes back too
        return replace(decision, commands=[*decision.commands, ReleaseStock(order_id=saga.order_id)])
    return decision


def _decide(saga: Saga, message: Message) -> Decision:
    if isinstance(message, ReturnArrived):
        return _return_received(saga, message)  # also after the return expired: the units are there
    if isinstance(message, PaymentCaptured | PaymentCaptureFailed):
        return _capture_answered(saga, message)  # also once delivered: the money is still owed
    if saga.state == SagaState.CANCELLED and isinstance(message, StockReserved):
        return Decision(saga, [ReleaseStock(order_id=saga.order_id)])  # a reservation that crossed the cancel
    if saga.state in (SagaState.COMPLETED, SagaState.RETURNING) and isinstance(message, OrderCancelRequested):
        return Decision(saga, [], [StatusChange(saga.status or "delivered", reason(
            "cancel_refused", "already delivered; request a return instead"))])
    if saga.state in TERMINAL_STATES:
        return Decision(saga)
    match message:
        case StockReserved():
            return _reserved(saga, message)
        case StockReservationFailed(reason="unknown_sku"):
            return Decision(saga.model_copy(update={"state": SagaState.REJECTED}), [], [StatusChange("rejected", reason(
                "unknown_sku", f"unknown SKU(s): {', '.join(message.unknown_skus)}"))])
        case StockReservationFailed(reason="slot_full"):
            if not saga.reserving or _answers_another_request(saga, message):
                return Decision(saga)
            held = saga.model_copy(update={"state": SagaState.ON_HOLD, "hold_reason": "slot_full", "reserving": False,
                                           "reservation_request": None})
            free = ", ".join(_span(w) for w in message.free_slots) or "none in the coming days"
            return Decision(held, [], [StatusChange("on_hold", reason("slot_full", (
                f"the delivery window {_span(saga.window)} is full; free windows: {free}")))])
        case StockReservationFailed():
            if saga.state == SagaState.BACKORDERED or not saga.reserving or _answers_another_request(saga, message):
                return Decision(saga)
            dated = {"expected_ship": message.expected_ship, "expected_location_id": message.expected_location_id}
            if saga.state == SagaState.ON_HOLD:  # backordered while held: shown once the hold is released
                return Decision(saga.model_copy(update={"waiting_as": "backordered", **dated}))
            waiting = saga.model_copy(update={"state": SagaState.BACKORDERED, **dated})
            when = f"; expected by {_day(message.expected_at)}" if message.expected_at else ""
            return Decision(waiting, [], [StatusChange("backordered", reason(
                "insufficient_stock", f"not enough stock anywhere now; waiting for inbound stock{when}"))])
        case StockExpected():
            if saga.state != SagaState.BACKORDERED:
                return Decision(saga)
            now = f"now expected by {_day(message.expected_at)}" if message.expected_at else "no longer expected soon"
            was = f" (was {_day(message.previous)})" if message.previous else ""
            moved = saga.model_copy(update={"expected_ship": message.expected_ship,
                                            "expected_location_id": message.expected_location_id})
            return Decision(moved, [], [StatusChange("backordered", reason(
                "eta_changed", f"{', '.join(message.skus)} {now}{was}"))])
        case FulfillmentProgressed():
            return _fulfillment_progressed(saga, message)
        case ShipmentProgressed():
            return _shipment_progressed(saga, message)
        case OrderCancelRequested(lines=list() as lines):
            return _cancel_lines(saga, lines, message.reason)
        case OrderCancelRequested():
            return _cancel(saga, message.reason)
        case OrderHoldReleased():
            if saga.state != SagaState.ON_HOLD:
                return Decision(saga)
            released = _release_hold(saga)  # the first status change says who released it and why
            changes = [replace(c, reason=c.reason or reason("hold_released", message.reason or "hold released"))
                       if n == 0 else c for n, c in enumerate(released.changes)]
            return replace(released, changes=changes)
        case StepTimedOut() if saga.reserving and saga.state != SagaState.BACKORDERED:
            return _reservation_timed_out(saga)
        case StepTimedOut(at=datetime() as at) if saga.state == SagaState.RETURNING:
            return _returns_expired(saga, at)
        case PromisesDue():
            return _promises_due(saga, message.at)
    return Decision(saga)


def _release_hold(saga: Saga) -> Decision:
    """A released hold resumes the step it stopped: held before any stock was reserved (payment, address), the order
    is reserved; held because inventory did not answer, that reservation is asked for anew; held for `no_carrier`, a
    carrier is booked again for every packed shipment; held otherwise once handed off, its shipments are followed on
    as they are."""
    released = saga.model_copy(update={"hold_reason": None, "waiting_as": None})
    active = [f for f in saga.fulfillments if f.active]
    request = saga.reservation_request
    if saga.waiting_as and not active and saga.reserving:  # still waiting for stock, as before the hold
        state = SagaState.BACKORDERED if saga.waiting_as == "backordered" else SagaState.AWAITING_STOCK
        return Decision(released.model_copy(update={"state": state}), [], [StatusChange(saga.waiting_as)])
    if saga.hold_reason == "step_timed_out" and request is not None:
        again = _reserve(released, [] if active else [StatusChange("accepted")], request.excluded_locations,
                         request.lines)
        if not active:
            return again
        resumed = again.saga.model_copy(update={"state": SagaState.FULFILLING})
        return Decision(resumed, again.commands, _status_change(saga, resumed), again.deadline_in)
    if not active and not saga.reserving:
        return _reserve(released, [StatusChange("accepted")])
    resumed = released.model_copy(update={"state": SagaState.FULFILLING if active else SagaState.AWAITING_STOCK})
    if saga.hold_reason in ("payment_pending", "payment_failed"):
        resumed = resumed.model_copy(update={"paid": True})  # a person saw the payment through
    commands: list[Message] = []
    for f in active:  # what was packed while held, and (held for no carrier) the booking no carrier took
        if f.step == "packed" or (f.step == "booking" and saga.hold_reason == "no_carrier"):
            booked, more = _book(resumed, f)
            resumed, commands = _with_fulfillment(resumed, booked), commands + more
    if _finished(resumed):  # delivered while held (a capture that failed after the goods left)
        resumed = resumed.model_copy(update={"state": SagaState.COMPLETED})
    return Decision(resumed, commands, _status_change(saga, resumed))


def _answers_another_request(saga: Saga, message: StockReserved | StockReservationFailed) -> bool:
    """An answer to a reservation request the order has since replaced (lines cancelled meanwhile, a hold released):
    not the one it waits for (answers of earlier versions name no request and are taken as they come)."""
    request = saga.reservation_request
    return message.request_id is not None and request is not None and message.request_id != request.id


def _reserved(saga: Saga, message: StockReserved) -> Decision:
    if not saga.reserving or _answers_another_request(saga, message):  # given back: the order does not wait for it
        known = {f.reservation_id for f in saga.fulfillments}
        return Decision(saga, [ReleaseStock(order_id=saga.order_id, reservation_id=a.reservation_id)
                               for a in message.allocations if a.reservation_id not in known])
    fulfillments = list(saga.fulfillments)
    commands: list[Message] = []
    number = saga.next_fulfillment
    for allocation in message.allocations:
        fulfillment = Fulfillment(
            fulfillment_id=f"{saga.order_id}-F{number}", shipment_id=f"{saga.order_id}-S{number}",
            reservation_id=allocation.reservation_id, location_id=allocation.location_id, lines=allocation.lines,
            pickup=allocation.location_id == saga.pickup_location_id,
            to_store=saga.pickup_location_id not in (None, allocation.location_id),
            ship_by=allocation.ship_by,  # a kept quote's dates; a chosen window's end is the promise whatever else
            deliver_by=saga.window.end if saga.window and allocation.ship_by else allocation.deliver_by)
        number += 1
        fulfillments.append(fulfillment)
        commands.append(RequestFulfillment(
            order_id=saga.order_id, fulfillment_id=fulfillment.fulfillment_id, location_id=fulfillment.location_id,
            lines=fulfillment.lines, ship_to=saga.ship_to, service_level=saga.service_level, currency=saga.currency,
            unit_prices=saga.unit_prices, pickup=fulfillment.pickup, paid=_invoiced(saga, fulfillment.lines),
            shipment_id=fulfillment.shipment_id))
    state = SagaState.ON_HOLD if saga.state == SagaState.ON_HOLD else SagaState.FULFILLING  # handed off, still held
    waiting = message.backordered  # ship_available: the rest is still asked for, under the same request
    updated = saga.model_copy(update={
        "state": state, "fulfillments": fulfillments, "next_fulfillment": number, "reserving": bool(waiting),
        "expected_ship": None, "expected_location_id": None,
        "reservation_request": saga.reservation_request.model_copy(update={"lines": waiting})
        if waiting and saga.reservation_request else None, "backordered_lines": waiting})
    had_active = any(f.active for f in saga.fulfillments)
    if state == SagaState.ON_HOLD:  # handed off, still held: the status says so until the hold is released
        return Decision(updated.model_copy(update={"waiting_as": None}), commands)
    quote = message.quote
    said = reason(f"quote_{quote.outcome}", f"quote {quote.quote_id} {quote.why}") if quote and \
        quote.outcome != "kept" else reason("allocated", message.decision) if message.decision else None
    changes = [] if had_active else [StatusChange("reserved", said)]
    before = saga if had_active else saga.model_copy(update={"status": "reserved"})
    moved = _status_change(before, updated)
    if waiting:  # said on the change that hands the first part off
        told = reason("partially_backordered", f"{_units(waiting)} waiting for stock; the rest ships now")
        moved = [replace(c, reason=told) for c in moved] or [StatusChange(before.status or "released", told)]
    return Decision(updated, commands, [*changes, *moved])


def _day(at: datetime) -> str:
    return f"{at:%a %d %b %Y}"


def _with_fulfillment(saga: Saga, changed: Fulfillment) -> Saga:
    return saga.model_copy(update={"fulfillments": [
        changed if f.fulfillment_id == changed.fulfillment_id else f for f in saga.fulfillments]})


def _fulfillment_progressed(saga: Saga, message: FulfillmentProgressed) -> Decision:
    current = saga.fulfillment(message.fulfillment_id)
    if current is None or not current.active:
        return Decision(saga)  # a late answer from a warehouse the order already left changes nothing
    if current.moving_to and message.status in ("cancelled", "cancel_refused") and not current.cancel_requested:
        return _move_answered(saga, current, message.status == "cancelled", message.reason)
    if message.status == "cancelled" and current.cancel_requested:
        return _cancel_confirmed(saga, current)
    if current.cancel_lines and message.status in ("cancelled", "lines_cancelled"):
        return _lines_cancelled(saga, current, current.lines if message.status == "cancelled" else message.lines)
    if current.cancel_lines and message.status == "cancel_refused":
        kept = _with_fulfillment(saga, current.model_copy(update={"cancel_lines": []}))
        return Decision(kept, [], [StatusChange(saga.status or "released", reason(
            "cancel_refused", message.reason or f"{current.location_id} could not cancel those lines any more"))])
    if message.status == "cancel_refused":
        return _cancel_refused(saga, message.reason)
    if message.status in ("rejected", "timed_out", "cancelled"):
        if saga.state == SagaState.CANCELLING:
            return _cancel_confirmed(saga, current)
        return _reroute(saga, current, message.reason or message.status)
    if message.status == "qc_failed":
        return Decision(saga, [], [StatusChange(saga.status or "in_fulfillment", reason(
            "qc_failed", f"quality control failed at {current.location_id}; repacking"))])
    if STEP_RANK.get(message.status, -1) <= STEP_RANK[current.step]:
        return Decision(saga)  # a duplicate or a late, out-of-order update: nothing new
    changed = current.model_copy(update={"step": Step(message.status)})
    commands: list[Message] = []
    if message.status == "packed":
        changed = changed.model_copy(update={"parcels": [p.model_dump(mode="json") for p in message.parcels],
                                             # a drop-ship supplier's own carrier: followed, not booked
                                             "carrier_id": message.carrier_id, "tracking_number": message.tracking_number})
        if saga.state not in (SagaState.CANCELLING, SagaState.ON_HOLD) and not current.pickup and \
                not current.moving_to:  # booked once the cancel (or the move) is refused, or the hold released;
            changed, commands = _book(saga, changed)  # a pickup waits
    if message.status == "collected" and current.reservation_id:  # taken from the store's own shelf
        commands.append(CommitStock(order_id=saga.order_id, reservation_id=current.reservation_id))
    updated = _with_fulfillment(saga, changed)
    if message.status == "collected" and current.reservation_id:  # left with the customer from the store's shelf
        updated, captures = _captured(updated, changed)  # (what came by carrier was captured when it was picked up)
        commands += captures
    if message.status == "collected" and _finished(updated):
        updated = updated.model_copy(update={"state": SagaState.COMPLETED})
    changes = _status_change(saga, updated)
    if changes and changes[-1].status == "ready_for_pickup":
        to = saga.ship_to
        changes[-1] = StatusChange("ready_for_pickup", reason("ready_for_pickup", (
            f"ready for pickup at {current.location_id}: {to.line1}, {to.postal_code} {to.city}")))
    return Decision(updated, commands, changes)


def _book(saga: Saga, packed: Fulfillment) -> tuple[Fulfillment, list[Message]]:
    return packed.model_copy(update={"step": Step.BOOKING}), [BookShipment(
        order_id=saga.order_id, shipment_id=packed.shipment_id, location_id=packed.location_id,
        service_level=saga.service_level, ship_to=saga.ship_to, parcels=packed.parcels, deliver_by=packed.deliver_by,
        delivery_window=saga.window, carrier_id=packed.carrier_id, tracking_number=packed.tracking_number)]


def _reroute(saga: Saga, failed: Fulfillment, why: str) -> Decision:
    """A warehouse said no: release its reservation and reserve its lines again elsewhere (without the lines a
    partial cancel asked of it: cancelled with it)."""
    tried = sorted({f.location_id for f in saga.fulfillments if not f.active} | {failed.location_id})
    updated = _with_fulfillment(saga, failed.model_copy(update={"active": False, "exception": why}))
    commands: list[Message] = [ReleaseStock(order_id=saga.order_id, reservation_id=failed.reservation_id)]
    if failed.cancel_lines:
        updated = updated.model_copy(update={"lines": minus(saga.lines, failed.cancel_lines),
                                             "ledger": _kept_ledger(saga)})
        updated, refunds = _refunded(updated, failed.cancel_lines)
        commands += refunds
        lines = minus(failed.lines, failed.cancel_lines)
        if not lines:
            return _after_lines_cancelled(saga, updated, commands, failed.cancel_lines)
    else:
        lines = failed.lines
    if saga.reserving and saga.reservation_request is not None:  # lines still waiting are asked for with these
        lines = [SkuQuantity(sku=s, quantity=q) for s, q in
                 quantities([*lines, *saga.reservation_request.lines]).items()]
    reserve = _reserve(updated, [], tried, lines)
    still_active = [f for f in updated.fulfillments if f.active]
    next_state = SagaState.AWAITING_STOCK if not still_active else SagaState.FULFILLING
    return Decision(reserve.saga.model_copy(update={"state": next_state}), commands + reserve.commands,
                    [], reserve.deadline_in)


def _shipment_progressed(saga: Saga, message: ShipmentProgressed) -> Decision:
    current = next((f for f in saga.fulfillments if f.shipment_id == message.shipment_id), None)
    if current is None:
        return Decision(saga)
    if message.status == "booking_failed":
        held = saga.model_copy(update={"state": SagaState.ON_HOLD, "hold_reason": "no_carrier"})
        return Decision(held, [], [StatusChange("on_hold", reason("no_carrier", message.reason or "no carrier left"))])
    if message.status == "pickup_missed":
        return _pickup_missed(saga, current, message)
    if message.status == "exception":
        changed = current.model_copy(update={"exception": message.reason})
        updated = _with_fulfillment(saga, changed)
        return Decision(updated, [], [StatusChange(saga.status or "shipped", reason(
            "delivery_exception", message.reason or "delivery exception"))])
    if STEP_RANK.get(message.status, -1) <= STEP_RANK[current.step]:
        return Decision(saga)
    changed = current.model_copy(update={
        "step": Step(message.status), "carrier_id": message.carrier_id or current.carrier_id,
        "tracking_number": message.tracking_number or current.tracking_number,
        "estimated_delivery": message.estimated_delivery or current.estimated_delivery})
    commands: list[Message] = []
    updated = _with_fulfillment(saga, changed)
    if message.status in ("picked_up", "in_transit", "delivered") and STEP_RANK[current.step] < STEP_RANK["picked_up"]:
        commands.append(CommitStock(order_id=saga.order_id, reservation_id=current.reservation_id))
        updated, captures = _captured(updated, changed)
        commands += captures
    if message.status == "delivered" and current.to_store:  # at the pickup store: it hands the lines over
        updated, more = _collection(updated, changed)
        commands += more
    if saga.hold_reason == "capture_failed":  # the goods move on, the order stays held until a person releases it
        moved = _shipment_statuses(saga) != _shipment_statuses(updated)
        return Decision(updated, commands, [StatusChange("on_hold", reason(
            "shipment_updated", "a shipment moved on while the order is held"))] if moved else [])
    if _finished(updated):
        updated = updated.model_copy(update={"state": SagaState.COMPLETED})
    return Decision(updated, commands, _status_change(saga, updated))


def _pickup_missed(saga: Saga, shipment: Fulfillment, message: ShipmentProgressed) -> Decision:
    """The carrier missed its pickup: the shipment waits for the next one. If that is after its ship-by, the order
    says now that it leaves late (once: the promise watcher does not say it again); else nothing changes."""
    if shipment.ship_by is None or "late_to_ship" in shipment.late or STEP_RANK[shipment.step] >= STEP_RANK[
            "picked_up"] or (message.next_pickup_at is not None and message.next_pickup_at <= shipment.ship_by):
        return Decision(saga)
    told = _with_fulfillment(saga, shipment.model_copy(update={"late": [*shipment.late, "late_to_ship"]}))
    then = f"the next pickup is {_when(message.next_pickup_at)}" if message.next_pickup_at else "no pickup is planned"
    return Decision(told, [], [StatusChange(saga.status or "ready_to_ship", reason("late_to_ship", (
        f"{message.reason or 'the carrier missed its pickup'}; {then}, after its ship-by {_when(shipment.ship_by)}")))])


def _collection(saga: Saga, arrived: Fulfillment) -> tuple[Saga, list[Message]]:
    """A shipment arrived at the pickup store: the store is asked to hand its lines to the customer."""
    number = saga.next_fulfillment
    collection = Fulfillment(fulfillment_id=f"{saga.order_id}-F{number}", shipment_id=f"{saga.order_id}-S{number}",
                             reservation_id="", location_id=saga.pickup_location_id or arrived.location_id,
                             lines=arrived.lines, pickup=True)
    updated = saga.model_copy(update={"fulfillments": [*saga.fulfillments, collection], "next_fulfillment": number + 1})
    return updated, [RequestFulfillment(
        order_id=saga.order_id, fulfillment_id=collection.fulfillment_id, location_id=collection.location_id,
        lines=collection.lines, ship_to=saga.ship_to, service_level=saga.service_level, currency=saga.currency,
        unit_prices=saga.unit_prices, pickup=True, collection=True, paid=_invoiced(saga, collection.lines))]


def facing(saga: Saga) -> list[Fulfillment]:
    """The active fulfillments as the customer sees them: a shipment that reached the pickup store is handed on to
    the store's collection of it."""
    return [f for f in saga.fulfillments if f.active and not (f.to_store and f.step == Step.DELIVERED)]


def _finished(saga: Saga) -> bool:
    """Every line is with the customer (nothing still being reserved)."""
    found = facing(saga)
    return bool(found) and not saga.reserving and all(f.step in HANDED_OVER for f in found)


def _cancel(saga: Saga, why: str | None) -> Decision:
    """Cancel where still possible; once a carrier has it, refuse: a return is the way back.

    Nothing handed off yet: release and cancel at once. Handed off: ask every warehouse to cancel and release each
    reservation when its warehouse confirms; the order is cancelled when all have.
    """
    if saga.state == SagaState.CANCELLING:
        return Decision(saga)
    active = [f for f in saga.fulfillments if f.active]
    if any(STEP_RANK[f.step] >= STEP_RANK["picked_up"] for f in active):
        return Decision(saga, [], [StatusChange(saga.status or "shipped", reason(
            "cancel_refused", "already with the carrier; request a return instead"))])
    if not active:
        cancelled, refunds = _refunded(saga.model_copy(update={"state": SagaState.CANCELLED, "reserving": False}),
                                       saga.lines, whole=True)
        return Decision(cancelled, [ReleaseStock(order_id=saga.order_id), *refunds],
                        [StatusChange("cancelled", reason("cancelled", why or "cancel requested"))])
    asking = saga.model_copy(update={"state": SagaState.CANCELLING, "fulfillments": [
        f.model_copy(update={"cancel_requested": True}) if f.active else f for f in saga.fulfillments]})
    commands: list[Message] = [CancelFulfillment(order_id=saga.order_id, fulfillment_id=f.fulfillment_id, reason=why)
                               for f in active]
    return Decision(asking, commands, [StatusChange(saga.status or "released", reason(
        "cancel_requested", why or "cancel requested; waiting for the warehouse"))])


def _units(lines: list[SkuQuantity]) -> str:
    return ", ".join(f"{line.quantity} x {line.sku}" for line in lines)


def _refunded(saga: Saga, lines: list[SkuQuantity], whole: bool = False) -> tuple[Saga, list[Message]]:
    """The refund of cancelled lines (of the whole order: with its shipping charge where the channel gives it back),
    when the order was paid for: never taken, so given back before any capture."""
    return _refund(saga, None, lines, "cancelled", whole=whole)


def _cancel_lines(saga: Saga, lines: list[SkuQuantity], why: str | None) -> Decision:
    """Cancel some units: before the hand-off at once (a reservation under way is asked for again without them);
    after it, each warehouse holding them is asked (the least advanced shipments first) and the units go when it
    confirms; refused for units already with a carrier. Every unit cancelled: the whole order is."""
    def refused(because: str) -> Decision:
        return Decision(saga, [], [StatusChange(saga.status or "accepted", reason("cancel_refused", because))])

    want, ordered = quantities(lines), quantities(saga.lines)
    over = [f"{sku} ({n} asked, {ordered.get(sku, 0)} ordered)" for sku, n in sorted(want.items())
            if n > ordered.get(sku, 0)]
    if saga.state == SagaState.CANCELLING:
        return refused("the whole order is being cancelled already")
    if over:
        return refused(f"more than the order has: {', '.join(over)}")
    if want == ordered:
        return _cancel(saga, why)
    asked = [SkuQuantity(sku=sku, quantity=n) for sku, n in want.items()]
    active = [f for f in saga.fulfillments if f.active]
    if not active:  # nothing handed off
        updated = saga.model_copy(update={"lines": minus(saga.lines, asked)})
        commands: list[Message] = []
        deadline_in = None
        if saga.reserving:  # the request under way (or waiting as a backorder) is dropped and asked for anew
            request = saga.reservation_request
            again = _reserve(updated, [], request.excluded_locations if request else [], updated.lines)
            updated = again.saga.model_copy(update={"state": saga.state if saga.state == SagaState.ON_HOLD
                                                    else again.saga.state})
            commands, deadline_in = [ReleaseStock(order_id=saga.order_id), *again.commands], again.deadline_in
        updated, refunds = _refunded(updated.model_copy(update={"ledger": _kept_ledger(saga)}), asked)
        return Decision(updated, commands + refunds, [StatusChange(saga.status or "accepted", reason(
            "lines_cancelled", f"cancelled {_units(asked)}" + (f": {why}" if why else "")))], deadline_in)
    if saga.reserving:
        return refused("part of the order is being allocated again: ask again in a moment")
    if any(f.cancel_lines for f in active):
        return refused("an earlier cancel of some lines waits for the warehouse's answer")
    left, asks = dict(want), {}
    for f in sorted(active, key=lambda f: STEP_RANK[f.step]):
        if STEP_RANK[f.step] >= STEP_RANK["picked_up"]:
            continue
        taken: dict[str, int] = {}
        for line in f.lines:
            n = min(line.quantity, left.get(line.sku, 0))
            if n:
                taken[line.sku], left[line.sku] = taken.get(line.sku, 0) + n, left[line.sku] - n
        if taken:
            asks[f.fulfillment_id] = [SkuQuantity(sku=sku, quantity=n) for sku, n in taken.items()]
    if any(left.values()):
        return refused("already with the carrier: " + ", ".join(f"{n} x {sku}" for sku, n in left.items() if n))
    updated = saga.model_copy(update={"fulfillments": [
        f.model_copy(update={"cancel_lines": asks[f.fulfillment_id]}) if f.fulfillment_id in asks else f
        for f in saga.fulfillments]})
    commands = [CancelFulfillment(order_id=saga.order_id, fulfillment_id=fid, reason=why, lines=taken_lines)
                for fid, taken_lines in asks.items()]
    return Decision(updated, commands, [StatusChange(saga.status or "released", reason(
        "cancel_requested", f"cancelling {_units(asked)}; waiting for the warehouse"))])


def _lines_cancelled(saga: Saga, fulfillment: Fulfillment, cancelled: list[SkuQuantity]) -> Decision:
    """A warehouse cancelled units of a fulfillment (at most those asked): their reservation released, the order
    carries on with the rest (refunded for them if paid)."""
    done = minus(fulfillment.cancel_lines, minus(fulfillment.cancel_lines, cancelled))  # asked and confirmed
    if not done:
        return Decision(_with_fulfillment(saga, fulfillment.model_copy(update={"cancel_lines": []})))
    kept = minus(fulfillment.lines, done)
    release = ReleaseStock(order_id=saga.order_id, reservation_id=fulfillment.reservation_id,
                           lines=done if kept else None)
    changed = fulfillment.model_copy(update={"cancel_lines": [], "lines": kept or fulfillment.lines,
                                             "active": bool(kept)})
    updated, refunds = _refunded(_with_fulfillment(saga, changed).model_copy(
        update={"lines": minus(saga.lines, done), "ledger": _kept_ledger(saga)}), done)
    return _after_lines_cancelled(saga, updated, [release, *refunds], done)


def _after_lines_cancelled(before: Saga, updated: Saga, commands: list[Message],
                           cancelled: list[SkuQuantity]) -> Decision:
    """The order once units are gone: cancelled if none is left, complete if the rest was delivered."""
    if not updated.lines:
        return Decision(updated.model_copy(update={"state": SagaState.CANCELLED, "reserving": False}), commands,
                        [StatusChange("cancelled", reason("cancelled", "every line was cancelled"))])
    active = [f for f in updated.fulfillments if f.active]
    if active and not updated.reserving and all(f.step == Step.DELIVERED for f in active):
        updated = updated.model_copy(update={"state": SagaState.COMPLETED})
    status = min((STEP_STATUS[f.step] for f in active), key=LIFECYCLE.index) if active else (before.status or "accepted")
    return Decision(updated, commands, [StatusChange(status, reason("lines_cancelled", f"cancelled {_units(cancelled)}"))])


def change(saga: Saga, message: OrderChangeRequested, address_problem: str | None) -> Decision:
    """A new address or speed, until a carrier is booked: warehouses that have the order are told; an address that
    cannot be shipped to puts the order on hold as at intake. Refused once a carrier is booked or the order ended."""
    def refused(because: str) -> Decision:
        return Decision(saga, [], [StatusChange(saga.status or "received", reason("change_refused", because))])

    if saga.state in (*TERMINAL_STATES, SagaState.RETURNING) or saga.state == SagaState.CANCELLING:
        return refused(f"the order is {saga.status}")
    if message.delivery is not None:
        if saga.hold_reason != "slot_full":  # a claimed slot is the carrier's plan: changed by cancel and re-order
            return refused("a delivery window changes only while the order waits for one (slot_full)")
        moved = saga.model_copy(update={"window": message.delivery.window, "hold_reason": None})
        return _reserve(moved, [StatusChange("accepted", reason(
            "changed", f"delivery window changed to {_span(message.delivery.window)}"))])
    if message.shipping_address is None and message.shipping_speed is None:
        return refused("nothing to change")
    active = [f for f in saga.fulfillments if f.active]
    if any(STEP_RANK[f.step] >= STEP_RANK["booked"] or f.step == Step.BOOKING for f in active):
        return refused("a carrier is booked already")
    updated = saga.model_copy(update={"ship_to": message.shipping_address or saga.ship_to,
                                      "service_level": message.shipping_speed or saga.service_level})
    commands: list[Message] = [ChangeFulfillment(order_id=saga.order_id, fulfillment_id=f.fulfillment_id,
                                                 ship_to=updated.ship_to, service_level=updated.service_level)
                               for f in active]
    what = " and ".join(w for w, new in (("address", message.shipping_address), ("speed", message.shipping_speed))
                        if new is not None)
    if address_problem and message.shipping_address is not None:
        waiting = saga.status if saga.reserving and not active and saga.status in ("accepted", "backordered") else None
        held = updated.model_copy(update={"state": SagaState.ON_HOLD, "hold_reason": "address_incomplete",
                                          "waiting_as": waiting})
        return Decision(held, commands, [StatusChange("on_hold", reason("address_incomplete", address_problem))])
    return Decision(updated, commands, [StatusChange(saga.status or "received", reason(
        "changed", f"{what} changed" + (f": {message.reason}" if message.reason else "")))])


def _cancel_confirmed(saga: Saga, fulfillment: Fulfillment) -> Decision:
    updated = _with_fulfillment(saga, fulfillment.model_copy(update={"active": False}))
    commands: list[Message] = [ReleaseStock(order_id=saga.order_id, reservation_id=fulfillment.reservation_id)]
    if any(f.active for f in updated.fulfillments):
        return Decision(updated, commands)
    cancelled, refunds = _refunded(updated.model_copy(update={"state": SagaState.CANCELLED, "reserving": False}),
                                   saga.lines, whole=True)
    return Decision(cancelled, commands + refunds,
                    [StatusChange("cancelled", reason("cancelled", "cancelled at every warehouse"))])


def _cancel_refused(saga: Saga, why: str | None) -> Decision:
    """A warehouse could not cancel any more: the order carries on, booking what was packed meanwhile."""
    if saga.state != SagaState.CANCELLING:
        return Decision(saga)
    updated = saga.model_copy(update={"state": SagaState.FULFILLING, "fulfillments": [
        f.model_copy(update={"cancel_requested": False}) for f in saga.fulfillments]})
    commands: list[Message] = []
    for f in updated.fulfillments:
        if f.active and f.step == "packed":
            booked, more = _book(updated, f)
            updated, commands = _with_fulfillment(updated, booked), commands + more
    return Decision(updated, commands, [StatusChange(saga.status or "released", reason(
        "cancel_refused", why or "the warehouse could not cancel any more"))])


def delivered_lines(saga: Saga) -> dict[str, int]:
    """What the customer has: the lines of every delivered shipment."""
    return quantities(line for f in facing(saga) if f.step in HANDED_OVER for line in f.lines)


def returnable(saga: Saga) -> dict[str, int]:
    """Delivered and not yet returned: lines received back, and lines of returns still on their way, are not."""
    left = delivered_lines(saga)
    for r in saga.returns:
        for line in r.received if r.status == "received" else r.lines if r.status == "requested" else []:
            left[line.sku] = left.get(line.sku, 0) - line.quantity
    return left


def request_return(saga: Saga, message: OrderReturnRequested, takes_returns: bool, now: datetime,
                   expiry: timedelta) -> Decision:
    """A customer sends delivered lines back to `message.return_location_id`: refused (the status unchanged, reason
    `return_refused`) unless every shipment was delivered, the location takes returns and each line is delivered
    and not yet returned; otherwise the location is told what to expect, and the return expires after `expiry`."""
    def refused(why: str) -> Decision:
        return Decision(saga, [], [StatusChange(saga.status or "delivered", reason("return_refused", why))])

    if saga.state not in (SagaState.COMPLETED, SagaState.RETURNING):
        return refused(f"the order is {saga.status or 'not delivered'}: only delivered lines can be returned")
    if not takes_returns:
        return refused(f"{message.return_location_id} takes no returns")
    asked = quantities(message.lines)
    left = returnable(saga)
    too_many = [f"{sku} ({qty} asked, {max(left.get(sku, 0), 0)} returnable)" for sku, qty in sorted(asked.items())
                if qty > left.get(sku, 0)]
    if too_many:
        return refused(f"more than was delivered and not yet returned: {', '.join(too_many)}")
    if message.exchange and (why := exchange_problem(saga, asked, quantities(message.exchange))):
        return refused(why)
    lines = [SkuQuantity(sku=sku, quantity=qty) for sku, qty in asked.items()]
    new = Return(return_id=f"{saga.order_id}-R{len(saga.returns) + 1}", location_id=message.return_location_id,
                 lines=lines, reason=message.reason, expires_at=now + expiry, replacements=message.exchange)
    updated = saga.model_copy(update={"state": SagaState.RETURNING, "returns": [*saga.returns, new]})
    command = ExpectReturn(order_id=saga.order_id, return_id=new.return_id, location_id=new.location_id,
                           lines=lines, reason=message.reason)
    return Decision(updated, [command], [StatusChange("return_requested", reason(
        "return_requested", f"return {new.return_id} to {new.location_id}" + (
            f": {message.reason}" if message.reason else "")))], deadline_at=returns_deadline(updated))


def exchange_problem(saga: Saga, returned: dict[str, int], wanted: dict[str, int]) -> str | None:
    """Why an exchange cannot be made, if it cannot: each replacement must be a SKU of the order (priced as it was
    bought) and together worth no more than what comes back."""
    unknown = sorted(sku for sku in wanted if sku not in saga.unit_prices)
    if unknown:
        return f"an exchange for {', '.join(unknown)}: not bought in this order, so there is no price to exchange at"
    back = sum(Decimal(str(saga.unit_prices[sku])) * qty for sku, qty in returned.items())
    new = sum(Decimal(str(saga.unit_prices[sku])) * qty for sku, qty in wanted.items())
    if new > back:
        return f"an exchange worth {new} for {back} returned: the replacements may be worth no more"
    return None


# what a channel can fix (a full delivery window: by choosing another, or trying the same again)
CHANNEL_RESOLVES = frozenset(("payment_pending", "payment_failed", "address_incomplete", "slot_full"))


def hold(saga: Saga, message: OrderHoldRequested) -> Decision:
    """An agent or operator holds the order where it is: nothing more is booked or reserved until an operator
    releases it (a channel cannot). What is on its way at a warehouse goes on; a carrier is not booked meanwhile."""
    said = f"{message.by}: {message.reason}"
    if saga.state in (*TERMINAL_STATES, SagaState.CANCELLING, SagaState.RETURNING):
        return Decision(saga, [], [StatusChange(saga.status or "received", reason(
            "hold_refused", f"the order is {saga.status}; {said}"))])
    if saga.state == SagaState.ON_HOLD:
        return Decision(saga, [], [StatusChange("on_hold", reason("held", said))])  # said, the hold unchanged
    waiting = saga.status if saga.reserving and not any(f.active for f in saga.fulfillments) else None
    held = saga.model_copy(update={"state": SagaState.ON_HOLD, "hold_reason": "held", "waiting_as": waiting})
    return Decision(held, [], [StatusChange("on_hold", reason("held", said))])


MOVABLE = (Step.REQUESTED, Step.ACCEPTED)  # a location that has picked has started: it is not moved


def move(saga: Saga, message: FulfillmentMoveRequested) -> Decision:
    """An agent moves a fulfillment its location has not started: the location is asked to cancel it, and once it
    has, its lines are reserved at the new location alone (as a reroute is: it must serve the channel and have the
    stock, or they wait there for it). Refused, with the reason, where that cannot be."""
    found = next((f for f in saga.fulfillments if f.active and message.fulfillment_id in (None, f.fulfillment_id)
                  and message.shipment_id in (None, f.shipment_id)), None)
    said = f"{message.by}: move to {message.to_location_id}"

    def refused(why: str) -> Decision:
        return Decision(saga, [], [StatusChange(saga.status or "received", reason("move_refused", f"{said}: {why}"))])
    if saga.state in (*TERMINAL_STATES, SagaState.CANCELLING, SagaState.RETURNING):
        return refused(f"the order is {saga.status}")
    if found is None:
        return refused("no such fulfillment waiting at a location")
    if found.moving_to:
        return refused(f"it is being moved to {found.moving_to} already")
    if found.location_id == message.to_location_id:
        return refused(f"it is at {found.location_id} already")
    if found.step not in MOVABLE or found.pickup:
        return refused(f"{found.location_id} has started it ({found.step})" if found.step not in MOVABLE else
                       "the customer collects it there")
    moving = _with_fulfillment(saga, found.model_copy(update={"moving_to": message.to_location_id}))
    return Decision(moving, [CancelFulfillment(order_id=saga.order_id, fulfillment_id=found.fulfillment_id,
                                               reason=f"moved to {message.to_location_id}")],
                    [StatusChange(saga.status or "released", reason("move_requested", (
                        f"{said}: {found.location_id} asked to cancel {found.fulfillment_id}")))])


def _move_answered(saga: Saga, moved: Fulfillment, cancelled: bool, why: str | None) -> Decision:
    """The old location cancelled: its reservation is released and the lines reserved at the new one alone; or it
    could not any more: the fulfillment stays (and is booked if packed meanwhile)."""
    target = moved.moving_to or ""
    if not cancelled:
        kept = _with_fulfillment(saga, moved.model_copy(update={"moving_to": None}))
        commands: list[Message] = []
        if moved.step == Step.PACKED:
            booked, commands = _book(kept, moved)
            kept = _with_fulfillment(kept, booked)
        return Decision(kept, commands, [StatusChange(saga.status or "released", reason("move_refused", (
            f"{moved.location_id} could not cancel {moved.fulfillment_id} any more: {why or 'already started'}")))])
    left = _with_fulfillment(saga, moved.model_copy(update={"active": False, "moving_to": None,
                                                            "exception": f"moved to {target}"}))
    lines = moved.lines
    if saga.reserving and saga.reservation_request is not None:  # lines still waiting are asked for with these
        lines = [SkuQuantity(sku=s, quantity=q) for s, q in
                 quantities([*lines, *saga.reservation_request.lines]).items()]
    reserve = _reserve(left, [], [], lines, only=[target])
    active = any(f.active for f in left.fulfillments)
    return Decision(reserve.saga.model_copy(update={"state": SagaState.FULFILLING if active else
                                                    SagaState.AWAITING_STOCK}),
                    [ReleaseStock(order_id=saga.order_id, reservation_id=moved.reservation_id), *reserve.commands],
                    [StatusChange(saga.status or "released", reason("moved", (
                        f"{moved.location_id} cancelled {moved.fulfillment_id}; reserving at {target}")))],
                    reserve.deadline_in)


def note(saga: Saga, message: OrderNoteAdded) -> Decision:
    """A note on the order, in its timeline with who wrote it: the status unchanged."""
    return Decision(saga, [], [StatusChange(saga.status or "received", reason("note", f"{message.by}: {message.text}"))])


def goodwill(saga: Saga, message: RefundGoodwillRequested) -> Decision:
    """A goodwill refund an agent gives (their role's limit checked at the desk): asked of the payment side as
    `refund.requested` with reason `goodwill` and no lines, up to what was paid and not refunded yet."""
    said = f"{message.by}: goodwill {message.amount} {saga.currency} ({message.reason})"

    def refused(why: str) -> Decision:
        return Decision(saga, [], [StatusChange(saga.status or "received", reason("refund_refused", f"{said}: {why}"))])
    if not saga.paid:
        return refused("the order was not paid through the OMS")
    ledger, amount = ledger_of(saga), Decimal(message.amount)
    left = ledger.paid - ledger.refunded
    if amount > left:
        return refused(f"only {_money(left)} {saga.currency} paid and not refunded yet")
    updated = saga.model_copy(update={"ledger": ledger.model_copy(update={"refunded": ledger.refunded + amount})})
    return Decision(updated, [RefundRequested(
        id=str(uuid.uuid5(GOODWILL_IDS, message.id)), order_id=saga.order_id, return_id=None, amount=_money(amount),
        currency=saga.currency, payment_reference=saga.payment_reference, reason="goodwill", by=message.by)],
        [StatusChange(saga.status or "received", reason("goodwill_refund", said))])


GOODWILL_IDS = uuid.UUID("6f1d2a8e-4c3b-4f5e-9a7d-0b2c8e1f3a54")


def release_by_channel(saga: Saga, message: OrderHoldReleased) -> Decision:
    """A channel may release a hold it can resolve (payment, address); any other (no carrier, a step that timed out)
    is an operator's to judge: refused, the order stays on hold with reason `release_refused`."""
    if saga.state == SagaState.ON_HOLD and saga.hold_reason not in CHANNEL_RESOLVES:
        return Decision(saga, [], [StatusChange(saga.status or "on_hold", reason(
            "release_refused", f"held for {saga.hold_reason}: only an operator may release it"))])
    return decide(saga, message)


def exchange_external_id(saga: Saga, returned: Return) -> str | None:
    """An exchange's new order: the original's external id with `-X<n>` for its return `R<n>`."""
    return f"{saga.external_id}-X{returned.return_id.rsplit('-R', 1)[1]}" if returned.replacements else None


def returns_deadline(saga: Saga) -> datetime | None:
    """When the first open return expires (None when none is open)."""
    return min((r.expires_at for r in saga.returns if r.status == "requested" and r.expires_at), default=None)


def _after_returns(saga: Saga) -> tuple[Saga, OrderStatus]:
    """The saga's state and the order's status once a return closed: still returning while another is open;
    otherwise `returned` if anything ever came back, `delivered` if nothing did."""
    if any(r.status == "requested" for r in saga.returns):
        return saga.model_copy(update={"state": SagaState.RETURNING}), "return_requested"
    came_back = any(r.status == "received" for r in saga.returns)
    return saga.model_copy(update={"state": SagaState.COMPLETED}), "returned" if came_back else "delivered"


def _return_received(saga: Saga, message: ReturnArrived) -> Decision:
    """Units came back: resellable ones on hand again where they arrived, damaged ones written off, and a refund
    of what came back (at the order's prices) asked for, once per return. More than was asked is not counted."""
    current = next((r for r in saga.returns if r.return_id == message.return_id), None)
    if current is None or current.status == "received":
        return Decision(saga)  # unknown, or a duplicate: nothing twice
    room = {line.sku: line.quantity for line in current.lines}
    received: list[ReturnedLine] = []
    for line in message.lines:
        quantity = min(line.quantity, room.get(line.sku, 0))
        if quantity:
            room[line.sku] -= quantity
            received.append(line.model_copy(update={"quantity": quantity}))
    closed = current.model_copy(update={"status": "received", "received": received})
    updated, status = _after_returns(saga.model_copy(update={"returns": [
        closed if r.return_id == closed.return_id else r for r in saga.returns]}))
    commands: list[Message] = []
    exchange = exchange_external_id(saga, closed) if received else None
    if received:
        commands.append(Restock(order_id=saga.order_id, return_id=closed.return_id, location_id=closed.location_id,
                                lines=received))
        if not exchange:
            updated, refunds = _refund(updated, closed.return_id, received)
            commands += refunds
    if exchange:  # what came back pays for the replacements
        commands.append(ExchangeOrder(return_id=closed.return_id, external_id=exchange, lines=closed.replacements))
    units = sum(line.quantity for line in received)
    return Decision(updated, commands, [StatusChange(status, reason(
        "return_received", f"return {closed.return_id}: {units} unit(s) received at {closed.location_id}" + (
            f"; exchanged for order {exchange}" if exchange else "")))],
        deadline_at=returns_deadline(updated))


def ledger_of(saga: Saga) -> Ledger:
    """The order's money (for an order placed before v1.2: its lines at their list prices, nothing taken yet)."""
    if saga.ledger is not None:
        return saga.ledger
    return Ledger(currency=saga.currency, lines=[PaidLine(sku=line.sku, quantity=line.quantity, unit_price=Decimal(
        saga.unit_prices.get(line.sku, "0"))) for line in saga.lines])


def _kept_ledger(saga: Saga) -> Ledger | None:
    """The ledger, made from the order's lines before some go (an order placed before v1.2 has none of its own)."""
    return ledger_of(saga) if saga.paid else saga.ledger


def _money(amount: Decimal) -> str:
    return format(amount, "f")


def _paid_lines(shares: list[Share]) -> list[RefundLine]:
    return [RefundLine(sku=s.sku, quantity=s.quantity, unit_price=_money(s.unit_price), amount=_money(s.amount),
                       discount=_money(s.discount), tax=_money(s.tax)) for s in shares]


def _invoiced(saga: Saga, lines: list[SkuQuantity]) -> list[RefundLine] | None:
    """What a fulfillment's lines come to, for its invoice (an order placed before v1.2: its list prices)."""
    return _paid_lines(ledger_of(saga).priced((line.sku, line.quantity) for line in lines)) if saga.ledger else None


def _refund(saga: Saga, return_id: str | None, lines: list[ReturnedLine] | list[SkuQuantity],
            why: Literal["returned", "cancelled"] = "returned", whole: bool = False,
            captured: list[SkuQuantity] | None = None) -> tuple[Saga, list[Message]]:
    """The refund of these units at what was paid for them, once each (none when unpaid or they cost nothing):
    the saga with its ledger after it, and the request. What came back is refunded also where no payment was
    named (the channel took it); a cancel only where the order was paid for."""
    if not saga.paid and why == "cancelled":
        return saga, []
    ledger, shares, shipping = ledger_of(saga).refund(
        ((line.sku, line.quantity) for line in lines), with_shipping=whole and saga.refund_shipping,
        uncaptured=why == "cancelled")
    if captured:  # a cancel of units that had left already (a pickup that came by carrier): given back as returned
        ledger, more, _ = ledger.refund((line.sku, line.quantity) for line in captured)
        shares += more
    updated = saga.model_copy(update={"ledger": ledger})
    amount = sum((s.amount for s in shares), Decimal("0")) + shipping
    if not amount or not shares:
        return updated, []
    return updated, [RefundRequested(
        order_id=saga.order_id, return_id=return_id, amount=_money(amount), currency=saga.currency,
        payment_reference=saga.payment_reference, lines=_paid_lines(shares), reason=why,
        shipping=_money(shipping) if shipping else None)]


def _captured(saga: Saga, left: Fulfillment) -> tuple[Saga, list[Message]]:
    """A shipment handed to its carrier (or collected): the capture of what it carries and was not captured yet
    (the shipping charge with the order's first), once per shipment; none for an unpaid order, or one whose money
    was taken already."""
    if not saga.paid:
        return saga, []
    ledger, shares, shipping = ledger_of(saga).capture((line.sku, line.quantity) for line in left.lines)
    updated = saga.model_copy(update={"ledger": ledger})
    amount = sum((s.amount for s in shares), Decimal("0")) + shipping
    if not amount:
        return updated, []
    return updated, [PaymentCaptureRequested(
        id=capture_id(saga.order_id, left.shipment_id), order_id=saga.order_id, shipment_id=left.shipment_id,
        amount=_money(amount), currency=saga.currency, payment_reference=saga.payment_reference,
        lines=_paid_lines(shares), shipping=_money(shipping) if shipping else None)]


def capture_id(order_id: str, shipment_id: str) -> str:
    """A capture's message id follows from its shipment: the payment side takes each shipment's once."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"oms:capture:{order_id}:{shipment_id}"))


def _capture_answered(saga: Saga, message: PaymentCaptured | PaymentCaptureFailed) -> Decision:
    """The payment side took a shipment's money, or could not: then a person must look (`capture_failed`), also
    once the order was delivered."""
    if isinstance(message, PaymentCaptured) or saga.hold_reason == "capture_failed" or saga.state in (
            SagaState.CANCELLED, SagaState.REJECTED):
        return Decision(saga)
    held = saga.model_copy(update={"state": SagaState.ON_HOLD, "hold_reason": "capture_failed"})
    return Decision(held, [], [StatusChange("on_hold", reason(
        "capture_failed", f"the payment of shipment {message.shipment_id} could not be captured: "
                          f"{message.reason or 'no reason given'}"))])


def _returns_expired(saga: Saga, now: datetime) -> Decision:
    """Returns that never arrived by their time are closed as `expired` (what comes later is still taken back)."""
    expired = [r.return_id for r in saga.returns if r.status == "requested" and r.expires_at and r.expires_at <= now]
    if not expired:
        return Decision(saga, deadline_at=returns_deadline(saga))
    updated, status = _after_returns(saga.model_copy(update={"returns": [
        r.model_copy(update={"status": "expired"}) if r.return_id in expired else r for r in saga.returns]}))
    return Decision(updated, [], [StatusChange(status, reason(
        "return_expired", f"return {', '.join(expired)} did not arrive in time"))],
        deadline_at=returns_deadline(updated))


def promised(saga: Saga, network: Network, now: datetime) -> Saga:
    """Each shipment without a promise gets one, counted from `now` (its reservation): when it must leave its
    location and when it must arrive. An order that became ready for pickup gets its time to be collected (and a
    reminder half-way)."""
    waiting = facing(saga)
    if saga.pickup_location_id and saga.pickup_expires_at is None and waiting and all(
            f.step in (Step.READY_FOR_PICKUP, Step.COLLECTED) for f in waiting) and saga.state not in TERMINAL_STATES:
        hold = timedelta(days=network.location(saga.pickup_location_id).pickup_hold_days)
        saga = saga.model_copy(update={"pickup_expires_at": now + hold, "pickup_remind_at": now + hold / 2})
    if all(f.ship_by or not f.active or not f.reservation_id for f in saga.fulfillments):
        return saga
    changed = []
    for f in saga.fulfillments:
        if f.active and f.ship_by is None and f.reservation_id:
            leaves, arrives = promise.shipment(network.location(f.location_id), network.carriers,
                                               saga.ship_to.country, saga.service_level, now)
            f = f.model_copy(update={"ship_by": leaves, "deliver_by": saga.window.end if saga.window else arrives})
        changed.append(f)
    return saga.model_copy(update={"fulfillments": changed})


def with_promises(decision: Decision, network: Network, now: datetime) -> Decision:
    """The decision with its new shipments promised, and each hand-off telling its location the ship-by time."""
    promised_saga = promised(decision.saga, network, now)
    if promised_saga is decision.saga:
        return decision
    commands = [c.model_copy(update={"ship_by": f.ship_by}) if isinstance(c, RequestFulfillment) and (
        f := promised_saga.fulfillment(c.fulfillment_id)) is not None else c for c in decision.commands]
    latest = max((f.deliver_by for f in promised_saga.fulfillments if f.active and f.deliver_by), default=None)
    changes = [replace(c, reason=reason(c.reason.code, f"{c.reason.message}; promised by {_when(latest)} instead"))
               if c.reason is not None and c.reason.code in QUOTE_NOT_KEPT else c for c in decision.changes]
    return replace(decision, saga=promised_saga, commands=commands, changes=changes)


QUOTE_NOT_KEPT = ("quote_expired", "quote_changed")  # told with the new promise


def _open_promises(f: Fulfillment) -> list[tuple[str, datetime]]:
    """The promises of a shipment still to keep or break: (reason code, time)."""
    if not f.active:
        return []
    due = []
    if f.ship_by and STEP_RANK[f.step] < STEP_RANK["picked_up"] and "late_to_ship" not in f.late:
        due.append(("late_to_ship", f.ship_by))
    if f.deliver_by and STEP_RANK[f.step] < STEP_RANK["delivered"] and "late_delivery" not in f.late:
        due.append(("late_delivery", f.deliver_by))
    return due


def promise_due(saga: Saga) -> datetime | None:
    """When the next promise of the order falls due (None when none is open, or the order is over)."""
    if saga.state in TERMINAL_STATES or saga.state == SagaState.CANCELLING:
        return None
    return min((at for _, at in _open_times(saga)), default=None)


def _open_times(saga: Saga) -> list[tuple[str, datetime]]:
    """(what, when) of everything the order waits for against the clock: its shipments' promises; a pickup's
    reminder and expiry."""
    found = [(code, at) for f in saga.fulfillments for code, at in _open_promises(f)]
    if saga.pickup_remind_at and not saga.pickup_reminded:
        found.append(("pickup_reminder", saga.pickup_remind_at))
    if saga.pickup_expires_at:
        found.append(("not_collected", saga.pickup_expires_at))
    return found


def _promises_due(saga: Saga, now: datetime) -> Decision:
    """What fell due on the order's clock: each broken promise of a shipment told once (the status unchanged,
    reason `late_to_ship` or `late_delivery`: the customer's one delay notice and the operators' alert); a pickup's
    one reminder, or its cancellation when nobody came."""
    if promise_due(saga) is None:
        return Decision(saga)
    if saga.pickup_expires_at and saga.pickup_expires_at <= now:
        return _not_collected(saga)
    changes: list[StatusChange] = []
    updated = saga
    if saga.pickup_remind_at and not saga.pickup_reminded and saga.pickup_remind_at <= now:
        updated = updated.model_copy(update={"pickup_reminded": True})
        changes.append(StatusChange(saga.status or "ready_for_pickup", reason(
            "pickup_reminder", f"waiting to be collected until {_when(saga.pickup_expires_at)}")))
    for f in saga.fulfillments:
        broken = [code for code, at in _open_promises(f) if at <= now]
        if not broken:
            continue
        updated = _with_fulfillment(updated, f.model_copy(update={"late": [*f.late, *broken]}))
        for code in broken:
            what = (f"was to leave {f.location_id} by {_when(f.ship_by)}" if code == "late_to_ship"
                    else f"was to arrive by {_when(f.deliver_by)}")
            estimate = f"; the carrier now expects it by {_when(f.estimated_delivery)}" if (
                code == "late_delivery" and f.estimated_delivery) else ""
            changes.append(StatusChange(saga.status or "released", reason(code, f"shipment {f.shipment_id} {what}"
                                                                              f"{estimate}")))
    return Decision(updated, [], changes)


def _not_collected(saga: Saga) -> Decision:
    """Never collected: cancelled; the store puts it back on its shelf (units reserved there are released, units
    that came by carrier go on hand there), the customer refunded if they paid."""
    commands: list[Message] = []
    waiting = [f for f in facing(saga) if f.step != Step.COLLECTED]
    arrived: list[ReturnedLine] = []
    for f in waiting:
        commands.append(CancelFulfillment(order_id=saga.order_id, fulfillment_id=f.fulfillment_id,
                                          reason="not collected in time"))
        if f.reservation_id:
            commands.append(ReleaseStock(order_id=saga.order_id, reservation_id=f.reservation_id))
        else:
            arrived += [ReturnedLine(sku=line.sku, quantity=line.quantity, condition="resellable") for line in f.lines]
    if arrived:
        commands.append(Restock(order_id=saga.order_id, return_id=f"{saga.order_id}-uncollected",
                                location_id=saga.pickup_location_id or waiting[0].location_id, lines=arrived))
    cancelled, refunds = _refund(saga.model_copy(update={"state": SagaState.CANCELLED, "reserving": False}), None,
                                 [line for f in waiting if f.reservation_id for line in f.lines], "cancelled",
                                 whole=True, captured=[line for f in waiting if not f.reservation_id for line in f.lines])
    commands += refunds
    return Decision(cancelled, commands, [StatusChange("cancelled", reason(
        "not_collected", f"not collected by {_when(saga.pickup_expires_at)}"))])


def _span(window: Window | None) -> str:
    if window is None:
        return "?"
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC"


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "?"


def _status_change(before: Saga, after: Saga) -> list[StatusChange]:
    """The order reports its least advanced active shipment; a shipment moving on alone is reported too."""
    active = facing(after)
    if not active or after.state == SagaState.BACKORDERED:
        return []
    status = min((status_of(f) for f in active), key=LIFECYCLE.index)
    if after.backordered_lines and after.reserving and status in HANDED_OVER:
        status = "backordered"  # what shipped is with the customer; the rest still waits for stock
    if status != before.status:
        return [StatusChange(status)]
    if _shipment_statuses(before) != _shipment_statuses(after):
        return [StatusChange(status, reason("shipment_updated", "a shipment moved on"))]
    return []


def _shipment_statuses(saga: Saga) -> dict[str, str]:
    return {f.shipment_id: status_of(f) for f in facing(saga)}


def status_of(f: Fulfillment) -> OrderStatus:
    """A shipment's status as the customer sees it: a pickup packed in the store is not `ready_to_ship` (no carrier
    comes), and a collection of what arrived there is being prepared, not handed off again."""
    if f.pickup and (STEP_RANK["packed"] <= STEP_RANK[f.step] < STEP_RANK["ready_for_pickup"] or (
            not f.reservation_id and f.step == Step.REQUESTED)):
        return "in_fulfillment"
    return STEP_STATUS[f.step]


def apply_changes(saga: Saga, changes: list[StatusChange]) -> Saga:
    return saga.model_copy(update={"status": changes[-1].status}) if changes else saga


def snapshot(saga: Saga) -> dict[str, Any]:
    return saga.model_dump(mode="json")


def deadline(now: datetime, decision: Decision) -> datetime | None:
    """The saga's next deadline: a step's (relative), or the first open return's expiry, which every decision about
    a returning order keeps."""
    if decision.deadline_in:
        return now + decision.deadline_in
    return decision.deadline_at or returns_deadline(decision.saga)
