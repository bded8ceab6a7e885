"""Order rules that are not the saga's: identity, address completeness, the shipments view."""

from __future__ import annotations

import re
from decimal import Decimal

from contracts.base import Address
from contracts.channels import ORDER_NAMESPACE as ORDER_NAMESPACE  # the order service's rules, public
from contracts.channels import OrderSubmitted
from contracts.channels import order_id_for as order_id_for
from contracts.order import ReturnView, ShipmentView
from order_service.saga import Saga, SagaState, exchange_external_id, status_of
from rules.money import Ledger, PaidLine, ShippingCharge
from rules.network import Location

POSTAL_CODES = {"DE": r"\d{5}", "FR": r"\d{5}", "NL": r"\d{4} ?[A-Z]{2}", "AT": r"\d{4}", "BE": r"\d{4}",
                "IT": r"\d{5}", "ES": r"\d{5}", "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "US": r"\d{5}(-\d{4})?"}
REGION_REQUIRED = {"US", "CA", "AU"}


def address_problem(address: Address) -> str | None:
    """Why an address cannot be shipped to as it is, or None."""
    pattern = POSTAL_CODES.get(address.country)
    if pattern and not re.fullmatch(pattern, address.postal_code.strip().upper()):
        return f"postal code does not fit {address.country}"
    if address.country in REGION_REQUIRED and not address.region:
        return f"a region is required for {address.country}"
    return None


def ledger(msg: OrderSubmitted) -> Ledger:
    """What the customer paid, line by line and for shipping; a payment taken already (`captured`) is never asked
    for again."""
    taken = msg.payment is not None and msg.payment.status == "captured"
    lines = [PaidLine(sku=line.sku, quantity=line.quantity, unit_price=Decimal(line.unit_price),
                      discount=Decimal(line.discount or "0"), tax=Decimal(line.tax or "0"),
                      captured=line.quantity if taken else 0) for line in msg.lines]
    ship = msg.shipping
    shipping = ShippingCharge(price=Decimal(ship.price), discount=Decimal(ship.discount or "0"),
                              tax=Decimal(ship.tax or "0"), captured=taken) if ship else None
    paid = Ledger(currency=msg.currency, lines=lines, shipping=shipping)
    return paid.model_copy(update={"captured": paid.paid}) if taken else paid


def pickup_address(store: Location, customer_name: str) -> Address:
    """Where a click-and-collect order goes: the store, for the customer."""
    return Address(name=customer_name, line1=store.line1 or store.name, city=store.city or store.name,
                   postal_code=store.postal_code or "-", country=store.country, region=store.region)


def returns(saga: Saga) -> list[ReturnView]:
    return [ReturnView(return_id=r.return_id, location_id=r.location_id, status=r.status, lines=r.lines,
                       received=r.received, exchange_external_id=exchange_external_id(saga, r)
                       if r.status == "received" else None) for r in saga.returns]


def shipments(saga: Saga) -> list[ShipmentView]:
    """Each active fulfillment; and an order waiting for inbound units it is dated from, the shipment they will
    leave as (the id its reservation will give it) with `expected_ship`."""
    views = [ShipmentView(shipment_id=f.shipment_id, location_id=f.location_id, carrier_id=f.carrier_id,
                          tracking_number=f.tracking_number, status=status_of(f), lines=f.lines,
                          ship_by=f.ship_by, promised_by=f.deliver_by, estimated_delivery=f.estimated_delivery,
                          pickup=f.pickup, to_store=f.to_store)
             for f in saga.fulfillments if f.active]
    if saga.state == SagaState.BACKORDERED and saga.expected_ship and saga.expected_location_id:
        waiting = saga.reservation_request.lines if saga.reservation_request else saga.lines
        views.append(ShipmentView(shipment_id=f"{saga.order_id}-S{saga.next_fulfillment}", status="backordered",
                                  location_id=saga.expected_location_id, lines=waiting,
                                  expected_ship=saga.expected_ship))
    return views
