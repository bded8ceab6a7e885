"""Shopify's `orders/create` webhook, as Shopify sends it, mapped to an `order.submitted`."""

from __future__ import annotations

from typing import Any

# Shopify's financial_status: paid or authorised money is the payment the OMS waits for
_PAYMENT = {"paid": "authorized", "authorized": "authorized", "partially_paid": "authorized", "pending": "pending",
            "voided": "failed", "refunded": "failed", "partially_refunded": "authorized", "expired": "failed"}


class NotMappable(ValueError):
    """The Shopify order lacks what an OMS order needs (each reason in `reasons`)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def to_submitted(order: dict[str, Any], channel: str) -> dict[str, Any]:
    """The `order.submitted` body of a Shopify order (validated by the caller like any other body)."""
    if not isinstance(order, dict):
        raise NotMappable(["body: not a JSON object"])
    customer = order.get("customer") or {}
    address = order.get("shipping_address") or {}
    reasons = [f"line_items.{n}: no sku (every line the OMS ships needs its SKU)"
               for n, item in enumerate(order.get("line_items") or []) if not item.get("sku")]
    if not order.get("line_items"):
        reasons.append("line_items: no lines")
    if not address:
        reasons.append("shipping_address: missing (a Shopify order without shipping cannot be fulfilled here)")
    if order.get("id") is None:
        reasons.append("id: missing")
    if reasons:
        raise NotMappable(reasons)
    name = address.get("name") or " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p)
    customer_name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p) or name
    speed = " ".join(f"{s.get('code', '')} {s.get('title', '')}" for s in order.get("shipping_lines") or []).lower()
    body: dict[str, Any] = {
        "type": "order.submitted", "channel": channel, "external_id": str(order["id"]),
        "placed_at": order.get("created_at") or order.get("processed_at"),
        "currency": order.get("currency") or order.get("presentment_currency"),
        "customer": {"id": str(customer.get("id") or order.get("email") or order["id"]),
                     "email": order.get("email") or order.get("contact_email") or customer.get("email"),
                     "phone": order.get("phone") or customer.get("phone") or address.get("phone"),
                     "name": customer_name or "Shopify customer"},
        "shipping_address": {"name": name, "line1": address.get("address1"), "line2": address.get("address2"),
                             "city": address.get("city"), "region": address.get("province_code"),
                             "postal_code": address.get("zip"), "country": address.get("country_code")},
        "lines": [{"sku": item["sku"], "quantity": item.get("quantity"), "unit_price": str(item.get("price"))}
                  for item in order["line_items"]],
        "shipping_speed": "express" if "express" in speed else "standard",
    }
    if order.get("financial_status") in _PAYMENT:
        body["payment"] = {"status": _PAYMENT[order["financial_status"]], "reference": f"shopify:{order['id']}"}
    for part in (body["customer"], body["shipping_address"]):  # Shopify sends null for what it does not have
        for field in [k for k, v in part.items() if v is None and k in ("phone", "line2", "region")]:
            del part[field]
    return body
