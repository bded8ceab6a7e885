"""What the customer's tracking page says, in plain words, from an order's view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rules.network import Network

WORDS = {
    "received": "We have received your order.",
    "accepted": "Your order is confirmed.",
    "reserved": "Your items are set aside for you.",
    "released": "Your order has gone to the warehouse.",
    "in_fulfillment": "Your order is being prepared.",
    "ready_to_ship": "Your parcel is packed and waiting for the carrier.",
    "shipped": "Your parcel is on its way.",
    "delivered": "Delivered.",
    "ready_for_pickup": "Ready for you to collect.",
    "collected": "Collected. Enjoy!",
    "backordered": "Some items are on their way to us; we send them as soon as they arrive.",
    "on_hold": "We are checking something about your order; we will let you know.",
    "cancelled": "Your order is cancelled.",
    "rejected": "We could not take your order.",
    "return_requested": "Your return is on its way back to us.",
    "returned": "We have received your return.",
}
SHIPMENT_WORDS = {"requested": "being prepared", "accepted": "being prepared", "picked": "being packed",
                  "packed": "packed", "ready_to_ship": "waiting for the carrier", "booked": "waiting for the carrier",
                  "shipped": "on its way", "in_transit": "on its way", "delivered": "delivered",
                  "ready_for_pickup": "ready to collect", "collected": "collected", "cancelled": "cancelled"}


def _when(value: str | datetime | None) -> str:
    if value is None:
        return ""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return at.strftime("%a %d %b %Y, %H:%M UTC") if at.utcoffset() is not None else at.isoformat()


def _day(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%a %d %b %Y") if value else ""


def tracking_context(view: dict[str, Any], network: Network) -> dict[str, Any]:
    """The page's words: the status now, each shipment (carrier, tracking number, dates; the store for pickups),
    and the timeline."""
    locations = {loc.id: loc for loc in network.locations}
    carriers = {c.id: c.name for c in network.carriers}
    shipments = []
    for n, s in enumerate(view.get("shipments") or [], 1):
        store = locations.get(s["location_id"]) if s.get("pickup") else None
        shipments.append({
            "n": n, "status": SHIPMENT_WORDS.get(s["status"], s["status"].replace("_", " ")),
            "carrier": carriers.get(s.get("carrier_id") or "", s.get("carrier_id")),
            "tracking_number": s.get("tracking_number"),
            "contents": ", ".join(f"{line['quantity']} x {line['sku']}" for line in s.get("lines", [])),
            "promised": _day(s.get("promised_by")), "estimated": _day(s.get("estimated_delivery")),
            "pickup": store and {"name": store.name, "address": ", ".join(
                p for p in (store.line1, f"{store.postal_code} {store.city}".strip(), store.country) if p),
                "hours": store.opening_hours},
            "to_store": s.get("to_store", False)})
    timeline = [{"when": _when(step["occurred_at"]),
                 "what": WORDS.get(step["status"], step["status"].replace("_", " ")) if step["status"] !=
                 step.get("previous_status") else _note(step.get("reason"))} for step in view.get("timeline", [])]
    return {"reference": view["external_id"], "status": view["status"],
            "headline": WORDS.get(view["status"], view["status"].replace("_", " ")),
            "note": _note(view.get("reason")) if view["status"] in ("on_hold", "rejected", "cancelled") else "",
            "shipments": shipments, "timeline": [t for t in timeline if t["what"]][::-1],
            "updated": _when(view.get("updated_at"))}


def _note(reason: dict[str, Any] | None) -> str:
    """A reason as a customer may read it: the code's words, never an internal message."""
    if not reason:
        return ""
    return {"late_to_ship": "Your order is taking longer than we promised; sorry for the wait.",
            "late_delivery": "Your parcel is later than we promised; sorry for the wait.",
            "pickup_reminder": "A reminder: your order is waiting for you at the store.",
            "not_collected": "Cancelled: it was not collected in time.",
            "partially_backordered": "Part of your order ships now; the rest follows when it arrives.",
            }.get(reason.get("code", ""), "")
