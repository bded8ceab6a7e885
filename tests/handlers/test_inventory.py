"""Inventory's handlers, in memory: stock feeds, reservations all or nothing, backorders, release and commit."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from contracts import topics
from rules.network import Weights
from runtime.consume import Unprocessable
from tests.support.memory import InMemory, body

pytestmark = pytest.mark.unit

FEED, COMMANDS = topics.INVENTORY_ADJUSTMENTS.name, topics.INVENTORY_COMMANDS.name
SKU, WHERE = "SKU-CHAIR-01", "dc-rotterdam"


def level(service: InMemory, sku: str = SKU, location: str = WHERE) -> tuple[int, int, int]:
    row = service.row("stock", sku, location)
    return row["on_hand"], row["reserved"], row["inbound"]


def reply(sent: list[Any]) -> Any:
    [found] = [m for m in sent if m.type.startswith("inventory.stock_re")]
    return found


async def stocked(on_hand: int = 5) -> InMemory:
    service = InMemory("inventory")
    await service.deliver(FEED, body("stock.counted", on_hand=on_hand))
    return service


async def test_stock_feeds_change_the_level_and_the_ledger_and_publish_it():
    service = InMemory("inventory")
    sent = await service.deliver(FEED, body("stock.counted", on_hand=40), body("stock.adjusted", delta=-2),
                                 body("stock.received", quantity=10), body("stock.inbound_expected", quantity=7))

    assert level(service) == (48, 0, 7)
    assert [(e["kind"], e["quantity"]) for e in service.db.logs["stock_ledger"]] == [
        ("counted", 40), ("adjusted", -2), ("received", 10)]
    assert [e["quantity"] for e in service.db.rows("inbound_expected")] == [7]
    [event] = [m for m in sent if m.type == "stock.level_changed"]  # one per SKU and location a unit: its last
    assert (event.on_hand, event.inbound) == (48, 7)
    told = [(m.channel, m.available) for m in sent if m.type == "stock.availability_changed"]
    assert sorted(c for c, _ in told) == sorted(service.deps.network.channels), "one per SKU and channel a unit"
    assert dict(told)["web"] == 48, "with the unit's last levels"


async def test_an_adjustment_below_zero_cannot_apply():
    service = await stocked(3)
    with pytest.raises(Unprocessable, match="negative"):
        await service.deliver(FEED, body("stock.adjusted", delta=-5))
    assert level(service) == (3, 0, 0), "the unit of work was undone"


async def test_a_reservation_takes_the_whole_order_and_says_where():
    service = await stocked(5)
    sent = await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1"))

    reserved = reply(sent)
    assert reserved.type == "inventory.stock_reserved"
    [allocation] = reserved.allocations
    assert (allocation.location_id, [(line.sku, line.quantity) for line in allocation.lines]) == (WHERE, [(SKU, 2)])
    assert level(service) == (5, 2, 0)
    [reservation] = service.db.rows("reservations")
    assert (reservation["order_id"], reservation["status"]) == ("o-1", "open")


async def test_reservations_in_one_fetch_see_what_the_ones_before_took():
    service = await stocked(5)
    sent = await service.deliver(COMMANDS, *(body("inventory.reserve_stock", order_id=f"o-{n}") for n in range(3)))

    assert [m.type for m in sent if m.type.startswith("inventory.")] == [
        "inventory.stock_reserved", "inventory.stock_reserved", "inventory.stock_reservation_failed"]
    assert level(service) == (5, 4, 0)
    assert [row["order_id"] for row in service.db.rows("backorders")] == ["o-2"]


async def test_an_unknown_sku_is_refused_and_not_backordered():
    service = InMemory("inventory")
    sent = await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1"))
    failed = reply(sent)
    assert (failed.reason, failed.unknown_skus) == ("unknown_sku", [SKU])
    assert service.db.rows("backorders") == []


async def test_stock_that_arrives_serves_the_backorder():
    service = await stocked(1)
    await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1"))
    sent = await service.deliver(FEED, body("stock.received", quantity=5))

    assert reply(sent).type == "inventory.stock_reserved"
    assert service.db.rows("backorders") == []
    assert level(service) == (6, 2, 0)


async def test_a_release_frees_the_stock_and_serves_who_waits_for_it():
    service = await stocked(2)
    await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1"),
                          body("inventory.reserve_stock", order_id="o-2"))
    sent = await service.deliver(COMMANDS, body("inventory.release_stock", order_id="o-1"))

    released = [m for m in sent if m.type == "inventory.stock_released"]
    assert len(released[0].reservation_ids) == 1
    assert [m.order_id for m in sent if m.type == "inventory.stock_reserved"] == ["o-2"]
    assert level(service) == (2, 2, 0)
    assert sorted(r["status"] for r in service.db.rows("reservations")) == ["open", "released"]


async def test_a_release_of_a_waiting_order_drops_its_backorder():
    service = await stocked(1)
    await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1"))
    sent = await service.deliver(COMMANDS, body("inventory.release_stock", order_id="o-1"))
    assert reply(sent).reservation_ids == []
    assert service.db.rows("backorders") == []


async def test_a_commit_ships_the_reserved_units_off_hand():
    service = await stocked(5)
    sent = await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1"))
    reservation_id = reply(sent).allocations[0].reservation_id
    await service.deliver(COMMANDS, body("inventory.commit_stock", order_id="o-1", reservation_id=reservation_id))

    assert level(service) == (3, 0, 0)
    assert service.db.logs["stock_ledger"][-1]["kind"] == "shipped"
    assert service.db.logs["stock_ledger"][-1]["quantity"] == -2
    assert [r["status"] for r in service.db.rows("reservations")] == ["committed"]


async def test_a_paused_location_is_allocated_nothing_until_it_resumes():
    service = await stocked(5)  # all of it at dc-rotterdam
    await service.deliver(COMMANDS, body("inventory.set_location_paused", location_id=WHERE, paused=True))
    waiting = reply(await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1")))
    assert (waiting.type, waiting.reason) == ("inventory.stock_reservation_failed", "insufficient_stock")
    assert level(service) == (5, 0, 0)

    sent = await service.deliver(COMMANDS, body("inventory.set_location_paused", location_id=WHERE, paused=False))
    assert reply(sent).type == "inventory.stock_reserved", "the order that waited is served when it resumes"
    assert level(service) == (5, 2, 0) and service.db.rows("backorders") == []


async def test_a_pause_in_a_unit_that_is_rolled_back_is_not_what_the_process_remembers():
    service = await stocked(5)
    with pytest.raises(Unprocessable, match="negative"):  # the second message fails the batch: nothing of it holds
        await service.deliver(FEED, body("location.paused", location_id=WHERE, reason="stocktake"),
                              body("stock.adjusted", delta=-99, reason="damaged"))
    assert service.db.rows("location_status") == [] or not service.db.rows("location_status")[0]["paused"]
    assert service.deps.paused.get() is None, "the process caches only what committed"
    sent = await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1"))
    assert reply(sent).type == "inventory.stock_reserved"


async def test_a_short_pick_takes_off_what_was_not_found_and_never_below_nothing():
    service = await stocked(5)
    await service.deliver(FEED, body("stock.adjusted", delta=-2, reason="short_pick"))
    assert level(service) == (3, 0, 0)
    await service.deliver(FEED, body("stock.adjusted", delta=-9, reason="short_pick"))
    assert level(service) == (0, 0, 0), "a location cannot have less than nothing"
    with pytest.raises(Unprocessable, match="negative"):
        await service.deliver(FEED, body("stock.adjusted", delta=-1, reason="damaged"))


async def test_a_ship_available_channel_gets_what_there_is_and_the_rest_when_it_comes():
    service = await stocked(5)  # dc-rotterdam; the app ships what is available (config/network.toml)
    lines = [{"sku": SKU, "quantity": 8}]
    first = reply(await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1", lines=lines,
                                                      channel="app")))
    assert [(a.location_id, a.lines[0].quantity) for a in first.allocations] == [(WHERE, 5)]
    assert [(line.sku, line.quantity) for line in first.backordered] == [(SKU, 3)]
    assert level(service) == (5, 5, 0)
    [waiting] = service.db.rows("backorders")
    assert '"quantity":3' in waiting["command"].replace(" ", "")

    later = reply(await service.deliver(FEED, body("stock.received", quantity=2)))
    assert [a.lines[0].quantity for a in later.allocations] == [2] and later.request_id == first.request_id
    assert [line.quantity for line in later.backordered] == [1], "still one to come"
    done = reply(await service.deliver(FEED, body("stock.received", quantity=4)))
    assert done.backordered == [] and service.db.rows("backorders") == []
    assert level(service) == (11, 8, 0)

    whole = reply(await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-2", lines=[
        {"sku": SKU, "quantity": 9}], channel="web")))
    assert whole.type == "inventory.stock_reservation_failed", "the web ships complete: it waits whole"


async def test_a_location_at_its_daily_capacity_is_given_nothing_more_that_day():
    service = await stocked(10)
    network = service.deps.network
    service.deps.network = network.model_copy(update={"locations": [
        loc.model_copy(update={"daily_capacity": 2}) if loc.id == WHERE else loc for loc in network.locations]})
    sent = await service.deliver(COMMANDS, *(body("inventory.reserve_stock", order_id=f"o-{n}", lines=[
        {"sku": SKU, "quantity": 1}]) for n in range(3)))
    assert [m.type for m in sent if m.type.startswith("inventory.stock_re")] == [
        "inventory.stock_reserved", "inventory.stock_reserved", "inventory.stock_reservation_failed"]
    assert service.row("location_status", WHERE)["allocated"] == 2
    service.later(-86400)  # the next day
    assert reply(await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-9", lines=[
        {"sku": SKU, "quantity": 1}]))).type == "inventory.stock_reserved", "a new day, a new capacity"


async def test_each_allocation_is_recorded_with_its_reasons_and_the_plans_not_taken():
    service = await stocked(5)  # dc-rotterdam
    await service.deliver(FEED, body("stock.counted", location_id="3pl-berlin", on_hand=5))
    sent = await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id="o-1"))

    assert [a.location_id for a in reply(sent).allocations] == ["3pl-berlin"], "the nearest to Germany"
    [decision] = service.db.logs["allocation_decisions"]
    assert decision["order_id"] == "o-1" and decision["chosen"].startswith("3pl-berlin (2 x SKU-CHAIR-01)")
    assert '"dc-rotterdam"' in decision["alternatives"] and '"distance"' in decision["alternatives"]
    assert '"available":[["3pl-berlin","SKU-CHAIR-01",5],["dc-rotterdam","SKU-CHAIR-01",5]]' in decision["inputs"]
    assert not [m for m in sent if m.type == "allocation.decided"], "the row is the record: no event nobody reads"
    chosen, [not_taken] = orjson.loads(decision["plan"]), orjson.loads(decision["alternatives"])
    assert not_taken["plan"][0][0] == "dc-rotterdam" and not_taken["total"] > chosen["total"]


async def test_a_location_with_many_open_requests_loses_work_where_the_channel_weighs_load():
    service = await stocked(20)  # dc-rotterdam
    await service.deliver(FEED, body("stock.counted", location_id="3pl-berlin", on_hand=20))
    service.deps.network = service.deps.network.model_copy(update={"routing": {"default": Weights(workload=2.0)}})

    async def allocated(order_id: str) -> str:
        [allocation] = reply(await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id=order_id))
                             ).allocations
        return allocation.location_id
    assert await allocated("o-1") == "3pl-berlin", "the nearest, while both are idle"
    await service.deliver(topics.PARTNER_SCORES.name, body("partner.scored", partner_id="3pl-berlin", requests=300,
                                                            open_requests=250, scored_at="2026-11-29T12:00:00+00:00"))
    assert await allocated("o-2") == "dc-rotterdam", "Berlin's queue outweighs the extra distance"
    [decision] = service.db.logs["allocation_decisions"][-1:]
    assert '"open_requests":250' in decision["inputs"] and '"workload":500.0' in decision["alternatives"]


async def test_a_location_failing_half_its_requests_loses_the_next_orders_and_gets_them_back():
    service = await stocked(20)  # dc-rotterdam
    await service.deliver(FEED, body("stock.counted", location_id="3pl-berlin", on_hand=20))

    async def allocated(order_id: str) -> str:
        [allocation] = reply(await service.deliver(COMMANDS, body("inventory.reserve_stock", order_id=order_id))
                             ).allocations
        return allocation.location_id
    assert await allocated("o-1") == "3pl-berlin"
    await service.deliver(topics.PARTNER_SCORES.name, body("partner.scored", partner_id="3pl-berlin",
                                                            failure_rate=0.5, requests=10,
                                                            scored_at="2026-11-29T12:00:00+00:00"))
    assert await allocated("o-2") == "dc-rotterdam"
    await service.deliver(topics.PARTNER_SCORES.name, body("partner.scored", partner_id="3pl-berlin",
                                                            failure_rate=0.0, requests=0,
                                                            scored_at="2026-11-29T12:10:00+00:00"))
    assert await allocated("o-3") == "3pl-berlin"
    assert service.row("partner_scores", "3pl-berlin")["failure_rate"] == 0.0


async def test_every_partners_latest_scorecard_is_kept_for_the_operators_carriers_too():
    service = InMemory("inventory")
    await service.deliver(topics.PARTNER_SCORES.name, body("partner.scored", partner_id="dhl", kind="carrier",
                                                            failure_rate=0.9, requests=50, exceptions=12))
    row = service.row("partner_scores", "dhl")
    assert row["kind"] == "carrier" and '"exceptions":12' in row["card"]

    service = InMemory("inventory")
    await service.deliver(topics.PARTNER_SCORES.name, body("partner.scored", failure_rate=0.5,
                                                            scored_at="2026-11-29T12:00:00+00:00"))
    await service.deliver(topics.PARTNER_SCORES.name, body("partner.scored", failure_rate=0.1,
                                                            scored_at="2026-11-29T11:59:00+00:00"))
    assert service.row("partner_scores", "3pl-berlin")["failure_rate"] == 0.5


async def test_a_stock_feed_changes_only_the_locations_the_network_file_gives_it():
    service = InMemory("inventory")
    wms = topics.feed_topic("wms-rotterdam")
    with pytest.raises(Unprocessable, match="wms-rotterdam may not change stock at store-munich"):
        await service.deliver(wms, body("stock.counted", location_id="store-munich", on_hand=999))
    sent = await service.deliver(wms, body("stock.counted", location_id="dc-rotterdam", on_hand=7))
    assert [m.on_hand for m in sent if m.type == "stock.level_changed"] == [7]


async def test_an_operators_pause_of_a_location_comes_with_the_stock_adjustments():
    service = InMemory("inventory")
    await service.deliver(FEED, body("location.paused", location_id="dc-rotterdam", reason="stock take (by Kim)"))
    assert service.row("location_status", "dc-rotterdam")["paused"] is True


async def test_what_a_channel_may_sell_also_goes_to_that_channels_own_availability_topic():
    service = InMemory("inventory")
    await service.deliver(FEED, body("stock.counted", location_id="dc-rotterdam", on_hand=40))
    shared = service.sent(topics.AVAILABILITY.name)
    own = service.sent(topics.channel_availability_topic("web"))
    assert own and all(m.channel == "web" for m in own)
    assert {m.channel for m in shared} >= {"web", "app"}
