"""One realistic example of every message, validated by the contract tests and shown in the docs."""

from __future__ import annotations

from typing import Any

ADDRESS = {"name": "Ada Example", "line1": "Example Street 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
ORDER_REF = {"channel": "web", "external_id": "W-1001"}
STOCK = {"sku": "SKU-CHAIR-01", "location_id": "dc-rotterdam"}
FULFILLMENT = {"fulfillment_id": "ful-1", "order_id": "ord-1"}
SHIPMENT = {"shipment_id": "shp-1", "order_id": "ord-1"}
LINES = [{"sku": "SKU-CHAIR-01", "quantity": 2}]
PARCELS = [{"parcel_id": "p-1", "weight_grams": 5400, "length_cm": 60, "width_cm": 40, "height_cm": 30}]
NOW = "2026-11-26T10:00:00+00:00"

EXAMPLES: dict[str, dict[str, Any]] = {
    "order.submitted": {**ORDER_REF, "placed_at": NOW, "currency": "EUR",
                        "customer": {"id": "c-1", "email": "ada@example.com", "name": "Ada Example"},
                        "shipping_address": ADDRESS,
                        "lines": [{"sku": "SKU-CHAIR-01", "quantity": 2, "unit_price": "89.90", "discount": "17.98",
                                   "tax": "33.88"}], "shipping": {"price": "4.12", "tax": "0.78"},
                        "shipping_speed": "standard", "payment": {"status": "authorized", "reference": "psp-1"}},
    "order.cancel_requested": {**ORDER_REF, "reason": "changed mind"},
    "order.hold_released": {**ORDER_REF, "reason": "address confirmed"},
    "order.return_requested": {**ORDER_REF, "lines": LINES, "return_location_id": "store-munich"},
    "order.status_changed": {"order_id": "ord-1", **ORDER_REF, "status": "accepted", "previous_status": "received",
                             "sequence": 2, "occurred_at": NOW, "shipments": []},
    "stock.counted": {**STOCK, "on_hand": 40},
    "stock.adjusted": {**STOCK, "delta": -2, "reason": "damaged"},
    "stock.inbound_expected": {**STOCK, "quantity": 100, "eta": NOW},
    "stock.received": {**STOCK, "quantity": 100},
    "stock.level_changed": {**STOCK, "on_hand": 40, "reserved": 2, "available": 38, "inbound": 0},
    "stock.availability_changed": {"sku": "SKU-CHAIR-01", "channel": "marketplace:amazon", "available": 36},
    "stock.low": {**STOCK, "available": 3, "reorder_point": 5},
    "partner.scored": {"partner_id": "3pl-berlin", "kind": "location", "window_s": 600, "requests": 40,
                       "rejected": 6, "qc_failed": 2, "failure_rate": 0.2, "accept_latency_s": 4.5,
                       "accept_to_pack_s": 1800.0, "pick_to_pack_s": 600.0, "packed_on_time_rate": 0.95, "open_requests": 12,
                       "scored_at": NOW},
    "fulfillment.requested": {**FULFILLMENT, "location_id": "dc-rotterdam", "lines": LINES, "ship_to": ADDRESS,
                              "service_level": "standard", "ship_by": NOW,
                              "invoice": {"number": "INV-1", "currency": "EUR", "total": "179.80",
                                          "lines": [{"sku": "SKU-CHAIR-01", "quantity": 2, "unit_price": "89.90",
                                                     "total": "179.80"}]}},
    "fulfillment.cancel_requested": {**FULFILLMENT, "reason": "customer cancelled"},
    "fulfillment.accepted": {"fulfillment_id": "ful-1"},
    "fulfillment.rejected": {"fulfillment_id": "ful-1", "reason": "short", "short_lines": LINES},
    "fulfillment.picked": {"fulfillment_id": "ful-1"},
    "fulfillment.ready_for_pickup": {"fulfillment_id": "ful-1"},
    "fulfillment.collected": {"fulfillment_id": "ful-1"},
    "fulfillment.packed": {"fulfillment_id": "ful-1", "parcels": PARCELS},
    "fulfillment.qc_failed": {"fulfillment_id": "ful-1", "reason": "scratched"},
    "fulfillment.cancelled": {"fulfillment_id": "ful-1"},
    "fulfillment.cancel_refused": {"fulfillment_id": "ful-1", "reason": "already packed"},
    "shipment.booking_requested": {**SHIPMENT, "carrier_id": "dhl", "service_level": "standard",
                                   "from_location_id": "dc-rotterdam", "ship_from": ADDRESS, "ship_to": ADDRESS,
                                   "parcels": PARCELS},
    "shipment.cancel_requested": {**SHIPMENT, "reason": "order cancelled"},
    "shipment.booked": {"shipment_id": "shp-1", "tracking_number": "DHL123", "pickup_at": NOW},
    "shipment.booking_failed": {"shipment_id": "shp-1", "reason": "no capacity"},
    "shipment.picked_up": {"shipment_id": "shp-1"},
    "shipment.in_transit": {"shipment_id": "shp-1"},
    "shipment.delivered": {"shipment_id": "shp-1", "delivered_at": NOW},
    "shipment.exception": {"shipment_id": "shp-1", "reason": "address not found"},
    "notification.requested": {"order_id": "ord-1", "kind": "shipped", "medium": "email",
                               "recipient": "ada@example.com", "shipment_id": "shp-1",
                               "subject": "Your order is on its way", "body": "Tracking: DHL123"},
    "order.change_requested": {**ORDER_REF, "shipping_speed": "express",
                               "shipping_address": {**ADDRESS, "line1": "Other Street 5"}},
    "fulfillment.changed": {**FULFILLMENT, "ship_to": ADDRESS, "service_level": "express"},
    "fulfillment.change_fulfillment": {**FULFILLMENT, "ship_to": ADDRESS, "service_level": "express"},
    "return.expected": {"return_id": "ret-1", "order_id": "ord-1", "lines": LINES, "reason": "too small"},
    "return.received": {"return_id": "ret-1", "lines": [{**LINES[0], "condition": "resellable"}]},
    "location.paused": {"location_id": "store-munich", "reason": "stocktaking until 14:00"},
    "location.resumed": {"location_id": "store-munich"},
    "inventory.set_location_paused": {"location_id": "store-munich", "paused": True, "reason": "stocktaking"},
    "refund.requested": {"order_id": "ord-1", "return_id": "ret-1", "amount": "195.70", "currency": "EUR",
                         "payment_reference": "psp-1", "reason": "returned",
                         "lines": [{**LINES[0], "unit_price": "89.90", "amount": "195.70", "discount": "17.98",
                                    "tax": "33.88"}]},
    "payment.capture_requested": {"order_id": "ord-1", "shipment_id": "ord-1-S1", "amount": "200.60",
                                  "currency": "EUR", "payment_reference": "psp-1", "shipping": "4.90",
                                  "lines": [{**LINES[0], "unit_price": "89.90", "amount": "195.70",
                                             "discount": "17.98", "tax": "33.88"}]},
    "payment.captured": {"order_id": "ord-1", "shipment_id": "ord-1-S1"},
    "payment.capture_failed": {"order_id": "ord-1", "shipment_id": "ord-1-S1", "reason": "card declined"},
    "inventory.restock": {"order_id": "ord-1", "return_id": "ret-1", "location_id": "store-munich",
                          "lines": [{**LINES[0], "condition": "resellable"}]},
    "fulfillment.expect_return": {"order_id": "ord-1", "return_id": "ret-1", "location_id": "store-munich",
                                  "lines": LINES},
    "fulfillment.return_received": {"order_id": "ord-1", "return_id": "ret-1", "location_id": "store-munich",
                                    "lines": [{**LINES[0], "condition": "resellable"}]},
    "inventory.reserve_stock": {"order_id": "ord-1", "lines": LINES, "destination": {"country": "DE"}},
    "inventory.release_stock": {"order_id": "ord-1"},
    "inventory.commit_stock": {"order_id": "ord-1", "reservation_id": "res-1"},
    "inventory.stock_reserved": {"order_id": "ord-1", "allocations": [
        {"reservation_id": "res-1", "location_id": "dc-rotterdam", "lines": LINES}]},
    "inventory.stock_reservation_failed": {"order_id": "ord-1", "reason": "insufficient_stock"},
    "inventory.stock_released": {"order_id": "ord-1", "reservation_ids": ["res-1"]},
    "fulfillment.request_fulfillment": {**FULFILLMENT, "location_id": "dc-rotterdam", "lines": LINES,
                                        "ship_to": ADDRESS, "service_level": "standard"},
    "fulfillment.cancel_fulfillment": {**FULFILLMENT},
    "fulfillment.progressed": {**FULFILLMENT, "location_id": "dc-rotterdam", "status": "accepted"},
    "shipping.book_shipment": {**SHIPMENT, "location_id": "dc-rotterdam", "service_level": "standard",
                               "ship_to": ADDRESS, "parcels": PARCELS},
    "shipping.shipment_progressed": {**SHIPMENT, "carrier_id": "dhl", "status": "booked",
                                     "tracking_number": "DHL123"},
}


def example(kind: str) -> dict[str, Any]:
    return {"type": kind, "id": f"example-{kind}", **EXAMPLES[kind]}
