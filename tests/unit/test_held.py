"""State messages (a stock level, a channel's availability) are held back by the unit of work's flush and sent as
the latest of each by the relay (`OMS_HOLD_STATE_MS`); everything else goes to the outbox at once."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.inventory import StockAvailabilityChanged, StockLevelChanged, StockLow
from runtime.outbox import held, replaces
from runtime.settings import Settings
from runtime.unit import UnitOfWork

pytestmark = pytest.mark.unit


class Written:
    """A database that keeps what one flush gave it."""

    def __init__(self) -> None:
        self.outbox: Sequence[Any] = ()
        self.held: Sequence[Any] = ()

    async def write(self, changes: Sequence[Any], outbox: Sequence[Any], traces: Any = None,
                    held: Sequence[Any] = ()) -> None:
        self.outbox, self.held = outbox, held


def level(location: str, reserved: int) -> StockLevelChanged:
    return StockLevelChanged(sku="SKU-1", location_id=location, on_hand=10, reserved=reserved,
                             available=10 - reserved, inbound=0)


async def flushed(hold_ms: int) -> Written:
    db = Written()
    unit = UnitOfWork(SimpleNamespace(service="inventory", settings=Settings(hold_state_ms=hold_ms)), db)  # type: ignore[arg-type]
    unit.send("oms.inventory.events.v1", "SKU-1", level("dc", 1))
    unit.send("oms.inventory.events.v1", "SKU-1", level("dc", 2))  # the same SKU and location: the last only
    unit.send("oms.inventory.events.v1", "SKU-1", StockLow(sku="SKU-1", location_id="dc", available=8,
                                                           reorder_point=9))
    unit.send("oms.inventory.availability.v1", "SKU-1|web", StockAvailabilityChanged(sku="SKU-1", channel="web",
                                                                                      available=8))
    await unit.flush()
    return db


async def test_levels_and_availability_are_held_and_an_alert_is_sent_at_once():
    db = await flushed(1000)
    assert [m.type for _, (_, _, m) in db.outbox] == ["stock.low"]
    assert sorted((m.type, getattr(m, "reserved", None)) for _, (_, _, m) in db.held) == [
        ("stock.availability_changed", None), ("stock.level_changed", 2)]


async def test_holding_off_sends_everything_at_once():
    db = await flushed(0)
    assert db.held == [] and len(db.outbox) == 3


def test_a_held_message_replaces_only_its_own_kind_and_key():
    assert held(level("dc", 1)) and not held(StockLow(sku="S", location_id="dc", available=1, reorder_point=2))
    assert replaces(level("dc", 1)) == replaces(level("dc", 5)) != replaces(level("store", 1))
    assert replaces(StockAvailabilityChanged(sku="SKU-1", channel="web", available=1)) != replaces(
        StockAvailabilityChanged(sku="SKU-1", channel="app", available=1))
