"""A realistic stream of orders and the stock to serve them, for the demo, the end-to-end tests and the bench."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

LOCATIONS = ("3pl-berlin", "dc-rotterdam", "store-munich", "store-paris")
SUPPLIER = "supplier-hamburg"  # the default network's drop-ship supplier: the only one with HAMMOCK
PRODUCTS = {"CHAIR": "89.90", "TABLE": "349.00", "LAMP": "59.50", "RUG": "129.00", "SOFA": "899.00", "SHELF": "74.90"}
CHANNELS = (("web", 35), ("app", 20), ("store:store-munich", 10), ("store:store-paris", 5),
            ("marketplace:amazon", 20), ("marketplace:wayfair", 10))
CITIES = {"DE": [("Berlin", "10115"), ("Hamburg", "20095"), ("Munich", "80331"), ("Cologne", "50667")],
          "NL": [("Amsterdam", "1012 AB"), ("Utrecht", "3511 AA"), ("Rotterdam", "3011 AD")],
          "FR": [("Paris", "75002"), ("Lyon", "69001"), ("Lille", "59000")],
          "BE": [("Brussels", "1000"), ("Antwerp", "2000")], "AT": [("Vienna", "1010"), ("Graz", "8010")]}
COUNTRIES = (("DE", 45), ("NL", 20), ("FR", 20), ("BE", 10), ("AT", 5))


@dataclass(frozen=True)
class Mix:
    """Shares of orders that take the side roads."""

    split: float = 0.08
    express: float = 0.2
    held_payment: float = 0.0
    bad_address: float = 0.0
    unknown_sku: float = 0.0
    rare: float = 0.0
    pickup: float = 0.0  # collected in a store (a store's own channel: at that store)
    priced: float = 0.0  # with a discount code, VAT per line and a shipping charge
    texts: float = 0.0  # customers who agree to text messages
    dropship: float = 0.0  # a HAMMOCK, which only the drop-ship supplier has

    @classmethod
    def demo(cls) -> Mix:
        return cls(held_payment=0.02, bad_address=0.02, unknown_sku=0.01, rare=0.03, pickup=0.1, priced=0.3, texts=0.3,
                   dropship=0.05)


def sku(run: str, name: str) -> str:
    return f"{run}-{name}"


def stock_counts(run: str, orders: int) -> list[dict[str, Any]]:
    """stock.counted for every SKU: plenty of the common ones, two that live at one place each, a rare one, and one
    only the drop-ship supplier has."""
    per_location = max(orders // 2, 20)
    counts = [(sku(run, name), loc, per_location) for name in PRODUCTS for loc in LOCATIONS]
    counts += [(sku(run, "VASE"), "store-paris", orders + 10), (sku(run, "MIRROR"), "3pl-berlin", orders + 10),
               (sku(run, "CLOCK"), "dc-rotterdam", 3), (sku(run, "HAMMOCK"), SUPPLIER, orders + 10)]
    return [{"type": "stock.counted", "id": str(uuid.uuid4()), "sku": s, "location_id": loc, "on_hand": qty}
            for s, loc, qty in counts]


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def order(run: str, number: int, rng: random.Random, mix: Mix, stock_run: str | None = None) -> dict[str, Any]:
    """One order of this run (external id `<run>-<number>`), for the SKUs seeded for `stock_run` (default: run)."""
    external_id, run = f"{run}-{number:05d}", stock_run or run
    channel, country = pick(rng, CHANNELS), pick(rng, COUNTRIES)
    city, postal_code = rng.choice(CITIES[country])
    names = rng.sample(list(PRODUCTS), rng.choice((1, 1, 1, 2, 2, 3)))
    lines = [{"sku": sku(run, n), "quantity": rng.choice((1, 1, 2)), "unit_price": PRODUCTS[n]} for n in names]
    roll = rng.random()
    payment = {"status": "authorized", "reference": f"psp-{number}"}
    if roll < mix.split:
        lines = [{"sku": sku(run, "VASE"), "quantity": 1, "unit_price": "39.00"},
                 {"sku": sku(run, "MIRROR"), "quantity": 1, "unit_price": "119.00"}]
    elif (roll := roll - mix.split) < mix.held_payment:
        payment["status"] = "pending"
    elif (roll := roll - mix.held_payment) < mix.bad_address:
        postal_code = "??"
    elif (roll := roll - mix.bad_address) < mix.unknown_sku:
        lines.append({"sku": sku(run, "DISCONTINUED"), "quantity": 1, "unit_price": "1.00"})
    elif (roll := roll - mix.unknown_sku) < mix.rare:
        lines = [{"sku": sku(run, "CLOCK"), "quantity": 1, "unit_price": "45.00"}]
    elif roll - mix.rare < mix.dropship:
        lines = [{"sku": sku(run, "HAMMOCK"), "quantity": 1, "unit_price": "149.00"}]
    money: dict[str, Any] = {}
    if mix.priced and rng.random() < mix.priced:  # drawn only when asked for: other mixes stay as they were
        lines, money = priced(lines)
    texts = bool(mix.texts) and rng.random() < mix.texts  # drawn only when asked for, as below
    delivery = {}
    if mix.pickup and rng.random() < mix.pickup:  # drawn only when asked for: other mixes stay as they were
        store = channel.split(":", 1)[1] if channel.startswith("store:") else rng.choice(("store-munich", "store-paris"))
        delivery = {"delivery": {"method": "pickup", "pickup_location_id": store}}
    return {
        **delivery, **money,
        "type": "order.submitted", "id": str(uuid.uuid4()), "channel": channel, "external_id": external_id,
        "placed_at": datetime.now(UTC).isoformat(), "currency": "EUR",
        "customer": {"id": f"cust-{number}", "email": f"customer{number}@example.com", "name": f"Customer {number}",
                     "phone": f"+49 30 {number:07d}", "sms_consent": texts},
        "shipping_address": {"name": f"Customer {number}", "line1": f"{rng.randint(1, 200)} Demo Street",
                             "city": city, "postal_code": postal_code, "country": country},
        "lines": lines, "shipping_speed": "express" if rng.random() < mix.express else "standard", "payment": payment,
    }


def priced(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The lines with a 10% discount code and 19% VAT on what is left of each, and a 4.90 shipping charge (VAT
    included as its tax)."""
    cent = Decimal("0.01")
    out = []
    for line in lines:
        gross = Decimal(line["unit_price"]) * line["quantity"]
        discount = (gross / 10).quantize(cent)
        out.append({**line, "discount": str(discount), "tax": str(((gross - discount) * Decimal("0.19")).quantize(cent))})
    return out, {"shipping": {"price": "4.12", "tax": "0.78"}}


def orders(run: str, count: int, mix: Mix, seed: int = 7, stock_run: str | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [order(run, n, rng, mix, stock_run) for n in range(1, count + 1)]


def partial_cancels(orders: list[dict[str, Any]], share: float, seed: int = 13) -> list[dict[str, Any]]:
    """`order.cancel_requested` for one unit of the first line of a share of the orders with more than one unit."""
    rng = random.Random(seed)
    return [{"type": "order.cancel_requested", "id": str(uuid.uuid4()), "channel": o["channel"],
             "external_id": o["external_id"], "reason": "one less, please",
             "lines": [{"sku": o["lines"][0]["sku"], "quantity": 1}]}
            for o in orders if sum(line["quantity"] for line in o["lines"]) > 1 and rng.random() < share]


def returns(delivered: list[dict[str, Any]], share: float, seed: int = 11) -> list[dict[str, Any]]:
    """`order.return_requested` for a share of these delivered orders (their latest events): most send everything
    back, some one unit of one line; to a store, or where the first shipment came from."""
    rng = random.Random(seed)
    asked = []
    for event in delivered:
        if rng.random() >= share or not event["shipments"]:
            continue
        lines = [line for shipment in event["shipments"] for line in shipment["lines"]]
        if rng.random() < 0.3:
            lines = [{"sku": lines[0]["sku"], "quantity": 1}]
        location = rng.choice(("store-munich", "store-paris", event["shipments"][0]["location_id"]))
        asked.append({"type": "order.return_requested", "id": str(uuid.uuid4()), "channel": event["channel"],
                      "external_id": event["external_id"], "lines": lines, "return_location_id": location,
                      "reason": rng.choice(("too small", "changed mind", "not as pictured"))})
    return asked


def new_run_id() -> str:
    return f"R{uuid.uuid4().hex[:6].upper()}"
