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
    refund_problems,
    request_refs,
    stock_flow_problems,
    stock_row_problems,
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


@pytest.mark.parametrize(("calls", "kills", "problem"), [
    (CALLS[:-1], 0, "('B', 'on_hold', ''): never sent"),
    ([*CALLS, CALLS[0]], 0, "notification A/confirmation/: sent 2 times"),
    ([*CALLS, call("A", "confirmation", notification_id="other")], 1, "('A', 'confirmation', ''): sent as 2 different"),
    ([*CALLS, call("A", "cancelled")], 0, "('A', 'cancelled', ''): sent but not expected"),
    ([*CALLS[1:], {**CALLS[0], "idempotency_key": None}], 0, "('A', 'confirmation', ''): sent with idempotency key"),
])
def test_a_customer_told_twice_or_not_at_all_is_found(calls, kills, problem):
    found = notification_problems(calls, expected_notifications(LATEST), kills=kills, round_size=10)
    assert any(p.startswith(problem) for p in found), found


def test_copies_after_kills_of_the_dispatcher_are_allowed_up_to_a_round_per_kill_in_all():
    told = expected_notifications(LATEST)
    assert notification_problems([*CALLS, CALLS[0]], told, kills=1, round_size=2) == []
    assert notification_problems([*CALLS, *CALLS[:2]], told, kills=1, round_size=2) == []  # one round of two again
    # a build that sends every notification again after one kill: each copy alone is allowed, not all of them
    assert notification_problems([*CALLS, *CALLS], told, kills=1, round_size=2) == [
        "4 copies in all, more than 1 kill(s) of a dispatcher sending rounds of 2 can cause"]
    assert notification_problems([*CALLS, CALLS[0], CALLS[0]], told, kills=1, round_size=10) == [
        "notification A/confirmation/: sent 3 times"]


def stock_row(on_hand: int = 3, reserved: int = 1, ledger: int = 3, open_units: int = 1) -> dict:
    return {"sku": "S", "location_id": "x", "on_hand": on_hand, "reserved": reserved, "ledger": ledger,
            "open": open_units}


@pytest.mark.parametrize(("row", "problem"), [
    (stock_row(ledger=4), "S@x: ledger says 4, on hand 3"),  # a count applied without its ledger row, or twice
    (stock_row(open_units=2), "S@x: open reservations 2, reserved 1"),  # a reservation double-counted
    (stock_row(on_hand=-1, ledger=-1, reserved=0, open_units=0), "S@x: on hand -1, reserved 0"),  # oversold
    (stock_row(on_hand=1, ledger=1, reserved=2, open_units=2), "S@x: on hand 1, reserved 2"),
])
def test_stock_whose_ledger_or_reservations_disagree_is_found(row, problem):
    assert stock_row_problems([stock_row()]) == []
    assert problem in stock_row_problems([row])


def test_a_partner_sent_one_request_as_two_messages_is_found():
    def request(mid: str, order: str = "o1", ref: str = "f1") -> tuple[str, dict]:
        return ("partners.warehouse.x.requests.v1",
                {"id": mid, "order_id": order, "type": "fulfillment.requested", "fulfillment_id": ref})
    assert request_refs([request("m1"), request("m1"), request("m2", ref="f2")], {"o1"}) == []  # a redelivery
    assert request_refs([request("m1"), request("m2")], {"o1"}) == [
        "fulfillment.requested f1 sent to partners.warehouse.x.requests.v1 as 2 different messages"]
    assert request_refs([request("m1", "other"), request("m2", "other")], {"o1"}) == []  # not this run's
    pickup = ("partners.carrier.x.requests.v1", {"id": "p1", "type": "pickup.requested", "pickup_id": "x.y.z"})
    assert request_refs([pickup, request("m1")], {"o1"}) == [], "a pickup's manifest is about no one order"


def test_a_refund_twice_too_much_or_never_is_found():
    latest = {"o1": {"returns": [{"return_id": "r1", "status": "received",
                                  "received": [{"sku": "S", "quantity": 2, "condition": "resellable"}]}]}}
    prices = {"o1": {"S": "9.50"}}

    def refund(mid: str, amount: str = "19.00", rid: str = "r1") -> dict:
        return {"id": mid, "return_id": rid, "amount": amount, "order_id": "o1"}
    assert refund_problems([refund("m1"), refund("m1")], latest, prices) == []
    assert refund_problems([refund("m1"), refund("m2")], latest, prices) == ["return r1: 2 refunds"]
    assert refund_problems([refund("m1", "20.00")], latest, prices) == [
        "return r1: refunded 20.00, the units that came back cost 19.00"]
    assert refund_problems([], latest, prices) == ["return r1: received, never refunded"]
    assert refund_problems([refund("m1"), refund("m3", rid="r9")], latest, prices) == [
        "return r9: refunded but never received"]


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
