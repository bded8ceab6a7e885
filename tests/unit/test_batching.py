"""What a batch sends and where a service connects: stock snapshots once per batch, the local socket when there;
message ids that grow with time."""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.base import new_id
from contracts.inventory import StockLevelChanged, StockLow
from contracts.order import OrderStatusChanged
from runtime import settings
from runtime.consume import Linger
from runtime.tables import Outgoing
from runtime.unit import latest_only
from tests.support.memory import deps_of

pytestmark = pytest.mark.unit

EVENTS = "oms.inventory.events.v1"


def level(sku: str, location: str, on_hand: int) -> Outgoing:
    return (EVENTS, sku, StockLevelChanged(sku=sku, location_id=location, on_hand=on_hand, reserved=0,
                                                   available=on_hand, inbound=0))


def test_a_batch_sends_the_last_level_of_each_sku_and_location_where_it_was_last_added() -> None:
    low = (EVENTS, "A", StockLow(sku="A", location_id="x", available=1, reorder_point=5))
    status = ("oms.orders.events.v1", "o-1", OrderStatusChanged(
        order_id="o-1", channel="web", external_id="1", status="accepted", previous_status=None, sequence=1))
    pending = [level("A", "x", 10), status, level("A", "y", 7), level("A", "x", 9), low, level("A", "x", 8)]

    kept = latest_only(pending)

    assert [(m.type, getattr(m, "location_id", None), getattr(m, "on_hand", None)) for _, _, m in kept] == [
        ("order.status_changed", None, None), ("stock.level_changed", "y", 7), ("stock.low", "x", None),
        ("stock.level_changed", "x", 8)]


def test_messages_without_a_snapshot_key_are_all_kept_in_order() -> None:
    statuses: list[Outgoing] = [("oms.orders.events.v1", "o-1", OrderStatusChanged(
        order_id="o-1", channel="web", external_id="1", status="accepted", previous_status=None, sequence=n))
        for n in (1, 2, 3)]
    assert latest_only(statuses) == statuses


def test_a_database_on_this_machine_is_reached_through_its_socket_when_there_is_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "SOCKET_DIR", tmp_path)
    dsn = "postgresql://oms@127.0.0.1:15432/oms_order"
    assert settings.local_socket(dsn) == dsn  # no socket yet: TCP

    (tmp_path / ".s.PGSQL.15432").touch()
    assert settings.local_socket(dsn) == f"postgresql://oms@/oms_order?host={tmp_path}&port=15432"
    assert settings.local_socket("postgresql://oms@db.example:15432/oms_order") == \
        "postgresql://oms@db.example:15432/oms_order"  # another machine: TCP
    assert settings.local_socket("postgresql://oms@127.0.0.1:5432/oms_order") == \
        "postgresql://oms@127.0.0.1:5432/oms_order"  # another port's server has no socket here


@given(st.integers(min_value=0, max_value=(1 << 48) - 2))
def test_message_ids_are_uuid7_and_a_later_millisecond_sorts_later(ms: int) -> None:
    """Inboxes index message ids: ids that grow with time keep their inserts at one end of the index."""
    with patch("contracts.base.time.time_ns", return_value=ms * 1_000_000):
        earlier = {new_id() for _ in range(50)}
    with patch("contracts.base.time.time_ns", return_value=(ms + 1) * 1_000_000):
        later = new_id()
    assert len(earlier) == 50
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in {*earlier, later})
    assert later > max(earlier)


def test_only_the_consumers_on_an_orders_way_to_released_are_urgent():
    """Those wait `consume_linger_ms` for a batch to grow; every other waits longer, for fuller transactions."""
    urgent: dict[str, bool] = {}
    for service in ("order", "inventory", "fulfillment", "shipping", "notification", "gateway"):
        app = importlib.import_module(f"{service}_service.app")
        urgent |= {f"{service}.{sub.group}": sub.urgent for sub in app.subscriptions(deps_of(service))}
    assert {group for group, is_urgent in urgent.items() if is_urgent} == {
        "order.saga", "inventory.oms.internal.inventory.commands.v1", "notification.oms.orders.inbound.v1"}
    assert len(urgent) == 11, urgent  # the gateway reads notifications and payments with its order events


def test_a_small_batch_waits_to_grow_only_while_records_keep_coming():
    """Under load every hop runs fewer, fuller transactions; a lone record after a quiet spell is not held up."""
    now = [100.0]
    linger = Linger(0.03, clock=lambda: now[0])
    assert linger.before(1, 200) == 0.0, "the first record of a quiet consumer goes at once"
    linger.handled()
    now[0] += 0.01
    assert linger.before(3, 200) == 0.03, "records that keep coming wait for more"
    assert linger.before(200, 200) == 0.0, "a full batch never waits"
    linger.handled()
    now[0] += 0.5
    assert linger.before(1, 200) == 0.0, "after a quiet spell, at once again"
    assert Linger(0.0, clock=lambda: now[0]).before(1, 200) == 0.0, "0: never wait"
