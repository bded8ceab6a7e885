"""Promises: ship-by from a location's cut-off, working days and time zone; deliver-by from the lane; and the saga
telling each broken promise once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.fulfillment import ShipmentProgressed
from order_service import domain
from order_service.saga import PromisesDue, Saga, SagaState, decide, promise_due, promised
from rules.network import Carrier, Lane, Location, Network
from rules.promise import deliver_by, ship_by
from tests.unit.test_saga import saga

pytestmark = pytest.mark.unit

BERLIN = Location(id="loc1", kind="dc", name="DC", country="DE", region="east", lat=52.5, lon=13.4,
                  timezone="Europe/Berlin", cutoff="15:00", handling_days=0)
BERLIN_ZONE = ZoneInfo("Europe/Berlin")
DHL = Carrier(id="dhl", name="DHL", lanes=[Lane(service_level="standard", countries=["DE"], rate=Decimal("5"),
                                                transit_days=1),
                                           Lane(service_level="standard", countries=["FR"], rate=Decimal("9"),
                                                transit_days=2)])


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)  # 2026-11-23 is a Monday; Berlin is UTC+1 in November


@pytest.mark.parametrize(("reserved", "location", "leaves"), [
    (utc(23, 9), BERLIN, utc(23, 14)),  # before the cut-off (15:00 in Berlin) on a Monday: that day
    (utc(23, 14, 30), BERLIN, utc(24, 14)),  # after it: the next working day
    (utc(27, 16), BERLIN, utc(30, 14)),  # Friday after the cut-off: Monday
    (utc(28, 9), BERLIN, utc(30, 14)),  # Saturday: Monday
    (utc(23, 9), BERLIN.model_copy(update={"handling_days": 1}), utc(24, 14)),  # a day to handle it
    (utc(27, 9), BERLIN.model_copy(update={"handling_days": 1}), utc(30, 14)),  # ...over the weekend
    (utc(28, 9), BERLIN.model_copy(update={"working_days": ["mon", "tue", "wed", "thu", "fri", "sat"]}),
     utc(28, 14)),  # a store open on Saturdays
    (utc(23, 9), BERLIN.model_copy(update={"ship_within_s": 90}), utc(23, 9, 1) + timedelta(seconds=30)),  # an SLA
])
def test_ship_by_is_the_next_cut_off_on_a_working_day(reserved: datetime, location: Location,
                                                       leaves: datetime) -> None:
    assert ship_by(location, reserved) == leaves


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
       st.integers(min_value=0, max_value=3))
def test_a_promise_is_never_before_the_reservation_and_always_on_a_working_day(at: datetime, handling: int) -> None:
    location = BERLIN.model_copy(update={"handling_days": handling})
    leaves = ship_by(location, at)
    assert leaves > at
    assert leaves.astimezone(BERLIN_ZONE).strftime("%a").lower() in location.working_days
    assert leaves - at < timedelta(days=4 + handling + 2)


def test_deliver_by_adds_the_lane_the_carrier_choice_would_take() -> None:
    leaves = utc(23, 14)
    assert deliver_by([DHL], BERLIN, "DE", "standard", leaves) == leaves + timedelta(days=1)
    assert deliver_by([DHL], BERLIN, "FR", "standard", leaves) == leaves + timedelta(days=3), "a border: a day more"
    assert deliver_by([DHL], BERLIN, "US", "standard", leaves) == leaves + timedelta(days=3), "no lane: the promise"


NETWORK = Network(locations=[BERLIN, BERLIN.model_copy(update={"id": "loc2", "ship_within_s": 60})], carriers=[DHL])


def promised_saga(*steps: str, at: datetime = utc(23, 9)) -> Saga:
    return promised(saga("fulfilling", "released", steps), NETWORK, at)


def test_each_shipment_is_promised_once_at_its_reservation() -> None:
    given = promised_saga("requested", "requested")
    first, second = given.fulfillments
    assert (first.ship_by, first.deliver_by) == (utc(23, 14), utc(24, 14))
    assert second.ship_by == utc(23, 9, 1), "the SLA location"
    assert promised(given, NETWORK, utc(25, 9)) == given, "a promise once made stays"
    assert promise_due(given) == utc(23, 9, 1)
    view = domain.shipments(given)[0]
    assert (view.ship_by, view.promised_by) == (utc(23, 14), utc(24, 14))


def test_a_broken_promise_is_told_once_with_the_status_unchanged() -> None:
    given = promised_saga("accepted", "packed")
    decision = decide(given, PromisesDue(order_id="o", at=utc(23, 9, 2)))
    assert [(c.status, c.reason.code if c.reason else None) for c in decision.changes] == [("released", "late_to_ship")]
    assert "o-S2" in decision.changes[0].reason.message  # type: ignore[union-attr]
    assert decision.saga.state == SagaState.FULFILLING and decision.commands == []
    assert decide(decision.saga, PromisesDue(order_id="o", at=utc(23, 9, 3))).changes == [], "told once"
    assert promise_due(decision.saga) == utc(23, 14), "the next promise still watched"


def test_a_shipment_on_its_way_in_time_breaks_no_ship_by_promise_but_may_arrive_late() -> None:
    given = promised_saga("accepted", "packed")
    moved = decide(given, ShipmentProgressed(order_id="o", shipment_id="o-S2", status="picked_up", carrier_id="dhl",
                                             estimated_delivery=utc(26, 12)))
    assert moved.saga.fulfillments[1].estimated_delivery == utc(26, 12)
    assert domain.shipments(moved.saga)[1].estimated_delivery == utc(26, 12)
    late = decide(moved.saga, PromisesDue(order_id="o", at=utc(24, 15)))
    codes = [(c.reason.message.split()[1], c.reason.code) for c in late.changes if c.reason]
    assert codes == [("o-S1", "late_to_ship"), ("o-S1", "late_delivery"), ("o-S2", "late_delivery")]
    assert "expects it by 2026-11-26 12:00 UTC" in late.changes[-1].reason.message  # type: ignore[union-attr]
    assert promise_due(late.saga) is None


def test_a_delivered_or_ended_order_has_no_promise_to_watch() -> None:
    assert promise_due(promised_saga("delivered", "delivered")) is None
    cancelled = promised_saga("accepted").model_copy(update={"state": SagaState.CANCELLED})
    assert promise_due(cancelled) is None
    assert decide(cancelled, PromisesDue(order_id="o", at=utc(30, 9))).changes == []
