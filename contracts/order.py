"""Messages the order service publishes: the public status event and the saga's commands."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from contracts.base import (
    Address,
    CountryCode,
    Echoed,
    Message,
    NonEmpty,
    OptionalText,
    SkuQuantity,
    Timestamp,
    Window,
    utcnow,
)
from contracts.partners import ReturnedLine
from contracts.payments import RefundLine

OrderStatus = Literal[
    "received", "accepted", "reserved", "released", "in_fulfillment", "ready_to_ship",
    "shipped", "delivered", "on_hold", "backordered", "cancelled", "rejected",
    "return_requested", "returned", "ready_for_pickup", "collected",
]
# an order in one of these is over (a delivered or collected one may still be returned, and so move on again)
ENDED: frozenset[str] = frozenset({"delivered", "collected", "returned", "cancelled", "rejected"})


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    code: NonEmpty
    message: str


class ShipmentView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    shipment_id: NonEmpty
    location_id: NonEmpty
    carrier_id: str | None = None
    tracking_number: str | None = None
    status: NonEmpty
    lines: list[SkuQuantity]
    ship_by: Timestamp | None = None  # when it must leave its location
    promised_by: Timestamp | None = None  # when it must arrive: the promise made at its reservation
    estimated_delivery: Timestamp | None = None  # the carrier's estimate, once booked
    pickup: bool = False  # collected by the customer at `location_id`
    to_store: bool = False  # on its way to the pickup store (`delivered`: arrived there, not with the customer)
    # v1.2: units still to come (status `backordered`, a pre-order or a backorder dated from inbound stock): when
    # they are expected to leave `location_id`
    expected_ship: Timestamp | None = None


class ReturnView(BaseModel):
    """One return of an order: asked for (`requested`), `received` (with what came back), or `expired`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    return_id: NonEmpty
    location_id: NonEmpty
    status: Literal["requested", "received", "expired"]
    lines: list[SkuQuantity]
    received: list[ReturnedLine] = Field(default_factory=list)
    exchange_external_id: str | None = None  # an exchange: the new order of the replacements, once received


class OrderStatusChanged(Message):
    """Public: every status change of an order, numbered 1, 2, 3... per order."""

    type: Literal["order.status_changed"] = "order.status_changed"
    order_id: NonEmpty
    channel: Echoed  # as the channel sent them, also when a rejected order's ids break the bounds
    external_id: Echoed
    status: OrderStatus
    previous_status: OrderStatus | None
    sequence: int = Field(ge=1, strict=True)
    occurred_at: Timestamp = Field(default_factory=utcnow)
    reason: Reason | None = None
    shipments: list[ShipmentView] = Field(default_factory=list)
    returns: list[ReturnView] = Field(default_factory=list)


class Destination(BaseModel):
    """Where an order goes, as far as choosing a location needs to know: no one's name or street."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    country: CountryCode
    region: OptionalText | None = None
    postal_code: OptionalText | None = None  # its postal region, where the network file gives their coordinates


class ReserveStock(Message):
    """Internal command to inventory: allocate and reserve these lines for an order going to `destination`."""

    type: Literal["inventory.reserve_stock"] = "inventory.reserve_stock"
    order_id: NonEmpty
    lines: list[SkuQuantity] = Field(min_length=1)
    destination: Destination
    attempt: int = 1
    excluded_locations: list[str] = Field(default_factory=list)
    channel: str | None = None  # allocation uses only the locations that serve it
    pickup_location_id: str | None = None  # collected there: that store first, else the nearest to it
    service_level: str = "standard"  # which carriers' lanes and promise a plan is scored on
    quote_id: str | None = None  # the quote the order was placed on: its plan kept where stock still allows
    window: Window | None = None  # the delivery slot asked for: claimed with the stock, or none reserved (slot_full)
    only_locations: list[str] | None = None  # a move: at these locations alone (each still as routing allows)

    @model_validator(mode="before")
    @classmethod
    def _destination_of_earlier_versions(cls, data: Any) -> Any:
        """Earlier versions sent the whole address (kept in sagas and backorders written then): its country."""
        if isinstance(data, dict) and "destination" not in data and isinstance(data.get("ship_to"), dict):
            data = {**data, "destination": {"country": data["ship_to"].get("country"),
                                            "region": data["ship_to"].get("region")}}
        return data


class ReleaseStock(Message):
    type: Literal["inventory.release_stock"] = "inventory.release_stock"
    order_id: NonEmpty
    reservation_id: str | None = Field(default=None, description="None releases all of the order's.")
    lines: list[SkuQuantity] | None = Field(default=None, description="Only these units of the reservation.")


class CommitStock(Message):
    type: Literal["inventory.commit_stock"] = "inventory.commit_stock"
    order_id: NonEmpty
    reservation_id: NonEmpty


class RequestFulfillment(Message):
    """Internal command to fulfillment: hand one reservation to its location."""

    type: Literal["fulfillment.request_fulfillment"] = "fulfillment.request_fulfillment"
    order_id: NonEmpty
    fulfillment_id: NonEmpty
    location_id: NonEmpty
    lines: list[SkuQuantity] = Field(min_length=1)
    ship_to: Address
    service_level: NonEmpty
    currency: str = "EUR"
    unit_prices: dict[str, str] = Field(default_factory=dict)
    paid: list[RefundLine] | None = None  # what the customer paid for these lines: discount and tax shares (v1.2)
    ship_by: Timestamp | None = None  # the order's promise (earlier versions: the fulfillment service's own)
    pickup: bool = False  # the customer collects it at this location (a store)
    collection: bool = False  # ...having come from another location: nothing to pick, nothing to accept in time
    shipment_id: str | None = None  # the shipment it leaves as (a drop-ship supplier's carrier is given it)


class CancelFulfillment(Message):
    type: Literal["fulfillment.cancel_fulfillment"] = "fulfillment.cancel_fulfillment"
    order_id: NonEmpty
    fulfillment_id: NonEmpty
    reason: str | None = None
    lines: list[SkuQuantity] | None = None  # only these units of it


class ChangeFulfillment(Message):
    """Internal command to fulfillment: the order's address or speed changed after the hand-off."""

    type: Literal["fulfillment.change_fulfillment"] = "fulfillment.change_fulfillment"
    order_id: NonEmpty
    fulfillment_id: NonEmpty
    ship_to: Address
    service_level: NonEmpty


class BookShipment(Message):
    """Internal command to shipping: choose a carrier and book the packed parcels."""

    type: Literal["shipping.book_shipment"] = "shipping.book_shipment"
    order_id: NonEmpty
    shipment_id: NonEmpty
    location_id: NonEmpty
    service_level: NonEmpty
    ship_to: Address
    parcels: list[dict[str, object]] = Field(default_factory=list)
    excluded_carriers: list[str] = Field(default_factory=list)
    deliver_by: Timestamp | None = None  # the promise: the carrier's on-time share is measured against it
    delivery_window: Window | None = None  # the customer's slot (its end is `deliver_by`)
    # booked by the sender already (a drop-ship supplier's own carrier): followed, not booked again
    carrier_id: str | None = None
    tracking_number: str | None = None


class ExpectReturn(Message):
    """Internal command to fulfillment: tell the return location what to expect."""

    type: Literal["fulfillment.expect_return"] = "fulfillment.expect_return"
    order_id: NonEmpty
    return_id: NonEmpty
    location_id: NonEmpty
    lines: list[SkuQuantity] = Field(min_length=1)
    reason: str | None = None


class SetLocationPaused(Message):
    """Internal command to inventory (from fulfillment, which reads the locations' topics): allocate nothing more
    at `location_id` while `paused`."""

    type: Literal["inventory.set_location_paused"] = "inventory.set_location_paused"
    location_id: NonEmpty
    paused: bool
    reason: str | None = None


class Restock(Message):
    """Internal command to inventory: returned units arrived at `location_id` (resellable back on hand, damaged
    written off)."""

    type: Literal["inventory.restock"] = "inventory.restock"
    order_id: NonEmpty
    return_id: NonEmpty
    location_id: NonEmpty
    lines: list[ReturnedLine] = Field(min_length=1)


SHIPMENT_VIEWS = TypeAdapter(list[ShipmentView])  # an event's shipments as JSON, straight (read models keep them)
RETURN_VIEWS = TypeAdapter(list[ReturnView])
