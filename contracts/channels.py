"""Messages that sales channels, marketplaces and operators send to the OMS (public, v1)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.base import (
    MAX_LINES,
    Address,
    Currency,
    Email,
    Message,
    Money,
    NonEmpty,
    Note,
    OptionalText,
    Quantity,
    SkuQuantity,
    Timestamp,
    Window,
)

ORDER_NAMESPACE = uuid.UUID("6f1c1d1e-2c5b-4b8e-9a57-0c1f2e3d4a5b")


def order_id_for(channel: str, external_id: str) -> str:
    """The OMS's id of a channel's order: the same (channel, external_id) is always the same order, so a sender
    (the gateway, a channel) knows it before the OMS has read the order."""
    return str(uuid.uuid5(ORDER_NAMESPACE, f"{channel}:{external_id}"))


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: NonEmpty
    email: Email
    phone: OptionalText | None = None
    name: NonEmpty
    sms_consent: bool = False  # v1.2: text messages to `phone` (an E.164 number) for the notices its channel sends so


class OrderLine(BaseModel):
    """`unit_price` is the list price; `discount` and `tax` (v1.2) are for the whole line, all its units: what the
    customer paid for the line is `unit_price` x `quantity` - `discount` + `tax`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: NonEmpty
    quantity: Quantity
    unit_price: Money
    discount: Money | None = None
    tax: Money | None = None

    @model_validator(mode="after")
    def _discount_within_the_line(self) -> OrderLine:
        if self.discount is not None and Decimal(self.discount) > Decimal(self.unit_price) * self.quantity:
            raise ValueError(f"line {self.sku}: discount {self.discount} is more than the line's price "
                             f"{Decimal(self.unit_price) * self.quantity}")
        return self


class Shipping(BaseModel):
    """What the customer paid for shipping (v1.2): `price` less `discount` plus `tax`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    price: Money
    tax: Money | None = None
    discount: Money | None = None

    @model_validator(mode="after")
    def _discount_within_the_price(self) -> Shipping:
        if self.discount is not None and Decimal(self.discount) > Decimal(self.price):
            raise ValueError(f"shipping: discount {self.discount} is more than its price {self.price}")
        return self


class Payment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    status: Literal["authorized", "captured", "pending", "failed"]  # captured (v1.2): taken already, never again
    reference: OptionalText


class Delivery(BaseModel):
    """How the customer gets the order (v1.1): shipped to `shipping_address` (the default), or collected at the store
    `pickup_location_id` (click and collect)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    method: Literal["ship", "pickup"] = "ship"
    pickup_location_id: NonEmpty | None = None
    window: Window | None = None  # v1.2: the delivery slot asked for (one of a quote's `slots`)

    @model_validator(mode="after")
    def _a_pickup_names_its_store(self) -> Delivery:
        if self.method == "pickup" and not self.pickup_location_id:
            raise ValueError("a pickup names its store: pickup_location_id")
        return self


class WindowChange(BaseModel):
    """Another delivery slot for an order (v1.2): one of the free ones its hold (`slot_full`) listed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    window: Window


class ChannelMessage(Message):
    """Inbound messages name their order by (channel, external_id), the key of the inbound topic."""

    channel: NonEmpty
    external_id: NonEmpty

    @property
    def order_key(self) -> str:
        return f"{self.channel}:{self.external_id}"


class OrderSubmitted(ChannelMessage):
    type: Literal["order.submitted"] = "order.submitted"
    placed_at: Timestamp
    currency: Currency
    customer: Customer
    shipping_address: Address
    lines: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)
    shipping_speed: Literal["standard", "express"] = "standard"
    payment: Payment | None = None
    delivery: Delivery | None = None
    shipping: Shipping | None = None  # v1.2
    quote_id: NonEmpty | None = None  # v1.2: a `promise.quoted` option's: its plan and dates kept while stock allows

    @property
    def pickup_location_id(self) -> str | None:
        return self.delivery.pickup_location_id if self.delivery and self.delivery.method == "pickup" else None


class OrderCancelRequested(ChannelMessage):
    """The whole order, or (v1.1) only `lines`: those quantities of those SKUs."""

    type: Literal["order.cancel_requested"] = "order.cancel_requested"
    reason: Note | None = None
    lines: Annotated[list[SkuQuantity], Field(min_length=1, max_length=MAX_LINES)] | None = None


class OrderHoldReleased(ChannelMessage):
    type: Literal["order.hold_released"] = "order.hold_released"
    reason: Note | None = None


class OrderChangeRequested(ChannelMessage):
    """A new address or shipping speed (v1.1): applied until a carrier is booked, refused after."""

    type: Literal["order.change_requested"] = "order.change_requested"
    shipping_address: Address | None = None
    shipping_speed: Literal["standard", "express"] | None = None
    delivery: WindowChange | None = None  # v1.2: another delivery slot (`delivery.window`)
    reason: Note | None = None


class OrderReturnRequested(ChannelMessage):
    """Delivered lines sent back; with reason `exchange` and `replacement_lines` (v1.1), an exchange: what comes back
    pays for a new order of the replacements instead of a refund."""

    type: Literal["order.return_requested"] = "order.return_requested"
    lines: list[SkuQuantity] = Field(min_length=1, max_length=MAX_LINES)
    return_location_id: NonEmpty
    reason: Note | None = None
    replacement_lines: Annotated[list[SkuQuantity], Field(min_length=1, max_length=MAX_LINES)] | None = None

    @property
    def exchange(self) -> list[SkuQuantity]:
        """The replacements, when this return is an exchange (reason `exchange`)."""
        return self.replacement_lines or [] if (self.reason or "").strip().lower() == "exchange" else []


class OperatorRequest(Message):
    """v1.2: a request of the desk or an operator on `oms.orders.inbound.v1` (key: the order id), naming who asked
    (`by`: the agent or operator), shown with it in the order's timeline. Never on a channel's own topic."""

    order_id: NonEmpty
    by: NonEmpty


class OrderHoldRequested(OperatorRequest):
    """Hold the order where it is (nothing more is booked or reserved) until an operator releases it
    (`order.hold_released`)."""

    type: Literal["order.hold_requested"] = "order.hold_requested"
    reason: Annotated[Note, Field(min_length=1)]


class OrderNoteAdded(OperatorRequest):
    """A note on the order: an event with its status unchanged and reason `note`."""

    type: Literal["order.note_added"] = "order.note_added"
    text: Annotated[Note, Field(min_length=1)]


class FulfillmentMoveRequested(OperatorRequest):
    """Move a fulfillment (or the shipment it makes) that its location has not started to `to_location_id`: asked
    to cancel there, then reserved at the new location only (as a reroute is), or refused with the reason."""

    type: Literal["fulfillment.move_requested"] = "fulfillment.move_requested"
    fulfillment_id: NonEmpty | None = None
    shipment_id: NonEmpty | None = None
    to_location_id: NonEmpty

    @model_validator(mode="after")
    def _names_one(self) -> FulfillmentMoveRequested:
        if not self.fulfillment_id and not self.shipment_id:
            raise ValueError("a move names the fulfillment_id or the shipment_id")
        return self


class RefundGoodwillRequested(OperatorRequest):
    """v1.2: give `amount` back as goodwill (no lines): the order service asks the payment side for it as
    `refund.requested` with reason `goodwill`, up to what was paid and not refunded yet, or says why not."""

    type: Literal["refund.goodwill_requested"] = "refund.goodwill_requested"
    amount: Money
    reason: Annotated[Note, Field(min_length=1)]


class NotificationResendRequested(OperatorRequest):
    """v1.2: send notification `notification_id` of the order again (as it was, by its medium), once per request."""

    type: Literal["notification.resend_requested"] = "notification.resend_requested"
    notification_id: NonEmpty


__all__ = [
    "Customer",
    "FulfillmentMoveRequested",
    "NotificationResendRequested",
    "OrderCancelRequested",
    "OrderChangeRequested",
    "OrderHoldReleased",
    "OrderHoldRequested",
    "OrderLine",
    "OrderNoteAdded",
    "OrderReturnRequested",
    "OrderSubmitted",
    "Payment",
    "Quantity",
    "RefundGoodwillRequested",
]
