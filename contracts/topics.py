"""The one registry of topics: name, key, partitions and which messages travel on each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from contracts import channels, fulfillment, inventory, notification, order, partners, payments, promises
from contracts.base import Message

ORDER_PARTITIONS = 12


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    messages: tuple[type[Message], ...]
    partitions: int = ORDER_PARTITIONS
    public: bool = True
    description: str = ""
    compacted: bool = False  # the latest record per key is what counts (the broker keeps at least that)
    personal: bool = False  # holds customers' names, addresses or contacts: kept `PERSONAL_RETENTION_DAYS`, not shown
    # to the operators' reading principal

    def for_partner(self, partner_id: str) -> str:
        """Partner topics are templates: `partners.warehouse.{partner}.requests.v1`."""
        return self.name.replace("{partner}", partner_id)

    def matches(self, name: str) -> bool:
        """`name` is this topic, or one partner's topic of this template."""
        if "{partner}" not in self.name:
            return name == self.name
        prefix, suffix = self.name.split("{partner}")
        return len(name) > len(prefix) + len(suffix) and name.startswith(prefix) and name.endswith(suffix)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    @cached_property
    def message_types(self) -> dict[str, type[Message]]:  # looked up for every message read: made once
        return {m.model_fields["type"].default: m for m in self.messages}


ORDERS_INBOUND = Topic(
    "oms.orders.inbound.v1", "<channel>:<external_id>",
    (channels.OrderSubmitted, channels.OrderCancelRequested, channels.OrderHoldReleased,
     channels.OrderReturnRequested, channels.OrderChangeRequested, promises.PromiseRequested,
     channels.OrderHoldRequested, channels.OrderNoteAdded, channels.FulfillmentMoveRequested,
     channels.RefundGoodwillRequested, channels.NotificationResendRequested),
    description="Orders and requests about them from channels, marketplaces and operators; a channel's question "
                "of what the OMS would promise (answered on its events topic).", personal=True,
)
CHANNEL_INBOUND = Topic(
    "oms.channels.{partner}.inbound.v1", "<channel>:<external_id>", ORDERS_INBOUND.messages, partitions=3,
    description="One channel's orders and requests about them, written by that channel alone: a message here that "
                "names another channel changes nothing.", personal=True,
)
ORDERS_EVENTS = Topic(
    "oms.orders.events.v1", "order id", (order.OrderStatusChanged,),
    description="Every status change of every order, numbered per order (for the OMS's services and operators; "
                "a channel reads its own events topic).",
)
CHANNEL_EVENTS = Topic(
    "oms.channels.{partner}.events.v1", "order id",
    (order.OrderStatusChanged, payments.RefundRequested, payments.PaymentCaptureRequested, promises.PromiseQuoted),
    partitions=3,
    description="One channel's own orders' status changes, refunds and captures, the same messages as on "
                "oms.orders.events.v1 and oms.payments.v1, and the answers to its promise requests (key: the "
                "request's id): only that channel may read it.",
)
INVENTORY_ADJUSTMENTS = Topic(
    "oms.inventory.adjustments.v1", "SKU",
    (inventory.StockCounted, inventory.StockAdjusted, inventory.StockInboundExpected,
     inventory.StockReceived, partners.LocationPaused, partners.LocationResumed, inventory.StockTransferRequested),
    description="Stock feeds from WMS, stores, suppliers and operators; an operator's pause of a location (key: its "
                "location id); an operator's transfer between locations.",
)
FEED_ADJUSTMENTS = Topic(
    "oms.feeds.{partner}.adjustments.v1", "SKU", INVENTORY_ADJUSTMENTS.messages, partitions=3,
    description="One stock feed's adjustments, written by that feed alone, for the locations the network file gives "
                "it: one naming another location changes nothing.",
)
INVENTORY_EVENTS = Topic(
    "oms.inventory.events.v1", "SKU", (inventory.StockLevelChanged, inventory.StockLow, inventory.StockAdjusted),
    description="Stock levels after every change, and low-stock warnings; a transfer's variance (`stock.adjusted`).",
)
AVAILABILITY = Topic(
    "oms.inventory.availability.v1", "<sku>|<channel>", (inventory.StockAvailabilityChanged,), compacted=True,
    description="What each channel may sell of each SKU, sent when it changes; compacted: the latest per key stays.",
)
CHANNEL_AVAILABILITY = Topic(
    "oms.channels.{partner}.availability.v1", "<sku>|<channel>", (inventory.StockAvailabilityChanged,),
    partitions=3, compacted=True,
    description="What one channel may sell of each SKU (its share of oms.inventory.availability.v1): only that "
                "channel may read it.",
)
WAREHOUSE_REQUESTS = Topic(
    "partners.warehouse.{partner}.requests.v1", "order id",
    (partners.FulfillmentRequested, partners.FulfillmentCancelRequested, partners.FulfillmentChanged,
     partners.ReturnExpected, partners.TransferRequested, partners.TransferExpected), partitions=3,
    description="Requests to one warehouse or store (a transfer's: key its transfer id).", personal=True,
)
WAREHOUSE_UPDATES = Topic(
    "partners.warehouse.{partner}.updates.v1", "order id",
    (partners.FulfillmentAccepted, partners.FulfillmentRejected, partners.FulfillmentPicked,
     partners.FulfillmentPacked, partners.FulfillmentQcFailed, partners.FulfillmentCancelled,
     partners.FulfillmentCancelRefused, partners.ReturnReceived, partners.LocationPaused,
     partners.LocationResumed, partners.FulfillmentReadyForPickup, partners.FulfillmentCollected,
     partners.TransferShipped, partners.TransferReceived), partitions=3,
    description="Progress reported by one warehouse or store; its pauses (key: its location id).",
)
CARRIER_REQUESTS = Topic(
    "partners.carrier.{partner}.requests.v1", "order id",
    (partners.ShipmentBookingRequested, partners.ShipmentCancelRequested, partners.PickupRequested,
     partners.ShipmentTrackingRequested), partitions=3,
    description="Booking and cancel requests to one carrier; each pickup's manifest ahead of it (key: the pickup's "
                "id); shipments a drop-ship supplier booked with it, to track.", personal=True,
)
CARRIER_UPDATES = Topic(
    "partners.carrier.{partner}.updates.v1", "order id",
    (partners.ShipmentBooked, partners.ShipmentBookingFailed, partners.ShipmentPickedUp,
     partners.ShipmentInTransit, partners.ShipmentDelivered, partners.ShipmentException, partners.PickupConfirmed,
     partners.PickupMissed),
    partitions=3, description="Tracking reported by one carrier; its answer to each pickup (key: the pickup's id).",
)
SUPPLIER_REQUESTS = Topic(
    "partners.supplier.{partner}.requests.v1", "order id",
    (partners.PurchaseOrderRequested, partners.PurchaseOrderCancelled, partners.PurchaseOrderChanged), partitions=3,
    description="Purchase orders to one drop-ship supplier: what to ship to which customer.", personal=True,
)
SUPPLIER_UPDATES = Topic(
    "partners.supplier.{partner}.updates.v1", "order id",
    (partners.PurchaseOrderAcknowledged, partners.PurchaseOrderRejected, partners.PurchaseOrderShipped),
    partitions=3, description="One drop-ship supplier's answers to its purchase orders.",
)
NOTIFICATIONS = Topic(
    "oms.notifications.v1", "order id", (notification.NotificationRequested,),
    description="What was sent to whom, once per order, kind and shipment.", personal=True,
)
PAYMENTS = Topic(
    "oms.payments.v1", "order id", (payments.RefundRequested, payments.PaymentCaptureRequested),
    description="What the OMS asks of payments: a refund per return, or for lines cancelled after payment; a "
                "capture per shipment handed to its carrier.",
)
PAYMENT_UPDATES = Topic(
    "partners.payments.updates.v1", "order id", (payments.PaymentCaptured, payments.PaymentCaptureFailed),
    partitions=3, description="The payment side's answers to captures (written by the principal `payments`).",
)
INVENTORY_COMMANDS = Topic(
    "oms.internal.inventory.commands.v1", "order id",
    (order.ReserveStock, order.ReleaseStock, order.CommitStock, order.Restock, order.SetLocationPaused,
     promises.QuoteStock, fulfillment.TransferProgressed),
    public=False, description="The saga's commands to inventory; a location's pause (key: its location id).",
)
INVENTORY_REPLIES = Topic(
    "oms.internal.inventory.replies.v1", "order id",
    (inventory.StockReserved, inventory.StockReservationFailed, inventory.StockReleased, promises.StockQuoted,
     inventory.StockExpected),
    public=False, description="Inventory's replies to the saga.",
)
FULFILLMENT_COMMANDS = Topic(
    "oms.internal.fulfillment.commands.v1", "order id",
    (order.RequestFulfillment, order.CancelFulfillment, order.ChangeFulfillment, order.ExpectReturn,
     fulfillment.RequestTransfer),
    public=False,
    description="The saga's commands to fulfillment.", personal=True,
)
FULFILLMENT_EVENTS = Topic(
    "oms.internal.fulfillment.events.v1", "order id", (fulfillment.FulfillmentProgressed, fulfillment.ReturnArrived),
    public=False, description="Fulfillment progress, for the saga.",
)
SHIPPING_COMMANDS = Topic(
    "oms.internal.shipping.commands.v1", "order id", (order.BookShipment,), public=False,
    description="The saga's commands to shipping.", personal=True,
)
SHIPPING_EVENTS = Topic(
    "oms.internal.shipping.events.v1", "order id", (fulfillment.ShipmentProgressed,),
    public=False, description="Shipment progress, for the saga.",
)
QUOTES = Topic(
    "oms.internal.quotes.v1", "request id", (promises.PromiseQuoted,), partitions=3, public=False,
    description="Every promise.quoted, for the gateway instance that waits to answer its HTTP request with it.",
)
PARTNER_SCORES = Topic(
    "oms.partners.scores.v1", "partner id", (fulfillment.PartnerScored,), compacted=True,
    description="Each partner's scorecard over its recent requests, sent when it changes; compacted: the latest stays.",
)

TOPICS: tuple[Topic, ...] = (
    ORDERS_INBOUND, CHANNEL_INBOUND, ORDERS_EVENTS, CHANNEL_EVENTS, INVENTORY_ADJUSTMENTS, FEED_ADJUSTMENTS,
    INVENTORY_EVENTS,
    AVAILABILITY, CHANNEL_AVAILABILITY,
    WAREHOUSE_REQUESTS, WAREHOUSE_UPDATES, CARRIER_REQUESTS, CARRIER_UPDATES, SUPPLIER_REQUESTS, SUPPLIER_UPDATES,
    NOTIFICATIONS, PAYMENTS,
    PAYMENT_UPDATES, INVENTORY_COMMANDS, INVENTORY_REPLIES, FULFILLMENT_COMMANDS, FULFILLMENT_EVENTS, SHIPPING_COMMANDS,
    SHIPPING_EVENTS, QUOTES, PARTNER_SCORES,
)

MESSAGE_TYPES: dict[str, type[Message]] = {
    name: model for topic in TOPICS for name, model in topic.message_types.items()
}


def channel_partner(channel: str) -> str:
    """A channel's name as it appears in topic and principal names (`store:store-munich` -> `store.store-munich`)."""
    return re.sub(r"[^A-Za-z0-9_-]+", ".", channel)


def channel_topic(channel: str) -> str:
    """The inbound topic of one channel: `oms.channels.<channel>.inbound.v1`."""
    return CHANNEL_INBOUND.for_partner(channel_partner(channel))


def channel_events_topic(channel: str) -> str:
    """The events topic of one channel: `oms.channels.<channel>.events.v1`."""
    return CHANNEL_EVENTS.for_partner(channel_partner(channel))


def feed_topic(feed: str) -> str:
    """The adjustments topic of one stock feed: `oms.feeds.<feed>.adjustments.v1`."""
    return FEED_ADJUSTMENTS.for_partner(channel_partner(feed))


def channel_availability_topic(channel: str) -> str:
    return CHANNEL_AVAILABILITY.for_partner(channel_partner(channel))


PERSONAL_RETENTION_DAYS = 7  # on the broker; the services' databases keep such data by their own retention


def personal_data(name: str) -> bool:
    """The topic (or its dead letters) holds personal data."""
    base = name.removesuffix(".dlq")
    return any(t.personal and t.matches(base) for t in TOPICS)


SEPARATOR = " "  # an outbox row's topics: one message sent to each (no topic name holds a space)


def to_each(*names: str) -> str:
    """One message for several topics (an outbox row holds it once; the relay sends it to each)."""
    return SEPARATOR.join(names)


def concrete_topics(locations: list[str], carriers: list[str], channels: list[str] | tuple[str, ...] = (),
                    feeds: list[str] | tuple[str, ...] = (), suppliers: list[str] | tuple[str, ...] = ()
                    ) -> list[tuple[str, int]]:
    """Every topic to create (with its DLQ) for a network of these locations (warehouses and stores), carriers,
    channels, feeds and drop-ship suppliers."""
    names: list[tuple[str, int]] = []
    for topic in TOPICS:
        if "{partner}" not in topic.name:
            partners_ = [""]
        elif topic.name.startswith("oms.channels."):
            partners_ = [channel_partner(c) for c in channels]
        elif topic is FEED_ADJUSTMENTS:
            partners_ = [channel_partner(f) for f in feeds]
        elif ".warehouse." in topic.name:
            partners_ = locations
        elif ".supplier." in topic.name:
            partners_ = list(suppliers)
        else:
            partners_ = carriers
        for partner in partners_:
            name = topic.for_partner(partner)
            names += [(name, topic.partitions), (f"{name}.dlq", 1)]
    return names
