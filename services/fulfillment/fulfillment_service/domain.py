"""Fulfillment rules: the invoice, and which warehouse update moves a fulfillment on."""

from __future__ import annotations

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


def moves_on(current: str, new: str) -> bool:
    """True when the update is news: not a duplicate, not late, not after the fulfillment ended."""
    if current in FINAL or new == "cancel_refused":
        return False
    if new in FINAL:
        return current != "packed" or new == "cancelled"
    return RANK.get(new, -1) > RANK.get(current, -1)
