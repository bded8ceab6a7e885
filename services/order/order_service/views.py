"""What operators are shown of an order (`oms order`, `oms returns`, `oms late`, the report), worked out from its saga
by the order service's own rules, so the command line reads no field of the saga itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from contracts.base import SkuQuantity
from contracts.partners import ReturnedLine
from order_service.saga import Saga, SagaState, ledger_of

OPEN_STATES = tuple(s.value for s in SagaState if s not in (SagaState.COMPLETED, SagaState.CANCELLED,
                                                             SagaState.REJECTED))
ENDED_STATES = (SagaState.COMPLETED.value, SagaState.CANCELLED.value, SagaState.REJECTED.value)


def saga_of(stored: str | None) -> Saga | None:
    """The saga as the orders table keeps it (an order rejected before it had one has none)."""
    if not stored or stored == "{}":
        return None
    return Saga.model_validate_json(stored)


@dataclass(frozen=True)
class OrderedLine:
    sku: str
    quantity: int
    unit_price: str
    cancelled: int  # of `quantity`


def ordered_lines(saga: Saga | None, lines: list[SkuQuantity], prices: list[str]) -> list[OrderedLine]:
    """The lines as ordered, each with how many of its units were cancelled since (what the saga still holds is
    what is left, taken from the lines in their order)."""
    left = {line.sku: line.quantity for line in saga.lines} if saga else None
    found = []
    for line, price in zip(lines, prices, strict=True):
        kept = line.quantity if left is None else min(line.quantity, left.get(line.sku, 0))
        if left is not None:
            left[line.sku] = left.get(line.sku, 0) - kept
        found.append(OrderedLine(line.sku, line.quantity, price, line.quantity - kept))
    return found


@dataclass(frozen=True)
class ReturnSeen:
    return_id: str
    location_id: str
    status: str  # requested, received, expired
    lines: list[SkuQuantity]
    received: list[ReturnedLine]
    expires_at: datetime | None
    reason: str | None  # the customer's


def returns(saga: Saga | None) -> list[ReturnSeen]:
    return [ReturnSeen(r.return_id, r.location_id, r.status, r.lines, r.received, r.expires_at, r.reason)
            for r in (saga.returns if saga else [])]


@dataclass(frozen=True)
class LateShipment:
    shipment_id: str
    location_id: str
    step: str
    late: list[str]  # the promises it broke: late_to_ship, late_delivery
    ship_by: datetime | None
    promised_by: datetime | None
    estimated_delivery: datetime | None


def late_shipments(saga: Saga | None) -> list[LateShipment]:
    return [LateShipment(f.shipment_id, f.location_id, f.step, f.late, f.ship_by, f.deliver_by, f.estimated_delivery)
            for f in (saga.fulfillments if saga else []) if f.active and f.late]


@dataclass(frozen=True)
class Money:
    """An order's money: what the customer paid, what was captured and refunded, and what is still to capture."""

    currency: str
    paid: Decimal
    discount: Decimal
    tax: Decimal
    shipping: Decimal
    captured: Decimal
    refunded: Decimal
    outstanding: Decimal


def money(saga: Saga | None) -> Money | None:
    """None for an order that was never paid for (or rejected before it had a saga)."""
    if saga is None or not saga.paid:
        return None
    ledger = ledger_of(saga)
    return Money(ledger.currency, ledger.paid, sum((line.discount for line in ledger.lines), Decimal(0)),
                 sum((line.tax for line in ledger.lines), Decimal(0)) + (ledger.shipping.tax if ledger.shipping else 0),
                 ledger.shipping.paid if ledger.shipping else Decimal(0), ledger.captured, ledger.refunded,
                 ledger.outstanding)
