"""Stock messages: the public feeds and events, and inventory's replies to the saga."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Message, NonEmpty, Note, Quantity, SkuQuantity, Timestamp

MAX_STOCK = 1_000_000_000  # on hand or a change of it, per SKU and location


class StockMessage(Message):
    sku: NonEmpty
    location_id: NonEmpty


class StockCounted(StockMessage):
    """Public, inbound: an absolute count of what is on hand."""

    type: Literal["stock.counted"] = "stock.counted"
    on_hand: Annotated[int, Field(ge=0, le=MAX_STOCK, strict=True)]


class StockAdjusted(StockMessage):
    type: Literal["stock.adjusted"] = "stock.adjusted"
    delta: Annotated[int, Field(ge=-MAX_STOCK, le=MAX_STOCK, strict=True)]
    reason: Note | None = None


class StockInboundExpected(StockMessage):
    type: Literal["stock.inbound_expected"] = "stock.inbound_expected"
    quantity: Quantity
    eta: Timestamp


class StockReceived(StockMessage):
    type: Literal["stock.received"] = "stock.received"
    quantity: Quantity


class StockLevelChanged(StockMessage):
    """Public, outbound: the levels of one SKU at one location after a transaction that changed them (a batch
    that changes them several times sends the last levels only)."""

    latest_only: ClassVar[tuple[str, ...]] = ("sku", "location_id")
    type: Literal["stock.level_changed"] = "stock.level_changed"
    on_hand: int
    reserved: int
    available: int
    inbound: int


class StockAvailabilityChanged(Message):
    """Public, outbound (v1.1): what a channel may sell of a SKU now, over the locations that serve it, less its
    buffer; sent when that number changed (one per SKU and channel per transaction, with the last number)."""

    latest_only: ClassVar[tuple[str, ...]] = ("sku", "channel")
    type: Literal["stock.availability_changed"] = "stock.availability_changed"
    sku: NonEmpty
    channel: NonEmpty
    available: int


class StockLow(StockMessage):
    type: Literal["stock.low"] = "stock.low"
    available: int
    reorder_point: int


class Allocation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    reservation_id: NonEmpty
    location_id: NonEmpty
    lines: list[SkuQuantity]


class StockReserved(Message):
    type: Literal["inventory.stock_reserved"] = "inventory.stock_reserved"
    order_id: NonEmpty
    allocations: list[Allocation] = Field(min_length=1)
    request_id: str | None = None  # the `inventory.reserve_stock` this answers (absent from earlier versions)
    backordered: list[SkuQuantity] = Field(default_factory=list)  # ship_available: what waits, answered later


class StockReservationFailed(Message):
    type: Literal["inventory.stock_reservation_failed"] = "inventory.stock_reservation_failed"
    order_id: NonEmpty
    reason: NonEmpty
    unknown_skus: list[str] = Field(default_factory=list)
    request_id: str | None = None


class StockReleased(Message):
    type: Literal["inventory.stock_released"] = "inventory.stock_released"
    order_id: NonEmpty
    reservation_ids: list[str]


class PlannedShipment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    location_id: NonEmpty
    lines: list[SkuQuantity] = Field(min_length=1)


class ScoredPlan(BaseModel):
    """One plan allocation weighed: where each line would ship from, its score (lowest wins) and the score's parts
    (shipping, late, split, distance, reliability, workload)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    allocations: list[PlannedShipment] = Field(min_length=1)
    total: float
    parts: dict[str, float] = Field(default_factory=dict)


class AllocationDecided(Message):
    """Internal: where inventory chose to ship an order from, and why: the chosen plan and the best two it did not
    take, each with its score. Sent with the reservation it led to (or alone, when the stock was not enough)."""

    type: Literal["allocation.decided"] = "allocation.decided"
    order_id: NonEmpty
    request_id: str | None = None  # the `inventory.reserve_stock` it decided
    channel: str | None = None
    chosen: ScoredPlan
    alternatives: list[ScoredPlan] = Field(default_factory=list, max_length=2)
