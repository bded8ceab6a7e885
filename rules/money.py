"""What the customer paid, line by line, and the shares of it that a capture or a refund of some units takes.

A line's discount and tax are for all its units. A share of `n` units of a line is taken cumulatively: the first
`n` units of the line carry the discount rounded up and the tax rounded down, so a share is never more than its
part of what was paid, and all the units of a line carry exactly the line. Each unit leaves a line once, captured
(it left with the customer) or cancelled (refunded before it left), and these are differences of one cumulative
share: however a line is split, its parts add up to it and never exceed it. Units that come back (returned) are
refunded by the same rule counted over the returns, never beyond what the line has left to give back; the last
unit refunded gives back exactly the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from pydantic import BaseModel, ConfigDict

ZERO = Decimal("0")
MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}


def quantum(currency: str) -> Decimal:
    """The smallest amount of `currency` (a cent, unless ISO 4217 says otherwise for it)."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


class Share(BaseModel):
    """What `quantity` units of one line come to: list price, less their discount, plus their tax."""

    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO
    tax: Decimal = ZERO

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity - self.discount + self.tax


class PaidLine(BaseModel):
    """One line as the customer paid it, and how many of its units were captured and refunded so far."""

    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO  # for all the line's units
    tax: Decimal = ZERO
    captured: int = 0  # units that left (their money captured)
    cancelled: int = 0  # units refunded before they left
    returned: int = 0  # captured units refunded when they came back
    refunded_amount: Decimal = ZERO

    @property
    def paid(self) -> Decimal:
        return self.unit_price * self.quantity - self.discount + self.tax

    def available(self, how: str) -> int:
        """Units this kind of taking may still take: a capture or a cancel those that have not left or gone, a
        return those not cancelled nor returned yet."""
        if how == "returned":
            return self.quantity - self.cancelled - self.returned
        return self.quantity - self.captured - self.cancelled

    def take(self, how: str, units: int, currency: str) -> tuple[PaidLine, Share]:
        """`units` more units captured, cancelled or returned: the line after it and their share."""
        share = self.next(self.returned if how == "returned" else self.captured + self.cancelled, units, currency)
        line = self.model_copy(update={how: getattr(self, how) + units})
        if how == "captured":
            return line, share
        left = self.paid - self.refunded_amount
        amount = left if line.cancelled + line.returned == self.quantity else min(share.amount, left)
        if amount != share.amount:  # the rest of the line, or what it has left: the difference in its discount
            share = share.model_copy(update={"discount": share.discount + share.amount - amount})
        return line.model_copy(update={"refunded_amount": self.refunded_amount + amount}), share

    def first(self, units: int, currency: str) -> Share:
        """The cumulative share of the line's first `units` units."""
        step = quantum(currency)
        discount = (self.discount * units / self.quantity).quantize(step, ROUND_CEILING)
        tax = (self.tax * units / self.quantity).quantize(step, ROUND_FLOOR)
        return Share(sku=self.sku, quantity=units, unit_price=self.unit_price, discount=discount, tax=tax)

    def next(self, already: int, units: int, currency: str) -> Share:
        """The share of `units` more units after `already` were taken."""
        before, after = self.first(already, currency), self.first(already + units, currency)
        return Share(sku=self.sku, quantity=units, unit_price=self.unit_price,
                     discount=after.discount - before.discount, tax=after.tax - before.tax)


class ShippingCharge(BaseModel):
    model_config = ConfigDict(frozen=True)

    price: Decimal = ZERO
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    captured: bool = False
    refunded: bool = False

    @property
    def paid(self) -> Decimal:
        return self.price - self.discount + self.tax


class Ledger(BaseModel):
    """An order's money: what was paid per line and for shipping, and what of it was captured and refunded."""

    model_config = ConfigDict(frozen=True)

    currency: str
    lines: list[PaidLine]
    shipping: ShippingCharge | None = None
    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    voided: Decimal = ZERO  # of `refunded`, what was never captured (cancelled before it left)

    @property
    def paid(self) -> Decimal:
        return sum((line.paid for line in self.lines), ZERO) + (self.shipping.paid if self.shipping else ZERO)

    @property
    def outstanding(self) -> Decimal:
        """Paid, not captured yet and not given back before its capture: what is still to be captured."""
        return self.paid - self.captured - self.voided

    def capture(self, units: Iterable[tuple[str, int]], with_shipping: bool = True) -> tuple[Ledger, list[Share],
                                                                                              Decimal]:
        """The shares of these units not captured yet (and the shipping charge with the first capture): the
        ledger after it, the shares, and the shipping amount."""
        lines, shares = self._take(units, "captured")
        shipping = ZERO
        ship = self.shipping
        if with_shipping and ship is not None and not ship.captured and not ship.refunded:
            shipping, ship = ship.paid, ship.model_copy(update={"captured": True})
        total = sum((s.amount for s in shares), ZERO) + shipping
        return self.model_copy(update={"lines": lines, "shipping": ship, "captured": self.captured + total}), \
            shares, shipping

    def refund(self, units: Iterable[tuple[str, int]], with_shipping: bool = False,
               uncaptured: bool = False) -> tuple[Ledger, list[Share], Decimal]:
        """The shares of these units not refunded yet (and the shipping charge when asked and not captured): the
        ledger after it, the shares, and the shipping amount. `uncaptured`: units that never left (a cancel)."""
        lines, shares = self._take(units, "cancelled" if uncaptured else "returned")
        shipping = ZERO
        ship = self.shipping
        if with_shipping and ship is not None and not ship.captured and not ship.refunded:
            shipping, ship = ship.paid, ship.model_copy(update={"refunded": True})
        total = sum((s.amount for s in shares), ZERO) + shipping
        return self.model_copy(update={"lines": lines, "shipping": ship, "refunded": self.refunded + total,
                                       "voided": self.voided + (total if uncaptured else ZERO)}), shares, shipping

    def priced(self, units: Iterable[tuple[str, int]]) -> list[Share]:
        """What these units come to on their own (a shipment's invoice), whatever was captured or refunded."""
        fresh = [line.model_copy(update={"captured": 0, "cancelled": 0}) for line in self.lines]
        return self.model_copy(update={"lines": fresh})._take(units, "captured")[1]

    def _take(self, units: Iterable[tuple[str, int]], how: str) -> tuple[list[PaidLine], list[Share]]:
        """Units of a SKU taken from its lines in order, each up to what it has left for `how`."""
        lines, shares = list(self.lines), []
        for sku, wanted in units:
            for n, line in enumerate(lines):
                if wanted <= 0:
                    break
                room = line.available(how)
                if line.sku != sku or room <= 0:
                    continue
                units_now = min(wanted, room)
                lines[n], share = line.take(how, units_now, self.currency)
                shares.append(share)
                wanted -= units_now
        return lines, shares

