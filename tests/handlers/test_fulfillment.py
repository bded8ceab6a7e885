"""The fulfillment service's handlers, in memory: hand-off, the warehouse's updates, cancellation, deadlines."""

from __future__ import annotations

import pytest

from contracts import topics
from fulfillment_service.handlers import expire
from runtime.consume import Unprocessable
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

COMMANDS = topics.FULFILLMENT_COMMANDS.name
UPDATES = topics.WAREHOUSE_UPDATES.for_partner("dc-rotterdam")
REQUESTS = topics.WAREHOUSE_REQUESTS.for_partner("dc-rotterdam")


async def requested() -> InMemory:
    service = InMemory("fulfillment")
    await service.deliver(COMMANDS, body("fulfillment.request_fulfillment"))
    return service


async def test_a_request_goes_to_its_warehouse_once_with_an_invoice():
    service = InMemory("fulfillment")
    command = body("fulfillment.request_fulfillment")
    sent = await service.deliver(COMMANDS, command)
    assert await service.deliver(COMMANDS, {**command, "id": "another"}) == [], "requested before"

    [request] = service.sent(REQUESTS)
    assert request is sent[0] and request.type == "fulfillment.requested"
    assert request.invoice.number and request.lines[0].sku == "SKU-CHAIR-01"
    row = service.row("fulfillments", "ful-1")
    assert row is not None and row["status"] == "requested" and row["deadline_at"] is not None


async def test_the_warehouse_updates_move_it_on_and_the_saga_hears_of_it():
    service = await requested()
    sent = await service.deliver(UPDATES, body("fulfillment.accepted"), body("fulfillment.picked"),
                                 body("fulfillment.packed"))
    assert [m.status for m in sent] == ["accepted", "packed"], "picked after accepted changes nothing it sees"
    assert service.row("fulfillments", "ful-1")["picked_at"] is not None, "the scorecard still has it"
    assert sent[-1].parcels[0].parcel_id == "p-1"
    row = service.row("fulfillments", "ful-1")
    assert row is not None and (row["status"], row["deadline_at"]) == ("packed", None)
    assert row["accepted_at"] is not None and row["packed_at"] >= row["accepted_at"], "the scorecard's times"


async def test_picked_as_the_warehouses_first_word_tells_the_saga_it_is_in_fulfillment():
    service = await requested()
    [picked] = await service.deliver(UPDATES, body("fulfillment.picked"))
    assert picked.status == "picked"


async def test_an_update_that_is_not_further_along_is_ignored():
    service = await requested()
    await service.deliver(UPDATES, body("fulfillment.packed"))
    assert await service.deliver(UPDATES, body("fulfillment.accepted")) == []


async def test_an_update_about_an_unknown_fulfillment_cannot_apply():
    with pytest.raises(Unprocessable, match="no fulfillment"):
        await InMemory("fulfillment").deliver(UPDATES, body("fulfillment.accepted"))


async def test_a_cancellation_is_passed_to_the_warehouse_unless_it_is_over():
    service = await requested()
    sent = await service.deliver(COMMANDS, body("fulfillment.cancel_fulfillment", reason="changed mind"))
    assert [(m.type, m.reason) for m in sent] == [("fulfillment.cancel_requested", "changed mind")]
    await service.deliver(UPDATES, body("fulfillment.cancelled"))
    assert await service.deliver(COMMANDS, body("fulfillment.cancel_fulfillment")) == []


async def test_a_warehouse_silent_past_its_deadline_is_told_to_cancel_and_the_saga_reroutes():
    service = InMemory("fulfillment")
    service.later(3600)
    await service.deliver(COMMANDS, body("fulfillment.request_fulfillment"))
    sent = await service.tick(expire)
    assert [(m.type, getattr(m, "status", None)) for m in sent] == [
        ("fulfillment.cancel_requested", None), ("fulfillment.progressed", "timed_out")]
    assert await service.tick(expire) == []


async def test_another_location_cannot_speak_for_a_fulfillment_it_was_not_handed():
    """Warehouse B's reject, cancel or packed for A's fulfillment changes nothing and is dead-lettered."""
    service = await requested()  # handed to dc-rotterdam
    other = topics.WAREHOUSE_UPDATES.for_partner("3pl-berlin")
    for kind in ("fulfillment.rejected", "fulfillment.cancelled", "fulfillment.packed"):
        with pytest.raises(Unprocessable, match="was handed to dc-rotterdam, not to 3pl-berlin"):
            await service.deliver(other, body(kind))
    assert service.row("fulfillments", "ful-1")["status"] == "requested"
    assert service.sent(topics.FULFILLMENT_EVENTS.name) == []


async def test_a_location_pauses_and_resumes_itself_and_no_other():
    service = InMemory("fulfillment")
    sent = await service.deliver(UPDATES, body("location.paused", location_id="dc-rotterdam"),
                                 body("location.resumed", location_id="dc-rotterdam"))
    assert [(m.type, m.location_id, m.paused) for m in sent] == [
        ("inventory.set_location_paused", "dc-rotterdam", True), ("inventory.set_location_paused", "dc-rotterdam", False)]
    assert {t for t, _, _ in service.db.outbox} == {topics.INVENTORY_COMMANDS.name}
    with pytest.raises(Unprocessable, match="cannot pause or resume store-munich"):
        await service.deliver(UPDATES, body("location.paused", location_id="store-munich"))


async def test_a_short_pick_corrects_the_locations_stock_by_what_it_could_not_find():
    service = await requested()  # 2 x SKU-CHAIR-01 at dc-rotterdam
    sent = await service.deliver(UPDATES, body("fulfillment.rejected", short_lines=[
        {"sku": "SKU-CHAIR-01", "quantity": 5}, {"sku": "NOT-ASKED", "quantity": 1}]))
    assert [m.status for m in sent if m.type == "fulfillment.progressed"] == ["rejected"]
    [adjusted] = service.sent(topics.INVENTORY_ADJUSTMENTS.name)
    assert (adjusted.sku, adjusted.location_id, adjusted.delta, adjusted.reason) == (
        "SKU-CHAIR-01", "dc-rotterdam", -2, "short_pick"), "at most what was asked of it, nothing it was not asked"


async def test_a_request_for_pickup_tells_the_store_and_a_collection_has_no_deadline():
    service = InMemory("fulfillment")
    await service.deliver(COMMANDS, body("fulfillment.request_fulfillment", pickup=True, collection=True))
    [request] = service.sent(REQUESTS)
    assert request.pickup
    assert service.row("fulfillments", "ful-1")["deadline_at"] is None, "already there: nothing to accept in time"
    sent = await service.deliver(UPDATES, body("fulfillment.ready_for_pickup"), body("fulfillment.collected"))
    assert [m.status for m in sent] == ["ready_for_pickup", "collected"]
