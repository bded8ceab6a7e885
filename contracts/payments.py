"""What the OMS asks of payments and what the payment side answers (public, v1.2): a refund per return or
cancellation, a capture per shipment handed to its carrier."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.base import MAX_LINES, Currency, Message, Money, NonEmpty, Note, Quantity


class RefundLine(BaseModel):
    """`unit_price` is the list price; `amount` (v1.2) what the customer paid for these units: their price less
    their share of the line's discount plus their share of its tax (`discount`, `tax`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: NonEmpty
    quantity: Quantity
    unit_price: Money
    amount: Money | None = None
    discount: Money | None = None
    tax: Money | None = None


CaptureLine = RefundLine  # the same shape: units, list price, and what was paid for them


class RefundRequested(Message):
    """Refund `amount` (what was paid for `lines`, plus `shipping` when a whole order is cancelled before it left)
    to the order's payment: one per return (`return_id`), or for lines cancelled after the payment was authorized
    (`return_id` null)."""

    type: Literal["refund.requested"] = "refund.requested"
    order_id: NonEmpty
    return_id: str | None
    amount: Money
    currency: Currency
    payment_reference: str | None
    lines: list[RefundLine] = Field(default_factory=list, max_length=MAX_LINES)  # none for goodwill
    reason: Literal["returned", "cancelled", "goodwill"] = "returned"
    shipping: Money | None = None  # v1.2: the shipping charge given back (part of `amount`)
    by: str | None = None  # v1.2, goodwill: the agent who gave it

    @model_validator(mode="after")
    def _lines_unless_goodwill(self) -> RefundRequested:
        if not self.lines and self.reason != "goodwill":
            raise ValueError("a refund names its lines (only a goodwill refund has none)")
        return self


class PaymentCaptureRequested(Message):
    """Capture `amount` of the order's payment for what shipment `shipment_id` carries (v1.2): sent once per
    shipment when it is handed to its carrier (or collected), the shipping charge with the order's first; the
    captures of an order add up to what it was paid, less what was cancelled before it left."""

    type: Literal["payment.capture_requested"] = "payment.capture_requested"
    order_id: NonEmpty
    shipment_id: NonEmpty
    amount: Money
    currency: Currency
    payment_reference: str | None
    lines: list[CaptureLine] = Field(max_length=MAX_LINES)
    shipping: Money | None = None


class CaptureAnswer(Message):
    """The payment side's answer to the capture of one shipment (v1.2)."""

    order_id: NonEmpty
    shipment_id: NonEmpty
    reason: Note | None = None


class PaymentCaptured(CaptureAnswer):
    """The payment side took the money of a capture request (v1.2)."""

    type: Literal["payment.captured"] = "payment.captured"


class PaymentCaptureFailed(CaptureAnswer):
    """The payment side could not take it (v1.2): the order is put on hold (`capture_failed`) for a person."""

    type: Literal["payment.capture_failed"] = "payment.capture_failed"
