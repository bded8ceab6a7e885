"""What the OMS asks of payments (public, v1.1): refunds, once per return or cancellation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import MAX_LINES, Currency, Message, Money, NonEmpty, Quantity


class RefundLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: NonEmpty
    quantity: Quantity
    unit_price: Money


class RefundRequested(Message):
    """Refund `amount` (the order's prices of the lines in `lines`) to the order's payment: one per return
    (`return_id`), or for lines cancelled after the payment was authorized (`return_id` null)."""

    type: Literal["refund.requested"] = "refund.requested"
    order_id: NonEmpty
    return_id: str | None
    amount: Money
    currency: Currency
    payment_reference: str | None
    lines: list[RefundLine] = Field(min_length=1, max_length=MAX_LINES)
    reason: Literal["returned", "cancelled"] = "returned"
