"""Messages between the OMS and its warehouse and carrier partners (public, v1)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import (
    MAX_LINES,
    Address,
    Message,
    Money,
    NonEmpty,
    Note,
    Quantity,
    SkuQuantity,
    Timestamp,
    Window,
)


class InvoiceLine(BaseModel):
    """`total` is what the customer paid for these units: `net` (list price less `discount`) plus `tax` (v1.2)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: NonEmpty
    quantity: int
    unit_price: Money
    total: Money
    discount: Money | None = None
    net: Money | None = None
    tax: Money | None = None


class Invoice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    number: NonEmpty
    currency: NonEmpty
    lines: list[InvoiceLine]
    total: Money
    discount: Money | None = None  # v1.2: the lines' sums
    net: Money | None = None
    tax: Money | None = None


class Parcel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    parcel_id: NonEmpty
    weight_grams: int = Field(gt=0, le=1_000_000)
    length_cm: int | None = None
    width_cm: int | None = None
    height_cm: int | None = None


class FulfillmentRequested(Message):
    type: Literal["fulfillment.requested"] = "fulfillment.requested"
    fulfillment_id: NonEmpty
    order_id: NonEmpty
    location_id: NonEmpty
    lines: list[SkuQuantity] = Field(min_length=1)
    ship_to: Address
    service_level: NonEmpty
    ship_by: Timestamp
    invoice: Invoice | None = None
    pickup: bool = False  # v1.1: the customer collects it here (answer ready_for_pickup, then collected)


class FulfillmentCancelRequested(Message):
    """Cancel the fulfillment, or (v1.1) only `lines` of it."""

    type: Literal["fulfillment.cancel_requested"] = "fulfillment.cancel_requested"
    fulfillment_id: NonEmpty
    order_id: NonEmpty
    reason: Note | None = None
    lines: list[SkuQuantity] | None = None


class FulfillmentChanged(Message):
    """The order's address or shipping speed changed after the hand-off (v1.1): ship these instead."""

    type: Literal["fulfillment.changed"] = "fulfillment.changed"
    fulfillment_id: NonEmpty
    order_id: NonEmpty
    ship_to: Address
    service_level: NonEmpty


class FulfillmentUpdate(Message):
    fulfillment_id: NonEmpty


class FulfillmentAccepted(FulfillmentUpdate):
    type: Literal["fulfillment.accepted"] = "fulfillment.accepted"


class FulfillmentRejected(FulfillmentUpdate):
    type: Literal["fulfillment.rejected"] = "fulfillment.rejected"
    reason: Annotated[Note, Field(min_length=1)]
    short_lines: Annotated[list[SkuQuantity], Field(max_length=MAX_LINES)] | None = None


class FulfillmentPicked(FulfillmentUpdate):
    type: Literal["fulfillment.picked"] = "fulfillment.picked"


class FulfillmentPacked(FulfillmentUpdate):
    type: Literal["fulfillment.packed"] = "fulfillment.packed"
    parcels: list[Parcel] = Field(min_length=1, max_length=MAX_LINES)


class FulfillmentQcFailed(FulfillmentUpdate):
    type: Literal["fulfillment.qc_failed"] = "fulfillment.qc_failed"
    reason: Note | None = None


class FulfillmentCancelled(FulfillmentUpdate):
    """Cancelled: the whole fulfillment, or (v1.1) the `lines` a partial cancel asked for."""

    type: Literal["fulfillment.cancelled"] = "fulfillment.cancelled"
    lines: Annotated[list[SkuQuantity], Field(max_length=MAX_LINES)] | None = None


class FulfillmentCancelRefused(FulfillmentUpdate):
    type: Literal["fulfillment.cancel_refused"] = "fulfillment.cancel_refused"
    reason: Note | None = None


class FulfillmentReadyForPickup(FulfillmentUpdate):
    """From the pickup store (v1.1): the order waits for its customer at the counter."""

    type: Literal["fulfillment.ready_for_pickup"] = "fulfillment.ready_for_pickup"


class FulfillmentCollected(FulfillmentUpdate):
    """From the pickup store (v1.1): the customer took it (a till order may say so at once)."""

    type: Literal["fulfillment.collected"] = "fulfillment.collected"


class ReturnedLine(BaseModel):
    """Units that came back, and in what state: `resellable` goes back on hand, `damaged` is written off."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: NonEmpty
    quantity: Quantity
    condition: Literal["resellable", "damaged"]


class ReturnExpected(Message):
    """To the location a customer returns to: what to expect, under which return id."""

    type: Literal["return.expected"] = "return.expected"
    return_id: NonEmpty
    order_id: NonEmpty
    lines: list[SkuQuantity] = Field(min_length=1, max_length=MAX_LINES)
    reason: Note | None = None


class ReturnReceived(Message):
    """From that location: what arrived, line by line with its condition."""

    type: Literal["return.received"] = "return.received"
    return_id: NonEmpty
    lines: list[ReturnedLine] = Field(min_length=1, max_length=MAX_LINES)


class LocationPaused(Message):
    """From a store (or an operator for it), on its updates topic: send it no new work until it resumes. Key: the
    location id."""

    type: Literal["location.paused"] = "location.paused"
    location_id: NonEmpty
    reason: Note | None = None


class LocationResumed(Message):
    """From the same: it takes new work again."""

    type: Literal["location.resumed"] = "location.resumed"
    location_id: NonEmpty
    reason: Note | None = None


class ShipmentBookingRequested(Message):
    type: Literal["shipment.booking_requested"] = "shipment.booking_requested"
    shipment_id: NonEmpty
    order_id: NonEmpty
    carrier_id: NonEmpty
    service_level: NonEmpty
    from_location_id: NonEmpty
    ship_from: Address
    ship_to: Address
    parcels: list[Parcel] = Field(min_length=1, max_length=MAX_LINES)
    delivery_window: Window | None = None  # v1.2: the slot the customer chose: deliver within it


class ShipmentCancelRequested(Message):
    type: Literal["shipment.cancel_requested"] = "shipment.cancel_requested"
    shipment_id: NonEmpty
    order_id: NonEmpty
    reason: Note | None = None


class ShipmentUpdate(Message):
    shipment_id: NonEmpty


class ShipmentBooked(ShipmentUpdate):
    type: Literal["shipment.booked"] = "shipment.booked"
    tracking_number: NonEmpty
    pickup_at: Timestamp | None = None
    estimated_delivery: Timestamp | None = None


class ShipmentBookingFailed(ShipmentUpdate):
    type: Literal["shipment.booking_failed"] = "shipment.booking_failed"
    reason: Annotated[Note, Field(min_length=1)]


class ShipmentPickedUp(ShipmentUpdate):
    type: Literal["shipment.picked_up"] = "shipment.picked_up"


class ShipmentInTransit(ShipmentUpdate):
    type: Literal["shipment.in_transit"] = "shipment.in_transit"


class ShipmentDelivered(ShipmentUpdate):
    type: Literal["shipment.delivered"] = "shipment.delivered"
    delivered_at: Timestamp


class ShipmentException(ShipmentUpdate):
    type: Literal["shipment.exception"] = "shipment.exception"
    reason: Annotated[Note, Field(min_length=1)]


class PickupRequested(Message):
    """v1.2, to a carrier ahead of a pickup: the manifest of what it collects at `location_id` at `at` (key: the
    pickup's id)."""

    type: Literal["pickup.requested"] = "pickup.requested"
    pickup_id: NonEmpty
    location_id: NonEmpty
    carrier_id: NonEmpty
    at: Timestamp
    shipment_ids: list[str] = Field(min_length=1)
    parcels: int = Field(ge=0)
    weight_grams: int = Field(ge=0)


class PickupConfirmed(Message):
    type: Literal["pickup.confirmed"] = "pickup.confirmed"
    pickup_id: NonEmpty


class PickupMissed(Message):
    """The carrier did not (or will not) come: the shipments of the pickup wait for the next one."""

    type: Literal["pickup.missed"] = "pickup.missed"
    pickup_id: NonEmpty
    reason: Note | None = None


class TransferRequested(Message):
    """v1.2, to the source location: send `quantity` of `sku` to `to_location_id` (the OMS holds them back from
    sale until the location says what it shipped)."""

    type: Literal["transfer.requested"] = "transfer.requested"
    transfer_id: NonEmpty
    sku: NonEmpty
    quantity: Quantity
    to_location_id: NonEmpty


class TransferShipped(Message):
    """v1.2, from the source location: `quantity` left for the destination, there by `eta` (fewer than asked: the
    rest is for sale again)."""

    type: Literal["transfer.shipped"] = "transfer.shipped"
    transfer_id: NonEmpty
    quantity: Annotated[int, Field(ge=0, le=10**9, strict=True)]
    eta: Timestamp


class TransferExpected(Message):
    """v1.2, to the destination once the source shipped: what is on its way, from where, and when (an advance
    notice, as a purchase order's is)."""

    type: Literal["transfer.expected"] = "transfer.expected"
    transfer_id: NonEmpty
    sku: NonEmpty
    quantity: Quantity
    from_location_id: NonEmpty
    eta: Timestamp


class TransferReceived(Message):
    """v1.2, from the destination: `quantity` arrived (a difference from what was shipped is written off or found,
    as `stock.adjusted` with the reason)."""

    type: Literal["transfer.received"] = "transfer.received"
    transfer_id: NonEmpty
    quantity: Annotated[int, Field(ge=0, le=10**9, strict=True)]


class PurchaseOrderLine(BaseModel):
    """What the OMS buys of one SKU from a drop-ship supplier, at the supplier's price (`unit_cost`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: NonEmpty
    quantity: Quantity
    unit_cost: Money


class PurchaseOrderRequested(Message):
    """v1.2, to a drop-ship supplier: ship these units to the customer (`ship_to`) by `ship_by`. `lines` carry the
    supplier's prices; `packing_slip` is what goes in the parcel, without prices. A supplier that books its own
    carrier gives it `shipment_id` as the reference its tracking names."""

    type: Literal["purchase_order.requested"] = "purchase_order.requested"
    po_id: NonEmpty
    order_id: NonEmpty
    lines: list[PurchaseOrderLine] = Field(min_length=1, max_length=MAX_LINES)
    currency: NonEmpty = "EUR"
    ship_to: Address
    service_level: NonEmpty = "standard"
    ship_by: Timestamp | None = None
    packing_slip: list[SkuQuantity] = Field(default_factory=list)
    shipment_id: NonEmpty | None = None


class PurchaseOrderCancelled(Message):
    """v1.2, to a drop-ship supplier: the OMS withdraws a purchase order not yet shipped (the customer cancelled,
    or the supplier did not acknowledge it in time); nothing to answer."""

    type: Literal["purchase_order.cancelled"] = "purchase_order.cancelled"
    po_id: NonEmpty
    order_id: NonEmpty
    reason: Note | None = None


class PurchaseOrderChanged(Message):
    """v1.2, to a drop-ship supplier: ship a purchase order not yet shipped to this address, at this speed."""

    type: Literal["purchase_order.changed"] = "purchase_order.changed"
    po_id: NonEmpty
    order_id: NonEmpty
    ship_to: Address
    service_level: NonEmpty


class PurchaseOrderAcknowledged(Message):
    """v1.2, from the supplier: it will ship the purchase order."""

    type: Literal["purchase_order.acknowledged"] = "purchase_order.acknowledged"
    po_id: NonEmpty


class PurchaseOrderRejected(Message):
    """v1.2, from the supplier: it will not ship it (the OMS allocates the units elsewhere, as for a warehouse that
    rejects)."""

    type: Literal["purchase_order.rejected"] = "purchase_order.rejected"
    po_id: NonEmpty
    reason: Note | None = None


class PurchaseOrderShipped(Message):
    """v1.2, from the supplier. With `carrier_id` (one of the network's carriers) and `tracking_number`: the goods
    left with a carrier it booked itself (the order is shipped), and the OMS follows that carrier's tracking;
    without: the parcels are ready, and the OMS books a carrier to collect them."""

    type: Literal["purchase_order.shipped"] = "purchase_order.shipped"
    po_id: NonEmpty
    carrier_id: NonEmpty | None = None
    tracking_number: NonEmpty | None = None
    parcels: list[Parcel] = Field(default_factory=list, max_length=MAX_LINES)


class ShipmentTrackingRequested(Message):
    """v1.2, to a carrier: a shipment someone else booked with it (a drop-ship supplier) under `tracking_number`;
    report its progress on the updates topic under `shipment_id`, as for a shipment the OMS booked."""

    type: Literal["shipment.tracking_requested"] = "shipment.tracking_requested"
    shipment_id: NonEmpty
    order_id: NonEmpty
    tracking_number: NonEmpty
