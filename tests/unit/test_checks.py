"""The chaos checker proves what it claims: each invariant passes on evidence of a sound run and fails on evidence
of each way a broken build would show (an order lost or ended wrong, stock off by one, a customer told twice)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.support.checks import (
    completion_problems,
    event_problems,
    expected_notifications,
    notification_problems,
    stock_flow_problems,
)

pytestmark = pytest.mark.unit

SENT = [{"external_id": "A", "payment": {"status": "authorized"}}, {"external_id": "B", "payment": {"status": "pending"}}]
LATEST: dict[str, dict[str, Any]] = {
    "A": {"status": "delivered", "reason": None, "shipments": [{"shipment_id": "A-S1"}]},
    "B": {"status": "on_hold", "reason": {"code": "payment_pending"}, "shipments": []},
}
STORED: dict[str, tuple[str, str | None]] = {"A": ("delivered", None), "B": ("on_hold", "payment_pending")}


def oid(order: dict) -> str:
    return order["external_id"]


def call(order_id: str, kind: str, shipment: str = "", notification_id: str | None = None) -> dict:
    nid = notification_id or f"{order_id}/{kind}/{shipment}"
    return {"order_id": order_id, "kind": kind, "shipment_id": shipment or None, "notification_id": nid,
            "idempotency_key": nid}


CALLS = [call("A", "confirmation"), call("A", "shipped", "A-S1"), call("A", "delivered", "A-S1"), call("B", "on_hold")]


def test_a_sound_run_passes_every_check():
    assert completion_problems(SENT, LATEST, STORED, oid) == []
    assert notification_problems(CALLS, expected_notifications(LATEST)) == []
    assert stock_flow_problems({("S", "x"): 5}, Counter({("S", "x"): 2}), {("S", "x"): {"on_hand": 3, "reserved": 0}}) == []


@pytest.mark.parametrize(("latest", "stored", "problem"), [
    ({"B": LATEST["B"]}, STORED, "A: not in the events"),
    (LATEST, {"B": STORED["B"]}, "A: not in the database"),
    ({**LATEST, "B": {"status": "on_hold", "reason": {"code": "no_carrier"}}}, STORED,
     "B: events says on_hold (no_carrier)"),
    (LATEST, {**STORED, "A": ("shipped", None)}, "A: database says shipped"),
    (LATEST, {**STORED, "Z": ("delivered", None)}, "Z: stored but never sent"),
])
def test_an_order_lost_ended_wrong_or_invented_is_found(latest, stored, problem):
    assert any(p.startswith(problem) for p in completion_problems(SENT, latest, stored, oid)), problem


@pytest.mark.parametrize(("calls", "allowed", "problem"), [
    (CALLS[:-1], 0, "('B', 'on_hold', ''): never sent"),
    ([*CALLS, CALLS[0]], 0, "notification A/confirmation/: sent 2 times"),
    ([*CALLS, call("A", "confirmation", notification_id="other")], 1, "('A', 'confirmation', ''): sent as 2 different"),
    ([*CALLS, call("A", "cancelled")], 0, "('A', 'cancelled', ''): sent but not expected"),
    ([*CALLS[1:], {**CALLS[0], "idempotency_key": None}], 0, "('A', 'confirmation', ''): sent with idempotency key"),
])
def test_a_customer_told_twice_or_not_at_all_is_found(calls, allowed, problem):
    assert any(p.startswith(problem) for p in notification_problems(calls, expected_notifications(LATEST), allowed))


def test_a_copy_after_a_kill_of_the_dispatcher_is_allowed_once_per_kill():
    assert notification_problems([*CALLS, CALLS[0]], expected_notifications(LATEST), allowed_copies=1) == []


@pytest.mark.parametrize(("levels", "problem"), [
    ({("S", "x"): {"on_hand": 4, "reserved": 0}}, "S@x: on hand 4"),  # a commit of shipped stock lost
    ({("S", "x"): {"on_hand": 3, "reserved": 1}}, "S@x: 1 still reserved"),  # a release lost
    ({("S", "x"): {"on_hand": 3, "reserved": 0}, ("T", "x"): {"on_hand": 1, "reserved": 0}}, "T@x: on hand 1"),
])
def test_stock_that_did_not_fall_by_what_was_shipped_is_found(levels, problem):
    found = stock_flow_problems({("S", "x"): 5}, Counter({("S", "x"): 2}), levels)
    assert any(p.startswith(problem) for p in found), found


def test_a_gap_a_double_or_a_forbidden_step_in_the_events_is_found():
    def event(seq: int, previous: str | None, status: str, eid: str | None = None) -> dict:
        return {"id": eid or f"e{seq}", "sequence": seq, "previous_status": previous, "status": status}
    good = [event(1, None, "received"), event(2, "received", "accepted")]
    assert event_problems({"o": good}) == []
    assert event_problems({"o": [good[0], event(3, "received", "accepted")]})  # a gap
    assert event_problems({"o": [*good, event(2, "received", "accepted", "copy")]})  # the same step twice
    assert event_problems({"o": [event(1, None, "delivered")]})  # a step the lifecycle forbids
