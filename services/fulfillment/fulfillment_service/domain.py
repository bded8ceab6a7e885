"""Fulfillment rules: the invoice, a drop-ship supplier's purchase order, and which update moves a fulfillment
on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from contracts.base import Address, SkuQuantity
from contracts.partners import Invoice, InvoiceLine, Parcel, PurchaseOrderLine, PurchaseOrderRequested
from rules.money import quantum
from rules.network import Location


class FulfillmentStatus(StrEnum):
    """Every status a fulfillment is stored with (`fulfillments.status`), and the warehouse's `cancel_refused`,
    which is reported but leaves the status as it was."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    PICKED = "picked"
    QC_FAILED = "qc_failed"
    PACKED = "packed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    CANCEL_REFUSED = "cancel_refused"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"


S = FulfillmentStatus
# How far a fulfillment has come; an update that is not further along changes nothing.
RANK: dict[str, int] = {S.REQUESTED: 0, S.ACCEPTED: 1, S.PICKED: 2, S.QC_FAILED: 2, S.PACKED: 3,
                        S.READY_FOR_PICKUP: 4, S.COLLECTED: 5}
FINAL = {S.REJECTED, S.CANCELLED, S.TIMED_OUT}
UPDATE_STATUS = {
    "fulfillment.accepted": S.ACCEPTED, "fulfillment.picked": S.PICKED, "fulfillment.packed": S.PACKED,
    "fulfillment.qc_failed": S.QC_FAILED, "fulfillment.rejected": S.REJECTED, "fulfillment.cancelled": S.CANCELLED,
    "fulfillment.cancel_refused": S.CANCEL_REFUSED, "fulfillment.ready_for_pickup": S.READY_FOR_PICKUP,
    "fulfillment.collected": S.COLLECTED,
    # a drop-ship supplier's answers: it takes the purchase order, refuses it, or sends the goods
    "purchase_order.acknowledged": S.ACCEPTED, "purchase_order.rejected": S.REJECTED, "purchase_order.shipped": S.PACKED}


def invoice(fulfillment_id: str, currency: str, lines: list[SkuQuantity], prices: dict[str, str],
            paid: Sequence[Paid] | None = None) -> Invoice:
    """The invoice in the parcel: per line its list price, discount, net and tax as the customer paid them (`paid`,
    the order's shares of them; a line without: its list price); fewer units than `paid` names (a partial cancel)
    carry their part of it."""
    shares = {p.sku: p for p in paid or ()}
    invoice_lines = []
    for line in lines:
        price = Decimal(prices.get(line.sku, "0"))
        share = shares.get(line.sku)
        part = Decimal(line.quantity) / share.quantity if share is not None else Decimal(0)
        discount = _cents(Decimal(share.discount or "0") * part, currency) if share else Decimal(0)
        tax = _cents(Decimal(share.tax or "0") * part, currency) if share else Decimal(0)
        net = price * line.quantity - discount
        invoice_lines.append(InvoiceLine(sku=line.sku, quantity=line.quantity, unit_price=format(price, "f"),
                                         total=format(net + tax, "f"), discount=format(discount, "f"),
                                         net=format(net, "f"), tax=format(tax, "f")))

    def summed(field: str) -> str:
        return format(sum((Decimal(getattr(line, field)) for line in invoice_lines), Decimal("0")), "f")
    return Invoice(number=f"INV-{fulfillment_id}", currency=currency, lines=invoice_lines, total=summed("total"),
                   discount=summed("discount"), net=summed("net"), tax=summed("tax"))


class Paid(Protocol):
    """A line as paid: an order's share of it, or an earlier invoice's line."""

    @property
    def sku(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def discount(self) -> str | None: ...
    @property
    def tax(self) -> str | None: ...


PO_PREFIX = "PO-"  # a purchase order is a fulfillment at a drop-ship supplier: `PO-<fulfillment id>`


def po_id(fulfillment_id: str) -> str:
    return f"{PO_PREFIX}{fulfillment_id}"


def fulfillment_of(po: str) -> str:
    return po.removeprefix(PO_PREFIX)


def purchase_order(fulfillment_id: str, order_id: str, supplier: Location, lines: list[SkuQuantity],
                   prices: dict[str, str], currency: str, ship_to: Address, service_level: str,
                   ship_by: datetime, shipment_id: str | None) -> PurchaseOrderRequested:
    """What a drop-ship supplier is asked to ship: each line at the supplier's price (its `cost_share` of the list
    price), and a packing slip without prices."""
    return PurchaseOrderRequested(
        po_id=po_id(fulfillment_id), order_id=order_id, currency=currency, ship_to=ship_to, service_level=service_level,
        ship_by=ship_by, shipment_id=shipment_id, packing_slip=lines,
        lines=[PurchaseOrderLine(sku=line.sku, quantity=line.quantity, unit_cost=format(_cents(
            Decimal(prices.get(line.sku, "0")) * supplier.cost_share, currency), "f")) for line in lines])


def parcels_for(fulfillment_id: str, lines: list[SkuQuantity]) -> list[Parcel]:
    """One parcel of the usual weight per unit, for a supplier that ships without saying what it packed."""
    units = sum(line.quantity for line in lines)
    return [Parcel(parcel_id=f"{fulfillment_id}-P1", weight_grams=800 * units)]


def _cents(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(quantum(currency))


@dataclass(frozen=True)
class Outcome:
    """What one warehouse update does: the status to store, the progress to report, whether to cancel there."""

    status: FulfillmentStatus | None = None
    report: str | None = None
    reason: str | None = None
    qc_failures: int = 0
    cancel_at_warehouse: bool = False


IGNORE = Outcome()


def tells_the_order(before: FulfillmentStatus, report: str) -> bool:
    """Whether the saga hears of it: `picked` after `accepted` changes nothing the customer sees (the scorecard
    keeps it here), so only a first word from the warehouse that is `picked` goes on."""
    return report != S.PICKED or before == S.REQUESTED


def apply_update(current: FulfillmentStatus, qc_failures: int, new: FulfillmentStatus) -> Outcome:
    """Duplicates, late and out-of-order updates change nothing; a second QC failure gives up on the warehouse."""
    if current in FINAL:
        return IGNORE
    if new == "cancel_refused":
        return Outcome(current, "cancel_refused", qc_failures=qc_failures)
    if new in ("cancelled", "rejected"):
        return Outcome(new, new, qc_failures=qc_failures)
    if new == "qc_failed":
        if qc_failures == 0:
            return Outcome(current, "qc_failed", "repack requested", qc_failures=1)
        return Outcome(S.REJECTED, "rejected", "failed quality control twice", qc_failures + 1, cancel_at_warehouse=True)
    if RANK.get(new, -1) > RANK.get(current, -1):
        return Outcome(new, new, qc_failures=qc_failures)
    return IGNORE
