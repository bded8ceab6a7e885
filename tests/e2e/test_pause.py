"""A store that pauses (an operator for it, or the store on its own topic) gets no new work until it resumes; the
orders that waited for its stock are then served from it. On the real stack."""

from __future__ import annotations

import pytest

from contracts.partners import LocationPaused, LocationResumed
from tests.e2e.test_operator_tools import oms_cli
from tests.e2e.test_when_things_go_wrong import until_status
from tests.support.kafka import read_topic
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e


async def test_a_paused_store_gets_nothing_until_it_resumes(oms):
    await oms.stock({"PAUSE": {"store-munich": 4}})  # its safety stock is 2: 2 to sell, nowhere else
    watch = await oms.watch()
    try:
        assert "location.paused" in await oms_cli("location", "pause", "store-munich", "--reason", "stocktaking")
        await oms.processes["inventory_service"].logged("location.paused")
        order = oms.order(1, {"PAUSE": 1})
        await oms.send(order)
        await until_status(watch, order, "backordered")

        await oms_cli("location", "resume", "store-munich")
        served = await until_status(watch, order, "delivered", timeout=90)
        assert [s["location_id"] for s in served["shipments"]] == ["store-munich"]
    finally:
        await watch.stop()


async def test_a_store_speaks_only_for_its_own_pause(oms):
    """Paris cannot pause Munich: the message changes nothing and is dead-lettered with the reason."""
    await oms.stock({"OWN": {"store-munich": 4}})
    paris = await PlayedPartner("warehouse", "store-paris").start()
    watch = await oms.watch()
    try:
        pause = LocationPaused(location_id="store-munich", reason="not mine to say")
        await paris.answer("store-munich", pause)
        await oms.processes["fulfillment_service"].logged("location.paused_by_another")
        order = oms.order(1, {"OWN": 1})
        await oms.send(order)
        served = await until_status(watch, order, "delivered", timeout=90)
        assert [s["location_id"] for s in served["shipments"]] == ["store-munich"]

        async def letters() -> list[str]:
            return [dict(r.headers)["dlq_reason"].decode() for r in await read_topic(f"{paris.updates_topic}.dlq")
                    if pause.id.encode() in r.value]
        [why] = await eventually(letters, bool, "Paris's pause of Munich dead-lettered")
        assert "store-paris cannot pause or resume store-munich" in why

        # its own pause it may say: inventory is told (`inventory.set_location_paused`) and allocates nothing there
        await paris.answer("store-paris", LocationPaused(location_id="store-paris", reason="inventory count"))
        try:
            await oms.processes["inventory_service"].logged("location.paused")
        finally:
            await paris.answer("store-paris", LocationResumed(location_id="store-paris"))
        await oms.processes["inventory_service"].logged("location.resumed")
    finally:
        await paris.stop()
        await watch.stop()
