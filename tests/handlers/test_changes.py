"""Partial cancels and changes through the services' handlers, in memory: the warehouse is asked for some lines and
told of a new address; inventory gives back some units of a reservation; the order service routes it all."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import topics
from contracts.examples import ORDER_REF
from order_service.domain import order_id_for
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

ORDER_ID = order_id_for(ORDER_REF["channel"], ORDER_REF["external_id"])
COMMANDS, REQUESTS = topics.FULFILLMENT_COMMANDS.name, topics.WAREHOUSE_REQUESTS.for_partner("dc-rotterdam")
UPDATES = topics.WAREHOUSE_UPDATES.for_partner("dc-rotterdam")
TWO_LINES = [{"sku": "SKU-CHAIR-01", "quantity": 2}, {"sku": "SKU-LAMP", "quantity": 1}]


def reasons(sent: list[Any]) -> list[str | None]:
    return [m.reason.code if m.reason else None for m in sent if m.type == "order.status_changed"]


async def test_the_warehouse_is_asked_for_some_lines_and_what_it_cancels_leaves_the_rest_and_its_invoice():
    service = InMemory("fulfillment")
    await service.deliver(COMMANDS, body("fulfillment.request_fulfillment", lines=TWO_LINES,
                                         unit_prices={"SKU-CHAIR-01": "89.90", "SKU-LAMP": "59.50"}))
    [asked] = await service.deliver(COMMANDS, body("fulfillment.cancel_fulfillment",
                                                   lines=[{"sku": "SKU-LAMP", "quantity": 1}]))
    assert asked.type == "fulfillment.cancel_requested" and [x.sku for x in asked.lines] == ["SKU-LAMP"]
    [progress] = await service.deliver(UPDATES, body("fulfillment.cancelled",
                                                     lines=[{"sku": "SKU-LAMP", "quantity": 1}]))
    assert (progress.status, [x.sku for x in progress.lines]) == ("lines_cancelled", ["SKU-LAMP"])
    row = service.row("fulfillments", "ful-1")
    assert row["status"] == "requested", "the rest is still to be fulfilled"
    assert '"179.80"' in row["invoice"] and "SKU-LAMP" not in row["lines"]


async def test_a_new_address_is_sent_to_the_warehouse():
    service = InMemory("fulfillment")
    await service.deliver(COMMANDS, body("fulfillment.request_fulfillment"))
    [told] = await service.deliver(COMMANDS, body("fulfillment.change_fulfillment"))
    assert told.type == "fulfillment.changed" and told.service_level == "express"
    assert service.sent(REQUESTS)[-1] is told


async def test_inventory_gives_back_some_units_of_a_reservation_and_keeps_the_rest():
    service = InMemory("inventory")
    feed = topics.INVENTORY_ADJUSTMENTS.name
    await service.deliver(feed, body("stock.counted", sku="SKU-CHAIR-01", location_id="dc-rotterdam", on_hand=5))
    sent = await service.deliver(topics.INVENTORY_COMMANDS.name, body("inventory.reserve_stock"))
    [reserved] = [m for m in sent if m.type == "inventory.stock_reserved"]
    assert reserved.request_id is not None, "the answer names the request"
    reservation = reserved.allocations[0].reservation_id
    await service.deliver(topics.INVENTORY_COMMANDS.name, body(
        "inventory.release_stock", reservation_id=reservation, lines=[{"sku": "SKU-CHAIR-01", "quantity": 1}]))
    row = service.row("stock", "SKU-CHAIR-01", "dc-rotterdam")
    assert (row["on_hand"], row["reserved"]) == (5, 1)
    assert service.row("reservations", reservation)["status"] == "open"
    assert service.row("reservation_lines", reservation, "SKU-CHAIR-01")["quantity"] == 1


async def test_the_order_service_routes_a_partial_cancel_and_a_change():
    service = InMemory("order")
    await service.deliver(topics.ORDERS_INBOUND.name, body("order.submitted", lines=[
        {"sku": "SKU-CHAIR-01", "quantity": 2, "unit_price": "89.90"}]))
    sent = await service.deliver(topics.ORDERS_INBOUND.name, body("order.cancel_requested",
                                                                  lines=[{"sku": "SKU-CHAIR-01", "quantity": 1}]))
    assert reasons(sent) == ["lines_cancelled"]
    [refund] = service.sent(topics.PAYMENTS.name)
    assert (refund.amount, refund.reason) == ("89.90", "cancelled")
    sent = await service.deliver(topics.ORDERS_INBOUND.name, body("order.change_requested"))
    assert reasons(sent) == ["changed"]
    sent = await service.deliver(topics.ORDERS_INBOUND.name, body(
        "order.change_requested", shipping_address={**body("order.submitted")["shipping_address"],
                                                    "postal_code": "??"}))
    assert [m.status for m in sent if m.type == "order.status_changed"] == ["on_hold"]
