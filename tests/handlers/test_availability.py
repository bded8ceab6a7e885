"""What each channel may sell, in memory: told when its number changes and only then, over the locations that serve
it, less its buffer; and an order from a channel is allocated only where that channel is served."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import topics
from rules.network import ChannelStock
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

FEED, COMMANDS = topics.INVENTORY_ADJUSTMENTS.name, topics.INVENTORY_COMMANDS.name
SKU = "SKU-CHAIR-01"


def told(sent: list[Any]) -> dict[str, int]:
    return {m.channel: m.available for m in sent if m.type == "stock.availability_changed"}


def with_rules(**rules: ChannelStock) -> InMemory:
    service = InMemory("inventory")
    service.deps.network = service.deps.network.model_copy(update={"availability": {
        channel.replace("_", ":"): rule for channel, rule in rules.items()}})
    return service


async def test_a_channel_is_told_only_when_its_number_changes():
    service = InMemory("inventory")
    assert told(await service.deliver(FEED, body("stock.counted", sku=SKU, location_id="dc-rotterdam", on_hand=10)))
    again = await service.deliver(FEED, body("stock.counted", sku=SKU, location_id="dc-rotterdam", on_hand=10))
    assert told(again) == {}, "the same count changes nobody's number"
    assert [m.type for m in again] == ["stock.level_changed"]
    sent = await service.deliver(FEED, body("stock.adjusted", sku=SKU, location_id="dc-rotterdam", delta=-1))
    assert told(sent)["web"] == 9


async def test_buffers_and_served_locations_shape_what_a_marketplace_may_sell():
    service = with_rules(marketplace_amazon=ChannelStock(locations=["dc-rotterdam"], buffer="10%", buffers={SKU: 3}),
                         marketplace_wayfair=ChannelStock(buffer=4))
    await service.deliver(FEED, body("stock.counted", sku=SKU, location_id="store-munich", on_hand=5))
    sent = await service.deliver(FEED, body("stock.counted", sku=SKU, location_id="dc-rotterdam", on_hand=10))
    numbers = told(sent)
    assert numbers["web"] == 13, "10 at the DC and 5 at the store less its safety stock of 2"
    assert numbers["marketplace:amazon"] == 7, "served by the DC alone, 3 of this SKU kept back"
    assert numbers["marketplace:wayfair"] == 9
    last = await service.deliver(FEED, body("stock.counted", sku="SKU-LAMP", location_id="dc-rotterdam", on_hand=2))
    assert told(last)["marketplace:amazon"] == 1, "10% of 2, rounded up, kept back"


async def test_an_order_from_a_channel_is_allocated_only_where_that_channel_is_served():
    service = with_rules(marketplace_amazon=ChannelStock(locations=["store-paris"]))
    await service.deliver(FEED, body("stock.counted", sku=SKU, location_id="dc-rotterdam", on_hand=10),
                          body("stock.counted", sku=SKU, location_id="store-paris", on_hand=10))
    sent = await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-amazon",
                                                channel="marketplace:amazon"))
    [reserved] = [m for m in sent if m.type == "inventory.stock_reserved"]
    assert [a.location_id for a in reserved.allocations] == ["store-paris"]
    sent = await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-web", channel="web"))
    [reserved] = [m for m in sent if m.type == "inventory.stock_reserved"]
    assert [a.location_id for a in reserved.allocations] == ["dc-rotterdam"], "the nearest, for the web shop"
