"""Internal events of the fulfillment and shipping services, read by the order saga."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.base import Message, NonEmpty, SkuQuantity, Timestamp
from contracts.partners import Parcel, ReturnedLine


class FulfillmentProgressed(Message):
    """A warehouse moved a fulfillment on (accepted, picked, packed, rejected, timed out...)."""

    type: Literal["fulfillment.progressed"] = "fulfillment.progressed"
    order_id: NonEmpty
    fulfillment_id: NonEmpty
    location_id: NonEmpty
    status: NonEmpty
    reason: str | None = None
    short_lines: list[SkuQuantity] = Field(default_factory=list)
    parcels: list[Parcel] = Field(default_factory=list)
    lines: list[SkuQuantity] = Field(default_factory=list)  # with `lines_cancelled`: the units the warehouse cancelled
    # `packed` by a drop-ship supplier that booked its own carrier: that carrier and its tracking number
    carrier_id: str | None = None
    tracking_number: str | None = None


class ShipmentProgressed(Message):
    """A carrier moved a shipment on (booked, picked_up, in_transit, delivered, exception...)."""

    type: Literal["shipping.shipment_progressed"] = "shipping.shipment_progressed"
    order_id: NonEmpty
    shipment_id: NonEmpty
    carrier_id: str | None = None
    tracking_number: str | None = None
    status: NonEmpty
    reason: str | None = None
    estimated_delivery: Timestamp | None = None  # the carrier's estimate, when it gives one
    next_pickup_at: Timestamp | None = None  # `pickup_missed`: when the carrier collects it now


class ReturnArrived(Message):
    """A return location reported what came back of a return it was told to expect."""

    type: Literal["fulfillment.return_received"] = "fulfillment.return_received"
    order_id: NonEmpty
    return_id: NonEmpty
    location_id: NonEmpty
    lines: list[ReturnedLine] = Field(min_length=1)


class PartnerScored(Message):
    """Public: one partner's scorecard over its recent requests (`window_s`), sent when it changes. Allocation gives
    less work to a location failing more than a healthy share of its requests (rejections, QC failures), and
    weighs its open requests where the channel's routing asks for it; shipping passes over a carrier failing more
    than that share (refused, unanswered, exceptions)."""

    type: Literal["partner.scored"] = "partner.scored"
    partner_id: NonEmpty
    kind: Literal["location", "carrier"] = "location"
    window_s: int = Field(ge=1)
    requests: int = Field(ge=0)
    rejected: int = Field(ge=0)
    qc_failed: int = Field(ge=0)
    failure_rate: float = Field(ge=0, le=1)
    accept_latency_s: float | None = None  # the median, of the requests accepted in the window
    accept_to_pack_s: float | None = None  # the median time from accepted to packed
    pick_to_pack_s: float | None = None  # the median time from picked to packed
    packed_on_time_rate: float | None = Field(default=None, ge=0, le=1)  # packed by its ship-by time, of those packed
    delivered_on_time_rate: float | None = Field(default=None, ge=0, le=1)  # a carrier's: delivered by the promise
    exceptions: int = Field(default=0, ge=0)  # a carrier's shipments that reported an exception (failures too)
    open_requests: int | None = Field(default=None, ge=0)  # of the window's requests, those not yet done (its load)
    scored_at: Timestamp


class RequestTransfer(Message):
    """Internal, inventory to fulfillment (v1.2): ask the source location to send units to another; it is told the
    destination once they left."""

    type: Literal["fulfillment.request_transfer"] = "fulfillment.request_transfer"
    transfer_id: NonEmpty
    sku: NonEmpty
    quantity: int = Field(ge=1)
    from_location_id: NonEmpty
    to_location_id: NonEmpty


class TransferProgressed(Message):
    """Internal, fulfillment to inventory (v1.2): the source shipped `quantity` (there by `eta`), or the destination
    received `quantity`."""

    type: Literal["inventory.transfer_progressed"] = "inventory.transfer_progressed"
    transfer_id: NonEmpty
    status: Literal["shipped", "received"]
    quantity: int = Field(ge=0)
    eta: Timestamp | None = None
