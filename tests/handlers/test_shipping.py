"""The shipping service's handlers, in memory: booking the best carrier, its tracking, the next one when it fails."""

from __future__ import annotations

import pytest

from contracts import topics
from runtime.consume import Unprocessable
from shipping_service.handlers import expire
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

COMMANDS = topics.SHIPPING_COMMANDS.name


def updates(carrier: str) -> str:
    return topics.CARRIER_UPDATES.for_partner(carrier)


async def booking() -> tuple[InMemory, str]:
    service = InMemory("shipping")
    [request] = await service.deliver(COMMANDS, body("shipping.book_shipment"))
    return service, request.carrier_id


async def test_a_shipment_is_booked_with_one_carrier_once():
    service, carrier = await booking()
    assert await service.deliver(COMMANDS, body("shipping.book_shipment")) == [], "booked before"
    [request] = service.sent(topics.CARRIER_REQUESTS.for_partner(carrier))
    assert request.type == "shipment.booking_requested"
    row = service.row("shipments", "shp-1")
    assert row is not None and (row["status"], row["carrier_id"], row["tried_carriers"]) == (
        "booking", carrier, [carrier])


async def test_the_carriers_tracking_moves_the_shipment_on_and_the_saga_hears_it_once_it_left():
    service, carrier = await booking()
    sent = await service.deliver(updates(carrier), body("shipment.booked", estimated_delivery="2026-12-03T18:00:00Z"))
    assert sent == [], "booked: the order is ready to ship either way"
    row = service.row("shipments", "shp-1")
    assert (row["status"], row["tracking_number"]) == ("booked", "DHL123")
    sent = await service.deliver(updates(carrier), body("shipment.picked_up"), body("shipment.delivered"))
    assert [m.status for m in sent] == ["picked_up", "delivered"]
    assert {(m.carrier_id, m.tracking_number) for m in sent} == {(carrier, "DHL123")}, "learnt with the pickup"
    assert {m.estimated_delivery.isoformat() for m in sent if m.estimated_delivery} == {"2026-12-03T18:00:00+00:00"}
    assert service.row("shipments", "shp-1")["status"] == "delivered"


async def test_in_transit_once_picked_up_is_kept_here_and_the_saga_hears_it_only_as_a_first_word():
    service, carrier = await booking()
    sent = await service.deliver(updates(carrier), body("shipment.booked"), body("shipment.picked_up"),
                                 body("shipment.in_transit"))
    assert [m.status for m in sent] == ["picked_up"], "in transit changes nothing the customer sees"
    assert service.row("shipments", "shp-1")["status"] == "in_transit"
    skipped, carrier = await booking()
    [first] = await skipped.deliver(updates(carrier), body("shipment.in_transit"))
    assert first.status == "in_transit", "no picked_up heard: the saga learns it left"


async def test_an_exception_is_reported_on_and_counted_for_the_carriers_scorecard_without_moving_the_shipment():
    service, carrier = await booking()
    await service.deliver(updates(carrier), body("shipment.booked"), body("shipment.in_transit"))
    sent = await service.deliver(updates(carrier), body("shipment.exception", id="ex-1", reason="parcel damaged"),
                                 body("shipment.exception", id="ex-2", reason="address unknown"))
    assert [(m.status, m.reason) for m in sent] == [("exception", "parcel damaged"), ("exception", "address unknown")]
    row = service.row("shipments", "shp-1")
    assert (row["status"], row["exceptions"]) == ("in_transit", 2)
    assert await service.deliver(updates(carrier), body("shipment.exception", id="ex-1")) == [], "read again: once"
    assert service.row("shipments", "shp-1")["exceptions"] == 2


async def test_a_carrier_that_cannot_take_it_passes_it_to_the_next_and_the_last_tells_the_saga():
    service, first = await booking()
    [second] = await service.deliver(updates(first), body("shipment.booking_failed"))
    assert second.carrier_id != first
    assert await service.deliver(updates(first), body("shipment.booked")) == [], "the former carrier is ignored"
    carriers = {first, second.carrier_id}
    while True:
        [sent] = await service.deliver(updates(sent_to := service.row("shipments", "shp-1")["carrier_id"]),
                                       body("shipment.booking_failed"))
        if sent.type != "shipment.booking_requested":
            break
        carriers.add(sent.carrier_id)
        assert sent.carrier_id != sent_to
    assert (sent.type, sent.status) == ("shipping.shipment_progressed", "booking_failed")
    assert service.row("shipments", "shp-1")["status"] == "booking_failed"


async def test_an_update_about_an_unknown_shipment_cannot_apply():
    with pytest.raises(Unprocessable, match="no shipment"):
        await InMemory("shipping").deliver(updates("dhl"), body("shipment.booked"))


async def test_a_silent_carrier_is_told_to_cancel_and_the_next_one_asked():
    service = InMemory("shipping")
    service.later(3600)
    [first] = await service.deliver(COMMANDS, body("shipping.book_shipment"))
    sent = await service.tick(expire)
    assert [m.type for m in sent] == ["shipment.cancel_requested", "shipment.booking_requested"]
    assert sent[1].carrier_id != first.carrier_id


async def test_a_carrier_never_asked_cannot_speak_for_a_shipment():
    """Carrier B's delivered for A's shipment changes nothing and is dead-lettered; a former carrier's late answer
    is only ignored."""
    service, carrier = await booking()
    stranger = next(c.id for c in service.deps.network.carriers if c.id != carrier)
    with pytest.raises(Unprocessable, match=f"never handed to {stranger}"):
        await service.deliver(updates(stranger), body("shipment.delivered"))
    assert service.row("shipments", "shp-1")["status"] == "booking"


async def test_a_carrier_failing_lately_is_passed_over_while_another_can_take_the_shipment():
    _, usual = await booking()
    service = InMemory("shipping")
    service.deps.failure_rates = {usual: 0.6}
    [request] = await service.deliver(COMMANDS, body("shipping.book_shipment"))
    assert request.carrier_id != usual

    alone = InMemory("shipping")  # every carrier failing: the best of them all the same, not none
    alone.deps.failure_rates = {c.id: 0.9 for c in alone.deps.network.carriers}
    [request] = await alone.deliver(COMMANDS, body("shipping.book_shipment"))
    assert request.carrier_id == usual


async def test_a_delivered_shipment_keeps_when_it_arrived_against_its_promise():
    service = InMemory("shipping")
    [request] = await service.deliver(COMMANDS, body("shipping.book_shipment", deliver_by="2026-12-01T18:00:00+00:00"))
    await service.deliver(updates(request.carrier_id), body("shipment.booked"), body("shipment.delivered"))
    row = service.row("shipments", "shp-1")
    assert row["delivered_at"] is not None and row["deliver_by"].isoformat() == "2026-12-01T18:00:00+00:00"
