"""Stock messages: the public feeds and events, and inventory's replies to the saga."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Message, NonEmpty, Note, Quantity, SkuQuantity, Timestamp, Window
from contracts.promises import QuoteOutcome

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
    """Units on their way to a location, there by `eta`. With `po_id` (v1.2), one line of a purchase order: sent
    again for the same order, SKU and location, it replaces the line (a new quantity or ETA); orders waiting for
    those units are told when their date moves."""

    type: Literal["stock.inbound_expected"] = "stock.inbound_expected"
    quantity: Quantity
    eta: Timestamp
    po_id: NonEmpty | None = None


class StockTransferRequested(Message):
    """v1.2, an operator's request (`oms transfer`) or inventory's own proposal: move `quantity` of `sku` from one
    location to another. Held back from sale at the source at once; refused (in the log and `oms transfers`) when
    the source has not that many available."""

    type: Literal["stock.transfer_requested"] = "stock.transfer_requested"
    sku: NonEmpty
    quantity: Quantity
    from_location_id: NonEmpty
    to_location_id: NonEmpty
    reason: Note | None = None
    by: str | None = None


class StockReceived(StockMessage):
    """Units arrived; with `po_id` (v1.2) those of that purchase order, whose line is closed (its ETA no longer
    counts)."""

    type: Literal["stock.received"] = "stock.received"
    quantity: Quantity
    po_id: NonEmpty | None = None


class StockLevelChanged(StockMessage):
    """Public, outbound: the levels of one SKU at one location after they changed: held back and sent as the
    latest levels, at most once per `OMS_HOLD_STATE_MS` (`runtime.outbox.held`)."""

    latest_only: ClassVar[tuple[str, ...]] = ("sku", "location_id")
    type: Literal["stock.level_changed"] = "stock.level_changed"
    on_hand: int
    reserved: int
    available: int
    inbound: int


class StockAvailabilityChanged(Message):
    """Public, outbound (v1.1): what a channel may sell of a SKU now, over the locations that serve it, less its
    buffer; sent when that number changed, held back and sent as the latest number at most once per
    `OMS_HOLD_STATE_MS`."""

    latest_only: ClassVar[tuple[str, ...]] = ("sku", "channel")
    type: Literal["stock.availability_changed"] = "stock.availability_changed"
    sku: NonEmpty
    channel: NonEmpty
    available: int
    preorderable: int | None = None  # v1.2, a channel that sells pre-orders: units on their way to its locations
    available_from: Timestamp | None = None  # v1.2, with `preorderable`: when the earliest of them arrive


class StockLow(StockMessage):
    type: Literal["stock.low"] = "stock.low"
    available: int
    reorder_point: int


class Allocation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    reservation_id: NonEmpty
    location_id: NonEmpty
    lines: list[SkuQuantity]
    ship_by: Timestamp | None = None  # the quote's promise, where the order kept its quote (else the saga's own)
    deliver_by: Timestamp | None = None


class StockReserved(Message):
    type: Literal["inventory.stock_reserved"] = "inventory.stock_reserved"
    order_id: NonEmpty
    allocations: list[Allocation] = Field(min_length=1)
    request_id: str | None = None  # the `inventory.reserve_stock` this answers (absent from earlier versions)
    backordered: list[SkuQuantity] = Field(default_factory=list)  # ship_available: what waits, answered later
    quote: QuoteOutcome | None = None  # the order named a quote: kept, or why not
    decision: str | None = None  # v1.2: the plan chosen and its score's parts (the order's `reserved` event says it)


class StockReservationFailed(Message):
    type: Literal["inventory.stock_reservation_failed"] = "inventory.stock_reservation_failed"
    order_id: NonEmpty
    reason: NonEmpty
    unknown_skus: list[str] = Field(default_factory=list)
    request_id: str | None = None
    free_slots: list[Window] = Field(default_factory=list)  # slot_full: the carrier's windows with room left
    expected_at: Timestamp | None = None  # insufficient_stock (v1.2): when the inbound units it waits for arrive
    expected_ship: Timestamp | None = None  # ...when it leaves then, and from where
    expected_location_id: str | None = None


class StockExpected(Message):
    """Internal (v1.2): the inbound units a waiting order is served from now arrive at `expected_at` instead of
    `previous` (a purchase order's ETA moved)."""

    type: Literal["inventory.stock_expected"] = "inventory.stock_expected"
    order_id: NonEmpty
    expected_at: Timestamp | None
    previous: Timestamp | None
    skus: list[str] = Field(default_factory=list)
    expected_ship: Timestamp | None = None  # when it leaves then, and from where
    expected_location_id: str | None = None


class StockReleased(Message):
    type: Literal["inventory.stock_released"] = "inventory.stock_released"
    order_id: NonEmpty
    reservation_ids: list[str]


