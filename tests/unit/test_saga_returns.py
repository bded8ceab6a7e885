"""Returns in the saga: what may come back, where, what happens when it arrives, and when it never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.base import SkuQuantity
from contracts.channels import OrderCancelRequested, OrderReturnRequested
from contracts.fulfillment import ReturnArrived
from contracts.order import ExpectReturn, Restock
from contracts.partners import ReturnedLine
from contracts.payments import RefundRequested
from order_service.saga import Return, Saga, SagaState, StepTimedOut, deadline, decide, request_return, returnable
from tests.unit.test_saga import LINES, Row, holds, saga

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PRICES = {"A": "10.00", "B": "25.50"}


def delivered(state: str = "completed", status: str = "delivered", **extra: Any) -> Saga:
    return saga(state, status, ("delivered", "delivered"), unit_prices=PRICES, payment_reference="psp-9", **extra)


def asked(*lines: tuple[str, int], location: str = "store-munich") -> OrderReturnRequested:
    return OrderReturnRequested(channel="web", external_id="1", return_location_id=location, reason="too small",
                                lines=[SkuQuantity(sku=s, quantity=q) for s, q in lines])


def open_return(n: int = 1, *lines: tuple[str, int], expires: datetime = NOW + timedelta(days=30)) -> Return:
    return Return(return_id=f"o-R{n}", location_id="store-munich", expires_at=expires,
                  lines=[SkuQuantity(sku=s, quantity=q) for s, q in (lines or (("A", 2),))])


def arrived(n: int, *lines: tuple[str, int, str]) -> ReturnArrived:
    return ReturnArrived(order_id="o", return_id=f"o-R{n}", location_id="store-munich",
                         lines=[ReturnedLine(sku=s, quantity=q, condition=c) for s, q, c in lines])  # type: ignore[arg-type]


def test_a_return_of_delivered_lines_is_expected_at_the_location_and_expires_later() -> None:
    decision = request_return(delivered(), asked(("A", 1), ("A", 1)), True, NOW, timedelta(days=30))
    assert decision.saga.state == SagaState.RETURNING
    assert [c.status for c in decision.changes] == ["return_requested"]
    [expect] = decision.commands
    assert isinstance(expect, ExpectReturn) and expect.location_id == "store-munich"
    assert [(line.sku, line.quantity) for line in expect.lines] == [("A", 2)], "one line per SKU"
    assert deadline(NOW, decision) == NOW + timedelta(days=30)


@pytest.mark.parametrize(("given", "message", "takes_returns", "why"), [
    (saga("fulfilling", "shipped", ("delivered", "in_transit")), asked(("A", 1)), True, "only delivered lines"),
    (delivered(), asked(("A", 1)), False, "takes no returns"),
    (delivered(), asked(("A", 3)), True, "A (3 asked, 2 returnable)"),
    (delivered(), asked(("C", 1)), True, "C (1 asked, 0 returnable)"),
    (delivered(returns=[open_return(1, ("A", 2))], state="returning"), asked(("A", 1)), True,
     "A (1 asked, 0 returnable)"),
])
def test_a_return_is_refused_with_the_reason_and_the_status_kept(given, message, takes_returns, why) -> None:
    decision = request_return(given, message, takes_returns, NOW, timedelta(days=30))
    assert decision.saga == given and decision.commands == []
    [change] = decision.changes
    assert change.status == given.status and change.reason is not None
    assert change.reason.code == "return_refused" and why in change.reason.message


def test_a_second_return_may_take_what_the_first_did_not() -> None:
    first = request_return(delivered(), asked(("A", 1)), True, NOW, timedelta(days=30)).saga
    second = request_return(first, asked(("A", 1), ("B", 1)), True, NOW, timedelta(days=30))
    assert [r.return_id for r in second.saga.returns] == ["o-R1", "o-R2"]
    assert returnable(second.saga) == {"A": 0, "B": 0}


def test_what_arrives_goes_back_on_hand_and_is_refunded_at_the_order_prices() -> None:
    given = delivered(state="returning", returns=[open_return(1, ("A", 2), ("B", 1))])
    decision = decide(given, arrived(1, ("A", 1, "resellable"), ("A", 1, "damaged"), ("B", 1, "resellable")))
    assert decision.saga.state == SagaState.COMPLETED
    assert [c.status for c in decision.changes] == ["returned"]
    restock, refund = decision.commands
    assert isinstance(restock, Restock) and len(restock.lines) == 3
    assert isinstance(refund, RefundRequested)
    assert (refund.amount, refund.return_id, refund.payment_reference) == ("45.50", "o-R1", "psp-9")


def test_a_partial_return_refunds_only_what_came_back_and_more_than_asked_is_not_counted() -> None:
    given = delivered(state="returning", returns=[open_return(1, ("A", 1))])
    decision = decide(given, arrived(1, ("A", 2, "resellable"), ("B", 1, "resellable")))
    refund = decision.commands[-1]
    assert isinstance(refund, RefundRequested) and refund.amount == "10.00"
    assert [(r.sku, r.quantity) for r in decision.saga.returns[0].received] == [("A", 1)]


def test_the_same_return_arriving_twice_changes_nothing_the_second_time() -> None:
    given = delivered(state="returning", returns=[open_return(1)])
    once = decide(given, arrived(1, ("A", 2, "resellable")))
    again = decide(once.saga, arrived(1, ("A", 2, "resellable")))
    assert again.commands == [] and again.changes == [] and again.saga == once.saga


TABLE = [
    Row("one return of two arrives: still returning", delivered(
        state="returning", returns=[open_return(1), open_return(2, ("B", 1))]),
        arrived(1, ("A", 2, "resellable")), "returning", ["inventory.restock", "refund.requested"],
        ["return_requested"]),
    Row("a return past its time expires: delivered again", delivered(
        state="returning", status="return_requested", returns=[open_return(1, expires=NOW - timedelta(seconds=1))]),
        StepTimedOut(order_id="o", state="returning", at=NOW), "completed", [], ["delivered"]),
    Row("an expired return that arrives after all is still taken back", delivered(
        returns=[open_return(1).model_copy(update={"status": "expired"})]),
        arrived(1, ("A", 2, "resellable")), "completed", ["inventory.restock", "refund.requested"], ["returned"]),
    Row("a cancel while returning is refused", delivered(state="returning", status="return_requested",
                                                         returns=[open_return(1)]),
        OrderCancelRequested(channel="web", external_id="1"), "returning", [], ["return_requested"]),
]


@pytest.mark.parametrize("row", TABLE, ids=[r.name for r in TABLE])
def test_returns_table(row: Row) -> None:
    holds(row)


def test_an_expiry_reason_says_which_return_and_an_open_one_keeps_the_deadline() -> None:
    later = NOW + timedelta(days=3)
    given = delivered(state="returning", returns=[open_return(1, expires=NOW), open_return(2, ("B", 1), expires=later)])
    decision = decide(given, StepTimedOut(order_id="o", state="returning", at=NOW))
    [change] = decision.changes
    assert change.status == "return_requested" and change.reason and change.reason.code == "return_expired"
    assert "o-R1" in change.reason.message and deadline(NOW, decision) == later
    assert LINES  # the shared table's lines
