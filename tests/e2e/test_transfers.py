"""A transfer end to end on the real stack, asked for with `oms transfer` as an operator does: the units are held
back at the source, the simulated source ships them (inbound at the destination with an ETA), the simulated
destination counts one short, and the difference is an adjustment with the reason; a customer order waiting at the
destination is served from what arrived (the store keeps 2 back, its safety stock)."""

from __future__ import annotations

import orjson
import pytest

from contracts import topics
from tests.e2e.conftest import derived_network
from tests.e2e.test_when_things_go_wrong import until_status
from tests.support.cli import oms_cli
from tests.support.kafka import read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.e2e

# the Munich store's own channel sells from the store alone: its order waits there for the transfer
STORE_ALONE = derived_network("store-alone", tables='\n[availability."store:store-munich"]\nlocations = '
                                                     '["store-munich"]\n')


@pytest.mark.oms_env(OMS_NETWORK_FILE=str(STORE_ALONE), OMS_SIM_TRANSFER_SHORT_RATE="1")
async def test_a_transfer_is_shipped_and_received_with_its_variance_and_serves_a_waiting_order(oms):
    sku = f"{oms.run}-MOVED"
    await oms.stock({"MOVED": {"dc-rotterdam": 10, "store-munich": 0}})
    watch = await oms.watch()
    try:
        order = oms.order(1, {"MOVED": 2}, channel="store:store-munich")
        await oms.send(order)
        await until_status(watch, order, "backordered")

        printed = await oms_cli("transfer", sku, "6", "--from", "dc-rotterdam", "--to", "store-munich",
                                "--reason", "the store runs short", "--operator", "alice")
        assert "sent stock.transfer_requested" in printed

        async def transfer() -> dict:
            row = await oms.inventory.fetchrow("SELECT * FROM transfers WHERE sku = $1", sku)
            return dict(row) if row else {}
        done = await eventually(transfer, lambda t: t.get("status") == "received", "the transfer received",
                                timeout=90)
        assert (done["quantity"], done["shipped"], done["received"], done["requested_by"]) == (6, 6, 5, "alice")

        async def levels() -> dict:
            rows = await oms.inventory.fetch("SELECT location_id, on_hand, reserved, inbound FROM stock "
                                             "WHERE sku = $1", sku)
            return {r["location_id"]: (r["on_hand"], r["reserved"], r["inbound"]) for r in rows}
        await until_status(watch, order, "delivered", timeout=90)
        found = await eventually(levels, lambda at: at.get("store-munich") == (3, 0, 0), "the store's level")
        assert found["dc-rotterdam"] == (4, 0, 0), found  # 6 left the warehouse

        events = [orjson.loads(r.value) for r in await read_topic(topics.INVENTORY_EVENTS.name)]
        [variance] = [e for e in events if e["type"] == "stock.adjusted" and e["sku"] == sku]
        assert (variance["location_id"], variance["delta"]) == ("store-munich", -1)
        assert variance["reason"] == f"transfer {done['transfer_id']}: 5 of 6 arrived"
        listed = await oms_cli("transfers", "--all")
        assert done["transfer_id"] in listed and "received" in listed, listed
    finally:
        await watch.stop()

