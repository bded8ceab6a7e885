"""Delivery slots, in memory: a quote lists the free windows of the carrier that would deliver; a window is claimed
with the stock, never past its capacity (the order held with the free ones named), given back on cancel; the saga
promises the window's end and tells the carrier the window."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import pytest

from contracts import topics
from contracts.base import Window
from contracts.channels import OrderCancelRequested, OrderChangeRequested
from contracts.fulfillment import FulfillmentProgressed
from contracts.inventory import Allocation, StockReservationFailed, StockReserved
from contracts.order import Reason, ReserveStock
from order_service.saga import Saga, SagaState, StatusChange, change, decide, promised
from rules.network import load_network
from runtime.settings import get_settings
from tests.handlers.test_quotes import TO_BERLIN, ask, reserve, stocked
from tests.support.memory import InMemory, body
from tests.unit.test_saga import ADDRESS, LINES

pytestmark = pytest.mark.unit

COMMANDS, REPLIES = topics.INVENTORY_COMMANDS.name, topics.INVENTORY_REPLIES.name


WINDOW = Window(start=datetime.fromisoformat("2026-12-11T16:00:00+00:00"),
                end=datetime.fromisoformat("2026-12-11T18:00:00+00:00"))


def reserved_in(window: Window, **allocation: Any) -> tuple[Saga, Any]:
    """A saga waiting in `window`, and what its reservation at 3pl-berlin (with `allocation`'s dates) decided."""
    saga = waiting(window)
    return saga, decide(saga, StockReserved(order_id="o", request_id=request_id(saga), allocations=[
        Allocation(reservation_id="r1", location_id="3pl-berlin", lines=saga.lines, **allocation)]))


async def quoted_slots(service: InMemory) -> list[Window]:
    [quoted] = [m.quoted for m in await service.deliver(COMMANDS, ask(shipping_speed="standard"))
                if m.type == "inventory.stock_quoted"]
    ship = next(o for o in quoted.options if o.method == "ship")
    assert ship.carrier_id == "postnl", "the cheapest carrier on time to Germany, which offers slots there"
    assert ship.slots and all(w.start >= ship.promised_by for w in ship.slots), "once the order can be there"
    return ship.slots


def in_window(window: Window, order_id: str) -> dict[str, Any]:
    return {**reserve(None, order_id), "window": window.model_dump(mode="json")}


def replies(sent: list[Any]) -> list[Any]:
    return [m for m in sent if m.type.startswith("inventory.stock_reserv")]


async def test_a_window_is_claimed_with_the_stock_and_never_past_its_capacity():
    service = await stocked(**{"3pl-berlin": 60})
    window, *_ = await quoted_slots(service)
    capacity = service.deps.network.carriers[1].slots[0].capacity

    answers = replies(await service.deliver(COMMANDS, *(in_window(window, f"o-{n}") for n in range(capacity + 1))))
    assert [a.type for a in answers] == ["inventory.stock_reserved"] * capacity + ["inventory.stock_reservation_failed"]
    full = answers[-1]
    assert full.reason == "slot_full" and full.free_slots and window not in full.free_slots
    assert service.row("stock", "SKU-CHAIR-01", "3pl-berlin")["reserved"] == 2 * capacity, "nothing held for it"
    assert service.row("delivery_slots", "postnl", "de", window.start)["claimed"] == capacity
    assert service.db.rows("backorders") == [], "a full window is not a shortage: nothing waits for stock"

    await service.deliver(COMMANDS, body("inventory.release_stock", order_id="o-0"))
    assert service.row("delivery_slots", "postnl", "de", window.start)["claimed"] == capacity - 1, "given back"
    again = replies(await service.deliver(COMMANDS, in_window(window, "o-late")))
    assert [a.type for a in again] == ["inventory.stock_reserved"]


async def test_a_window_the_carrier_does_not_offer_is_refused_with_the_free_ones():
    service = await stocked(**{"3pl-berlin": 3})
    window, *_ = await quoted_slots(service)
    odd = Window(start=window.start.replace(minute=30), end=window.end.replace(minute=30))
    [answer] = replies(await service.deliver(COMMANDS, in_window(odd, "o-1")))
    assert answer.reason == "slot_full" and window in answer.free_slots


def waiting(window: Window) -> Saga:
    request = reserve(None, "o")
    return Saga(order_id="o", channel="web", external_id="1", state=SagaState.AWAITING_STOCK, status="accepted",
                reserving=True, lines=LINES, ship_to=ADDRESS.model_copy(update={"postal_code": TO_BERLIN["postal_code"]}),
                window=window, reservation_request=ReserveStock.model_validate(request))


def request_id(saga: Saga) -> str:
    assert saga.reservation_request is not None
    return saga.reservation_request.id


def reason_of(change: StatusChange) -> Reason:
    assert change.reason is not None
    return change.reason


def test_a_full_window_holds_the_order_naming_the_free_ones_and_another_window_reserves_it_again():
    window = WINDOW
    other = Window(start=window.end, end=datetime.fromisoformat("2026-12-11T20:00:00+00:00"))
    saga = waiting(window)
    held = decide(saga, StockReservationFailed(order_id="o", reason="slot_full", free_slots=[other],
                                               request_id=request_id(saga)))
    assert (held.saga.state, held.saga.hold_reason, held.changes[0].status) == (SagaState.ON_HOLD, "slot_full", "on_hold")
    told = reason_of(held.changes[0]).message
    assert "2026-12-11 16:00-18:00 UTC is full; free windows: 2026-12-11 18:00-20:00 UTC" in told

    moved = change(held.saga, OrderChangeRequested(channel="web", external_id="1", delivery={"window": other}), None)
    [command] = cast(list[Any], moved.commands)
    assert (command.type, command.window, moved.saga.window) == ("inventory.reserve_stock", other, other)
    refused = change(saga, OrderChangeRequested(channel="web", external_id="1", delivery={"window": other}), None)
    assert reason_of(refused.changes[0]).code == "change_refused" and not refused.commands


def test_the_windows_end_is_the_promise_and_the_carrier_is_told_the_window():
    window = WINDOW
    _, reserved = reserved_in(window)
    network = load_network(get_settings().network_file)
    after = promised(reserved.saga, network, datetime.fromisoformat("2026-12-07T09:00:00+00:00"))
    [f] = after.fulfillments
    assert f.deliver_by == window.end
    packed = decide(after, FulfillmentProgressed(order_id="o", fulfillment_id=f.fulfillment_id, location_id="3pl-berlin",
                                                 status="packed", parcels=[]))
    [booking] = [cast(Any, c) for c in packed.commands if c.type == "shipping.book_shipment"]
    assert (booking.delivery_window, booking.deliver_by) == (window, window.end)


async def test_the_carrier_is_booked_with_the_window_whatever_the_promise_said():
    shipping = InMemory("shipping")
    window = {"from": "2026-12-11T16:00:00+00:00", "to": "2026-12-11T18:00:00+00:00"}
    booking = body("shipping.book_shipment", ship_to=ADDRESS.model_dump(mode="json"),
                   deliver_by="2026-12-10T14:00:00+00:00", delivery_window=window)
    [request] = await shipping.deliver(topics.SHIPPING_COMMANDS.name, booking)
    assert request.delivery_window == Window.model_validate(window)


def test_an_order_in_a_window_cancelled_at_its_warehouse_gives_the_window_back():
    window = WINDOW
    _, reserved = reserved_in(window)
    [f] = reserved.saga.fulfillments
    asking = decide(reserved.saga, OrderCancelRequested(channel="web", external_id="1"))
    done = decide(asking.saga, FulfillmentProgressed(order_id="o", fulfillment_id=f.fulfillment_id,
                                                     location_id="3pl-berlin", status="cancelled"))
    assert done.saga.state == SagaState.CANCELLED
    releases = [cast(Any, c) for c in done.commands if c.type == "inventory.release_stock"]
    assert sorted(str(c.reservation_id) for c in releases) == ["None", "r1"], "the reservation, then the whole order"


def test_an_order_on_a_quote_in_a_window_is_promised_the_windows_end():
    _, reserved = reserved_in(WINDOW, ship_by=datetime.fromisoformat("2026-12-08T14:00:00+00:00"),
                              deliver_by=datetime.fromisoformat("2026-12-10T14:00:00+00:00"))
    [f] = reserved.saga.fulfillments
    assert f.deliver_by == WINDOW.end, "the quote's own date is before the window: the window's end is the promise"
