"""Shopify's `orders/create` webhook, as Shopify sends it, mapped to an `order.submitted`."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

# Shopify's financial_status: authorised money is the payment the OMS captures when goods leave; paid money was
# captured by Shopify already (the OMS never asks for it again)
_PAYMENT = {"paid": "captured", "authorized": "authorized", "partially_paid": "authorized", "pending": "pending",
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
        "lines": [_line(item, bool(order.get("taxes_included"))) for item in order["line_items"]],
        "shipping_speed": "express" if "express" in speed else "standard",
    }
    if shipping := _shipping(order.get("shipping_lines") or [], bool(order.get("taxes_included"))):
        body["shipping"] = shipping
    if order.get("financial_status") in _PAYMENT:
        body["payment"] = {"status": _PAYMENT[order["financial_status"]], "reference": f"shopify:{order['id']}"}
    for part in (body["customer"], body["shipping_address"]):  # Shopify sends null for what it does not have
        for field in [k for k, v in part.items() if v is None and k in ("phone", "line2", "region")]:
            del part[field]
    return body


def _sum(amounts: list[Any]) -> Decimal:
    try:
        return sum((Decimal(str(a)) for a in amounts if a is not None), Decimal("0"))
    except InvalidOperation:
        return Decimal("0")  # not a number: the line's own check refuses what does not add up


def _text(amount: Decimal) -> str:
    """Money text: in cents where that is exact, else as it is (up to four places)."""
    cents = amount.quantize(Decimal("0.01"))
    return format(cents if cents == amount else amount, "f")


def _line(item: dict[str, Any], taxes_included: bool) -> dict[str, Any]:
    """A line item: its list price, its discount allocations and tax lines summed for the whole line. Where the
    shop's prices include tax, the list price is taken net of it (to four places, the remainder in the tax), so
    that price - discount + tax is what the customer paid."""
    price, quantity = str(item.get("price")), item.get("quantity")
    line: dict[str, Any] = {"sku": item["sku"], "quantity": quantity, "unit_price": price}
    discount = _sum([a.get("amount") for a in item.get("discount_allocations") or []])
    tax = _sum([t.get("price") for t in item.get("tax_lines") or []])
    if taxes_included and tax and isinstance(quantity, int) and quantity > 0:
        try:
            gross = Decimal(price) * quantity
        except InvalidOperation:
            return line
        net = (Decimal(price) - tax / quantity).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
        line["unit_price"] = _text(net)
        tax = gross - net * quantity  # so that net x quantity - discount + tax is what the customer paid
    if discount:
        line["discount"] = _text(discount)
    if tax:
        line["tax"] = _text(tax)
    return line


def _shipping(lines: list[dict[str, Any]], taxes_included: bool) -> dict[str, str] | None:
    """Shipping lines summed: price, discounts, tax (where prices include tax, the price taken net of it)."""
    price = _sum([s.get("price") for s in lines])
    discount = _sum([a.get("amount") for s in lines for a in s.get("discount_allocations") or []])
    tax = _sum([t.get("price") for s in lines for t in s.get("tax_lines") or []])
    if not price:
        return None
    shipping = {"price": _text(price - tax if taxes_included else price)}
    if discount:
        shipping["discount"] = _text(discount)
    if tax:
        shipping["tax"] = _text(tax)
    return shipping
