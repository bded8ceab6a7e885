"""Promises kept or broken in the open, on the real stack: a shipment that has not left its location by its ship-by
time is published late once (the status unchanged), its customer gets one delay notice, operators are alerted, and
`oms late` lists it; the order still goes on to delivery with the promised and estimated dates on its events."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest

from contracts.partners import FulfillmentAccepted, FulfillmentPacked, FulfillmentPicked, Parcel
from tests.e2e.conftest import derived_network, everyone_but
from tests.e2e.test_when_things_go_wrong import oid, reasons, until_status
from tests.support.partners import PlayedPartner
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

SLA = derived_network("promises", "3pl-berlin", ship_within_s=3)  # Berlin promises to ship 3 s after reserving


@pytest.mark.oms_env(OMS_SIMULATE_PARTNERS=everyone_but("3pl-berlin"), OMS_NETWORK_FILE=str(SLA))
async def test_an_order_late_to_ship_is_told_once_and_still_delivered(oms):
    await oms.stock({"SLOW": {"3pl-berlin": 5}})
    berlin = await PlayedPartner("warehouse", "3pl-berlin").start()
    watch = await oms.watch()
    try:
        order = oms.order(1, {"SLOW": 1})
        await oms.send(order)
        request = await berlin.wait_for(oid(order), "fulfillment.requested")
        await berlin.answer(oid(order), FulfillmentAccepted(fulfillment_id=request["fulfillment_id"]))
        released = await until_status(watch, order, "in_fulfillment")
        [shipment] = released["shipments"]
        ship_by, promised_by = (datetime.fromisoformat(shipment[k]) for k in ("ship_by", "promised_by"))
        assert promised_by > ship_by

        async def late() -> list[dict]:
            return [e for e in watch.events.get(oid(order), []) if (e.get("reason") or {}).get("code") == "late_to_ship"]
        [told] = await eventually(late, lambda found: len(found) >= 1, "the order published late to ship", timeout=60)
        assert told["status"] == told["previous_status"] == "in_fulfillment", "the status is unchanged"
        assert datetime.fromisoformat(told["occurred_at"]) >= ship_by

        listed = subprocess.run([sys.executable, "-m", "oms_cli.main", "late"], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "OMS_NETWORK_FILE": str(SLA), "COLUMNS": "250"})
        assert order["external_id"] in listed.stdout and "late_to_ship" in listed.stdout, listed.stdout

        await berlin.answer(oid(order), FulfillmentPicked(fulfillment_id=request["fulfillment_id"]))
        await berlin.answer(oid(order), FulfillmentPacked(fulfillment_id=request["fulfillment_id"],
                                                          parcels=[Parcel(parcel_id="p1", weight_grams=900)]))
        delivered = await until_status(watch, order, "delivered", timeout=90)
        assert delivered["shipments"][0]["estimated_delivery"], "the carrier's estimate carried through"
        assert reasons(watch, order).count("late_to_ship") == 1, "told once"

        async def notices() -> list[str]:
            return sorted(c["kind"] for c in oms.sent_notifications() if c["order_id"] == oid(order)
                          and c["kind"] in ("delay", "operator_late_to_ship"))
        await eventually(notices, lambda kinds: kinds == ["delay", "operator_late_to_ship"],
                         "one delay notice to the customer and one alert to operators")
    finally:
        await berlin.stop()
        await watch.stop()
