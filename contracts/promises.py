"""Delivery promises before the order (public, v1.2): a channel asks what the OMS would promise for a basket and
where; each option is a quote that an `order.submitted` naming its `quote_id` keeps while stock allows."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.base import MAX_LINES, Message, Money, NonEmpty, SkuQuantity, Timestamp, Window
from contracts.order import Destination, Reason

Speed = Literal["standard", "express"]


class PromiseRequested(Message):
    """What would be promised for these lines: shipped to `destination` (every speed, or `shipping_speed` only, and
    collection at each store that can serve it), or collected at `pickup_location_id`."""

    type: Literal["promise.requested"] = "promise.requested"
    channel: NonEmpty
    lines: list[SkuQuantity] = Field(min_length=1, max_length=MAX_LINES)
    destination: Destination | None = None
    pickup_location_id: NonEmpty | None = None
    shipping_speed: Speed | None = None

    @model_validator(mode="after")
    def _one_place(self) -> PromiseRequested:
        if (self.destination is None) == (self.pickup_location_id is None):
            raise ValueError("a promise request names a destination or a pickup_location_id (one of them)")
        return self

    @property
    def order_key(self) -> str:  # its key on an inbound topic: the channel, and the request's own id
        return f"{self.channel}:{self.id}"


class PromiseOption(BaseModel):
    """One way the order could go, as it would be planned now: from `location_ids` (a split: several), booked with
    `carrier_id` (the first shipment's), leaving by `ship_by` and there by `promised_by` (the latest shipment's)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    quote_id: NonEmpty
    method: Literal["ship", "pickup"]
    shipping_speed: Speed
    location_ids: list[str]
    carrier_id: str | None = None
    ship_by: Timestamp
    promised_by: Timestamp
    shipping_cost: Money  # the carriers' rates of its shipments, in the network file's terms
    pickup_location_id: str | None = None
    slots: list[Window] = []  # free delivery windows of its carrier in the destination's region (none: no slots there)


class PromiseQuoted(Message):
    """The answer to `promise.requested` (`request_id`): its options, each valid until `expires_at`; none, with
    `reason`, when nothing can be promised now (an unknown SKU, no stock)."""

    type: Literal["promise.quoted"] = "promise.quoted"
    request_id: NonEmpty
    channel: NonEmpty
    options: list[PromiseOption]
    expires_at: Timestamp
    reason: Reason | None = None


class QuoteStock(Message):
    """Internal command to inventory: quote this request (the order service passes on what a channel asked)."""

    type: Literal["inventory.quote_stock"] = "inventory.quote_stock"
    request: PromiseRequested


class StockQuoted(Message):
    """Inventory's quote, which the order service publishes to the channel as it is."""

    type: Literal["inventory.stock_quoted"] = "inventory.stock_quoted"
    quoted: PromiseQuoted


class QuoteOutcome(BaseModel):
    """What became of the quote an order named (on its reservation): `kept` (its plan and dates), or `expired` (or
    unknown) or `changed` (its stock went): planned anew, and the order is told so with the new promise."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    quote_id: NonEmpty
    outcome: Literal["kept", "expired", "changed"]
    promised_by: Timestamp | None = None  # as quoted
    why: str = ""
