"""Carrier pickups on the real stack, with the test as the carrier: the OMS asks for each pickup ahead of it with
its manifest; a missed pickup rolls the shipment to the next one, and a shipment that now leaves after its ship-by is
told late once (the customer one delay notice)."""

from __future__ import annotations

import pytest

from contracts.partners import PickupConfirmed, PickupMissed, ShipmentBooked, ShipmentDelivered, ShipmentPickedUp
from tests.e2e.conftest import FAST_NETWORK, LOGS, everyone_but
from tests.e2e.test_when_things_go_wrong import oid, until_status
from tests.support.cli import oms_cli
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e


def pickups_every_minute() -> str:
    """The fast network with PostNL collecting at 3pl-berlin every 15 seconds of every day, and a partner SLA there of a
    few seconds (so a missed pickup makes its shipments late)."""
    text = FAST_NETWORK.read_text().replace('id = "3pl-berlin"\n', 'id = "3pl-berlin"\n' + (
        'pickups = [{carrier = "postnl", every_minutes = 0.25, start = "00:00", end = "23:59"}]\n'
        'working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\nship_within_s = 5\n'), 1)
    path = LOGS.parent / "networks" / "pickups.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.mark.oms_env(OMS_NETWORK_FILE=pickups_every_minute(), OMS_SIMULATE_PARTNERS=everyone_but("postnl"),
                     OMS_PICKUP_LEAD_S="90", OMS_PICKUP_POLL_S="1")
async def test_a_missed_pickup_rolls_the_shipment_to_the_next_and_tells_the_late_order_once(oms):
    await oms.stock({"VAN": {"3pl-berlin": 3}})
    postnl = await PlayedPartner("carrier", "postnl").start()
    watch = await oms.watch()
    try:
        order = oms.order(1, {"VAN": 1})
        await oms.send(order)
        booking = await postnl.wait_for(oid(order), "shipment.booking_requested", timeout=90)
        shipment_id = booking["shipment_id"]
        await postnl.answer(oid(order), ShipmentBooked(shipment_id=shipment_id, tracking_number="PNL-1"))

        async def asked() -> list[dict]:
            return [r for r in postnl.requests(kind="pickup.requested") if shipment_id in r["shipment_ids"]]
        [first] = await eventually(asked, lambda found: len(found) >= 1, "a pickup with the shipment", timeout=120)
        assert (first["location_id"], first["carrier_id"], first["parcels"]) == ("3pl-berlin", "postnl", 1)
        assert first["weight_grams"] > 0
        await postnl.answer(first["pickup_id"], PickupMissed(pickup_id=first["pickup_id"], reason="van broke down"))

        rolled = await eventually(asked, lambda found: len(found) >= 2, "the next pickup with it again", timeout=180)
        assert rolled[1]["pickup_id"] != first["pickup_id"]
        await postnl.answer(rolled[1]["pickup_id"], PickupConfirmed(pickup_id=rolled[1]["pickup_id"]))
        await postnl.answer(oid(order), ShipmentPickedUp(shipment_id=shipment_id))
        await postnl.answer(oid(order), ShipmentDelivered(shipment_id=shipment_id, delivered_at=first["at"]))
        await until_status(watch, order, "delivered", timeout=90)

        listed = await oms_cli("pickups")
        assert first["pickup_id"] in listed and rolled[1]["pickup_id"] in listed
        assert "missed" in listed and "confirmed" in listed

        late = [e for e in watch.events[oid(order)] if (e.get("reason") or {}).get("code") == "late_to_ship"]
        assert len(late) == 1, late

        async def delays() -> list[dict]:
            return [c for c in oms.sent_notifications() if c["order_id"] == oid(order) and c["kind"] == "delay"]
        assert len(await eventually(delays, bool, "the customer told of the delay")) == 1
    finally:
        await watch.stop()
        await postnl.stop()
