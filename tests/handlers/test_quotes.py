"""Quotes, in memory: what inventory would promise for a basket, and an order placed on a quote keeping it (or being
told why not, with the new promise)."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import topics
from contracts.examples import ORDER_REF
from order_service.domain import order_id_for
from runtime.consume import Unprocessable
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

FEED, COMMANDS = topics.INVENTORY_ADJUSTMENTS.name, topics.INVENTORY_COMMANDS.name
SKU = "SKU-CHAIR-01"
TO_BERLIN = {"country": "DE", "postal_code": "10115"}


async def stocked(**at: int) -> InMemory:
    service = InMemory("inventory")
    await service.deliver(FEED, *(body("stock.counted", sku=SKU, location_id=loc, on_hand=n) for loc, n in at.items()))
    return service


def ask(**fields: Any) -> dict[str, Any]:
    request = {**body("promise.requested"), "destination": TO_BERLIN, **fields}
    return body("inventory.quote_stock", request=request)


async def quote(service: InMemory, **fields: Any) -> Any:
    [quoted] = [m.quoted for m in await service.deliver(COMMANDS, ask(**fields)) if m.type == "inventory.stock_quoted"]
    return quoted


def reserve(quote_id: str | None, order_id: str = "o-1") -> dict[str, Any]:
    return body("inventory.reserve_stock", order_id=order_id, channel="web", destination=TO_BERLIN, quote_id=quote_id)


async def reserved(service: InMemory, command: dict[str, Any]) -> Any:
    [answer] = [m for m in await service.deliver(COMMANDS, command) if m.type.startswith("inventory.stock_reserv")]
    return answer


async def test_a_quote_lists_each_speed_and_each_store_in_the_country_and_reserves_nothing():
    service = await stocked(**{"3pl-berlin": 5})
    quoted = await quote(service)

    assert quoted.reason is None and quoted.expires_at > quoted.options[0].ship_by.replace(year=2000)
    ways = [(o.method, o.shipping_speed, o.pickup_location_id) for o in quoted.options]
    assert ways == [("ship", "standard", None), ("ship", "express", None), ("pickup", "standard", "store-munich")]
    standard = quoted.options[0]
    assert standard.location_ids == ["3pl-berlin"] and standard.carrier_id is not None
    assert standard.ship_by <= standard.promised_by and float(standard.shipping_cost) > 0
    assert service.row("stock", SKU, "3pl-berlin")["reserved"] == 0, "a quote holds no stock"
    assert len(service.db.rows("quotes")) == 3, "each option kept under its quote id"


async def test_a_quote_for_one_speed_or_one_store_lists_only_that_and_the_stores():
    service = await stocked(**{"3pl-berlin": 5})
    express = (await quote(service, shipping_speed="express")).options
    assert [(o.method, o.shipping_speed) for o in express] == [("ship", "express"), ("pickup", "standard")]
    pickup = await quote(service, destination=None, pickup_location_id="store-paris")
    assert [(o.method, o.pickup_location_id) for o in pickup.options] == [("pickup", "store-paris")]


async def test_nothing_to_promise_says_why():
    service = await stocked(**{"3pl-berlin": 1})
    unknown = await quote(service, lines=[{"sku": "NO-SUCH-SKU", "quantity": 1}])
    assert (unknown.options, unknown.reason.code) == ([], "unknown_sku")
    short = await quote(service, lines=[{"sku": SKU, "quantity": 50}])
    assert (short.options, short.reason.code) == ([], "insufficient_stock")


async def test_an_order_on_a_quote_gets_its_plan_and_dates():
    service = await stocked(**{"3pl-berlin": 5, "dc-rotterdam": 5})
    option = (await quote(service)).options[0]

    answer = await reserved(service, reserve(option.quote_id))
    assert (answer.quote.outcome, answer.quote.promised_by) == ("kept", option.promised_by)
    [allocation] = answer.allocations
    assert (allocation.location_id, allocation.ship_by, allocation.deliver_by) == (
        option.location_ids[0], option.ship_by, option.promised_by)


async def test_a_quote_whose_stock_went_is_planned_anew_and_says_so():
    service = await stocked(**{"3pl-berlin": 2, "dc-rotterdam": 5})
    option = (await quote(service)).options[0]
    assert option.location_ids == ["3pl-berlin"]
    await service.deliver(FEED, body("stock.adjusted", sku=SKU, location_id="3pl-berlin", delta=-1))

    answer = await reserved(service, reserve(option.quote_id))
    assert answer.quote.outcome == "changed" and "3pl-berlin" in answer.quote.why
    assert [a.location_id for a in answer.allocations] == ["dc-rotterdam"]
    assert answer.allocations[0].ship_by is None, "the saga promises a new plan itself"


async def test_an_expired_or_unknown_quote_is_planned_anew_and_says_so():
    service = await stocked(**{"3pl-berlin": 5})
    service.later(service.deps.settings.quote_ttl_s + 60)
    option = (await quote(service)).options[0]
    service.caught_up()

    assert (await reserved(service, reserve(option.quote_id))).quote.outcome == "expired"
    unknown = await reserved(service, reserve("q-made-up", order_id="o-2"))
    assert (unknown.quote.outcome, unknown.allocations[0].location_id) == ("expired", "3pl-berlin")


async def test_another_channels_quote_is_not_this_orders():
    service = await stocked(**{"3pl-berlin": 5})
    option = (await quote(service, channel="app")).options[0]
    assert (await reserved(service, reserve(option.quote_id))).quote.outcome == "expired"


ORDERS_INBOUND, REPLIES = topics.ORDERS_INBOUND.name, topics.INVENTORY_REPLIES.name


async def test_the_order_service_passes_a_promise_request_on_and_the_quote_back_to_the_channel():
    service = InMemory("order")
    request = body("promise.requested")
    [asked] = await service.deliver(ORDERS_INBOUND, request)
    assert (asked.type, asked.request.id) == ("inventory.quote_stock", request["id"])

    sent = await service.deliver(REPLIES, body("inventory.stock_quoted"))
    assert [m.type for m in sent] == ["promise.quoted"]
    assert service.sent(topics.channel_events_topic("web")) == sent == service.sent(topics.QUOTES.name)


async def test_a_channels_own_topic_takes_only_its_own_promise_requests():
    service = InMemory("order")
    with pytest.raises(Unprocessable, match="names channel app"):
        await service.deliver(topics.channel_topic("web"), body("promise.requested", channel="app"))


def placed_on(quote_id: str) -> dict[str, Any]:
    return body("order.submitted", quote_id=quote_id)


async def test_an_order_keeps_its_quotes_dates_or_is_told_the_new_promise():
    order_id = order_id_for(ORDER_REF["channel"], ORDER_REF["external_id"])
    quoted_by = "2026-12-20T16:00:00+00:00"
    kept = InMemory("order")
    [*_, asked] = await kept.deliver(ORDERS_INBOUND, placed_on("q-1"))
    assert asked.quote_id == "q-1"
    sent = await kept.deliver(REPLIES, body(
        "inventory.stock_reserved", order_id=order_id, request_id=asked.id, allocations=[
        {"reservation_id": "r-1", "location_id": "dc-rotterdam", "lines": [{"sku": SKU, "quantity": 2}],
         "ship_by": "2026-12-19T16:00:00+00:00", "deliver_by": quoted_by}],
        quote={"quote_id": "q-1", "outcome": "kept", "promised_by": quoted_by}))
    [reserved, *_] = [m for m in sent if m.type == "order.status_changed"]
    assert reserved.reason is None and reserved.shipments[0].promised_by.isoformat() == quoted_by

    changed = InMemory("order")
    [*_, asked] = await changed.deliver(ORDERS_INBOUND, placed_on("q-1"))
    sent = await changed.deliver(REPLIES, body("inventory.stock_reserved", order_id=order_id, request_id=asked.id,
                                               quote={"quote_id": "q-1", "outcome": "changed", "promised_by": quoted_by,
                                                      "why": "could not be kept: the stock went"}))
    [reserved, *_] = [m for m in sent if m.type == "order.status_changed"]
    new_date = reserved.shipments[0].promised_by
    assert reserved.reason.code == "quote_changed" and new_date is not None
    assert reserved.reason.message.endswith(f"promised by {new_date:%Y-%m-%d %H:%M} UTC instead")
