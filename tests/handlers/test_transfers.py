"""Transfers between locations, in memory: inventory holds the units back at the source and asks fulfillment to
send them; the source ships (off its hand, inbound at the destination with an ETA), the destination receives (a
difference is an adjustment with the reason); each location speaks only for its own side."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from contracts import topics
from inventory_service.handlers import propose_transfers
from runtime.consume import Unprocessable
from runtime.pollers import Tick
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

FEED, COMMANDS = topics.INVENTORY_ADJUSTMENTS.name, topics.INVENTORY_COMMANDS.name
SKU, SOURCE, DESTINATION = "SKU-CHAIR-01", "dc-rotterdam", "store-munich"


def level(service: InMemory, location: str) -> tuple[int, int, int]:
    row = service.row("stock", SKU, location)
    return row["on_hand"], row["reserved"], row["inbound"]


async def requested(on_hand: int = 20, quantity: int = 10) -> tuple[InMemory, Any]:
    service = InMemory("inventory")
    await service.deliver(FEED, body("stock.counted", on_hand=on_hand, location_id=SOURCE))
    sent = await service.deliver(FEED, body("stock.transfer_requested", quantity=quantity))
    return service, sent


async def test_a_transfer_holds_the_units_back_at_the_source_and_asks_for_them():
    service, sent = await requested()
    [ask] = [m for m in sent if m.type == "fulfillment.request_transfer"]
    assert (ask.sku, ask.quantity, ask.from_location_id, ask.to_location_id) == (SKU, 10, SOURCE, DESTINATION)
    assert level(service, SOURCE) == (20, 10, 0), "held back: not for sale while it waits to leave"
    assert service.row("transfers", ask.transfer_id)["status"] == "requested"


async def test_more_than_the_source_has_available_is_refused_and_holds_nothing():
    service, sent = await requested(on_hand=4)
    assert not [m for m in sent if m.type == "fulfillment.request_transfer"]
    [transfer] = service.db.rows("transfers")
    assert transfer["status"] == "refused" and "4 of SKU-CHAIR-01 available, not 10" in transfer["reason"]
    assert level(service, SOURCE) == (4, 0, 0)


async def test_shipped_then_received_with_a_unit_short_moves_the_stock_and_says_why():
    service, sent = await requested()
    [ask] = [m for m in sent if m.type == "fulfillment.request_transfer"]
    await service.deliver(COMMANDS, body("inventory.transfer_progressed", transfer_id=ask.transfer_id, quantity=8))
    assert level(service, SOURCE) == (12, 0, 0), "8 left; the 2 not sent are for sale again"
    assert level(service, DESTINATION) == (0, 0, 8), "inbound, with its ETA"
    [expected] = [r for r in service.db.rows("inbound_expected") if r["po_id"] == ask.transfer_id]
    assert expected["quantity"] == 8 and expected["closed_at"] is None

    sent = await service.deliver(COMMANDS, body("inventory.transfer_progressed", transfer_id=ask.transfer_id,
                                                status="received", quantity=7, eta=None))
    assert level(service, DESTINATION) == (7, 0, 0)
    [variance] = [m for m in sent if m.type == "stock.adjusted"]
    assert (variance.location_id, variance.delta) == (DESTINATION, -1)
    assert variance.reason == f"transfer {ask.transfer_id}: 7 of 8 arrived"
    assert [r["closed_at"] is not None for r in service.db.rows("inbound_expected")] == [True]
    assert service.row("transfers", ask.transfer_id)["status"] == "received"
    again = await service.deliver(COMMANDS, body("inventory.transfer_progressed", transfer_id=ask.transfer_id,
                                                 status="received", quantity=7, eta=None))
    assert again == [] and level(service, DESTINATION) == (7, 0, 0), "told twice: counted once"


async def test_a_backorder_waiting_at_the_destination_is_served_when_the_transfer_arrives():
    service, sent = await requested()
    [ask] = [m for m in sent if m.type == "fulfillment.request_transfer"]
    waiting = await service.deliver(COMMANDS, body("inventory.reserve_stock", only_locations=[DESTINATION],
                                                   lines=[{"sku": SKU, "quantity": 5}]))
    assert [m.type for m in waiting if m.type.startswith("inventory.")] == ["inventory.stock_reservation_failed"]
    await service.deliver(COMMANDS, body("inventory.transfer_progressed", transfer_id=ask.transfer_id, quantity=10))
    served = await service.deliver(COMMANDS, body("inventory.transfer_progressed", transfer_id=ask.transfer_id,
                                                  status="received", quantity=10, eta=None))
    [reserved] = [m for m in served if m.type == "inventory.stock_reserved"]
    assert [a.location_id for a in reserved.allocations] == [DESTINATION]


async def test_a_feed_cannot_ask_for_a_transfer():
    service = InMemory("inventory")
    feed = service.subscription(FEED)
    assert "stock.transfer_requested" in feed.handlers_for(FEED)
    assert all("stock.transfer_requested" not in feed.handlers_for(topics.feed_topic(f.id))
               for f in service.deps.network.feeds)


async def fulfillment_asked() -> tuple[InMemory, Any]:
    service = InMemory("fulfillment")
    [request] = await service.deliver(topics.FULFILLMENT_COMMANDS.name, body("fulfillment.request_transfer"))
    return service, request


async def test_fulfillment_asks_the_source_and_tells_the_destination_what_left():
    service, request = await fulfillment_asked()
    assert (request.type, request.transfer_id, request.to_location_id) == ("transfer.requested", "tr-1", DESTINATION)
    sent = await service.deliver(topics.WAREHOUSE_UPDATES.for_partner(SOURCE), body("transfer.shipped"))
    assert sorted(m.type for m in sent) == ["inventory.transfer_progressed", "transfer.expected"]
    [expected] = [m for m in sent if m.type == "transfer.expected"]
    assert (expected.from_location_id, expected.quantity) == (SOURCE, 10)
    [progressed] = await service.deliver(topics.WAREHOUSE_UPDATES.for_partner(DESTINATION), body("transfer.received"))
    assert (progressed.status, progressed.quantity) == ("received", 9)


async def test_a_location_speaks_only_for_its_own_side_of_a_transfer():
    service, _ = await fulfillment_asked()
    with pytest.raises(Unprocessable, match="is from dc-rotterdam, not 3pl-berlin"):
        await service.deliver(topics.WAREHOUSE_UPDATES.for_partner("3pl-berlin"), body("transfer.shipped"))
    with pytest.raises(Unprocessable, match="is to store-munich, not dc-rotterdam"):
        await service.deliver(topics.WAREHOUSE_UPDATES.for_partner(SOURCE), body("transfer.received"))


async def test_inventory_proposes_a_transfer_to_a_short_location_once_while_it_is_under_way():
    service = InMemory("inventory")
    assert service.deps.network.transfers is not None, "the default network proposes transfers"
    await service.deliver(FEED, body("stock.counted", on_hand=100, location_id=SOURCE),
                          body("stock.counted", on_hand=1, location_id=DESTINATION))
    [ask] = [m for m in await service.handle(propose_transfers, Tick(datetime.now(UTC)))
             if m.type == "fulfillment.request_transfer"]
    assert (ask.from_location_id, ask.to_location_id, ask.quantity) == (SOURCE, DESTINATION, 9)
    transfer = service.row("transfers", ask.transfer_id)
    assert transfer["requested_by"] == "inventory" and "store-munich has 1 (reorder point 5)" in transfer["reason"]
    assert [m for m in await service.handle(propose_transfers, Tick(datetime.now(UTC)))
            if m.type == "fulfillment.request_transfer"] == [], "one under way: not asked again"
