"""The quote is the promise: over random networks (time zones, cut-offs, working days, handling days, partner SLAs,
carriers and lanes), baskets and stock, the option a quote gives is what the order placed on the same stock at the
same moment is promised: the same locations, and each shipment's ship-by and deliver-by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from contracts.base import Address, SkuQuantity
from contracts.inventory import Allocation, StockReserved
from inventory_service.quotes import option
from order_service.saga import Saga, SagaState, decide, with_promises
from rules import promise, routing
from rules.network import Carrier, Lane, Location, Network, Weights

pytestmark = pytest.mark.unit

COUNTRIES = ("DE", "NL", "FR")
ZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo", "UTC")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SKUS = ("A", "B", "C")


@st.composite
def locations(draw: st.DrawFn, n: int) -> Location:
    return Location(
        id=f"L{n}", kind=draw(st.sampled_from(("dc", "3pl", "store"))), name=f"L{n}",
        country=draw(st.sampled_from(COUNTRIES)), region="r", lat=draw(st.floats(40, 60)), lon=draw(st.floats(-5, 20)),
        timezone=draw(st.sampled_from(ZONES)), cutoff=f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
        working_days=draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)),
        handling_days=draw(st.integers(0, 2)), ship_within_s=draw(st.none() | st.integers(60, 3 * 86400)))


@st.composite
def carriers(draw: st.DrawFn, n: int) -> Carrier:
    lanes = [Lane(service_level=draw(st.sampled_from(("standard", "express"))),
                  countries=draw(st.lists(st.sampled_from(COUNTRIES), min_size=1, unique=True)),
                  rate=Decimal(draw(st.integers(1, 2000))) / 100, transit_days=draw(st.integers(0, 4)))
             for _ in range(draw(st.integers(0, 3)))]
    return Carrier(id=f"C{n}", name=f"C{n}", lanes=lanes)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Network, dict[tuple[str, str], int], dict[str, int], str, str, datetime]:
    network = Network(locations=[draw(locations(n)) for n in range(draw(st.integers(1, 5)))],
                      carriers=[draw(carriers(n)) for n in range(draw(st.integers(1, 3)))])
    stock = {(loc.id, sku): draw(st.integers(0, 6)) for loc in network.locations for sku in SKUS}
    basket = draw(st.dictionaries(st.sampled_from(SKUS), st.integers(1, 4), min_size=1))
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 366 * 24 * 60)))
    return (network, stock, basket, draw(st.sampled_from(COUNTRIES)), draw(st.sampled_from(("standard", "express"))),
            now)


@given(worlds())
@settings(max_examples=300, deadline=None)
def test_the_quote_is_the_promise_the_order_placed_on_the_same_stock_gets(world):
    network, stock, basket, country, speed, now = world
    sites = [routing.Site(loc.id, float(n), 0, loc.country) for n, loc in enumerate(network.locations)]
    decided = routing.decide(basket, stock, sites, network.carriers, routing.Destination(country, speed), Weights())
    assume(decided is not None)
    assert decided is not None
    plan = decided.chosen.plan
    quoted = option("q-1", "ship", speed, None, promise.legs(
        [network.location(location_id) for location_id, _ in plan], network.carriers, country, speed, now))

    # the order: reserved on the same plan (what routing decides again on the same stock), promised by its saga
    reservation = StockReserved(order_id="o", allocations=[
        Allocation(reservation_id=f"r{n}", location_id=location_id,
                   lines=[SkuQuantity(sku=sku, quantity=qty) for sku, qty in part.items()])
        for n, (location_id, part) in enumerate(plan)])
    waiting = Saga(order_id="o", channel="web", external_id="1", state=SagaState.AWAITING_STOCK, reserving=True,
                   lines=[SkuQuantity(sku=sku, quantity=qty) for sku, qty in basket.items()], service_level=speed,
                   ship_to=Address(name="A", line1="l", city="c", postal_code="1", country=country))
    ordered = with_promises(decide(waiting, reservation), network, now).saga

    assert routing.decide(basket, stock, sites, network.carriers, routing.Destination(country, speed),
                          Weights()) == decided, "the reservation plans what the quote planned"
    assert quoted.location_ids == [f.location_id for f in ordered.fulfillments]
    assert quoted.promised_by == max(f.deliver_by for f in ordered.fulfillments if f.deliver_by)
    assert quoted.ship_by == max(f.ship_by for f in ordered.fulfillments if f.ship_by)
