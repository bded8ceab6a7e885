"""Fulfillment rules: the invoice, and which warehouse update moves a fulfillment on."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contracts.base import SkuQuantity
from contracts.partners import Invoice, InvoiceLine

# How far a fulfillment has come; an update that is not further along changes nothing.
RANK = {"requested": 0, "accepted": 1, "picked": 2, "qc_failed": 2, "packed": 3}
FINAL = {"rejected", "cancelled", "timed_out"}
UPDATE_STATUS = {
    "fulfillment.accepted": "accepted", "fulfillment.picked": "picked", "fulfillment.packed": "packed",
    "fulfillment.qc_failed": "qc_failed", "fulfillment.rejected": "rejected", "fulfillment.cancelled": "cancelled",
    "fulfillment.cancel_refused": "cancel_refused"}


def invoice(fulfillment_id: str, currency: str, lines: list[SkuQuantity], prices: dict[str, str]) -> Invoice:
    invoice_lines = [InvoiceLine(sku=line.sku, quantity=line.quantity, unit_price=prices.get(line.sku, "0.00"),
                                 total=str(Decimal(prices.get(line.sku, "0")) * line.quantity))
                     for line in lines]
    total = sum((Decimal(line.total) for line in invoice_lines), Decimal("0"))
    return Invoice(number=f"INV-{fulfillment_id}", currency=currency, lines=invoice_lines, total=str(total))


@dataclass(frozen=True)
class Outcome:
    """What one warehouse update does: the status to store, the progress to report, whether to cancel there."""

    status: str | None = None
    report: str | None = None
    reason: str | None = None
    qc_failures: int = 0
    cancel_at_warehouse: bool = False


IGNORE = Outcome()


def apply_update(current: str, qc_failures: int, new: str) -> Outcome:
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
        return Outcome("rejected", "rejected", "failed quality control twice", qc_failures + 1, cancel_at_warehouse=True)
    if RANK.get(new, -1) > RANK.get(current, -1):
        return Outcome(new, new, qc_failures=qc_failures)
    return IGNORE
