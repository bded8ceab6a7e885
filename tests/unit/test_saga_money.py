"""Money in the saga: a capture per shipment handed over, refunds at what was paid, a failed capture held."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from contracts.base import SkuQuantity
from contracts.channels import OrderCancelRequested, OrderHoldReleased
from contracts.fulfillment import ShipmentProgressed
from contracts.payments import PaymentCaptured, PaymentCaptureFailed, PaymentCaptureRequested, RefundRequested
from order_service.saga import Saga, SagaState, decide
from rules.money import Ledger, PaidLine, ShippingCharge
from tests.unit.test_saga import saga
from tests.unit.test_saga_returns import arrived, open_return

pytestmark = pytest.mark.unit

LEDGER = Ledger(currency="EUR", lines=[
    PaidLine(sku="A", quantity=2, unit_price=Decimal("10.00"), discount=Decimal("2.01"), tax=Decimal("3.42")),
    PaidLine(sku="B", quantity=1, unit_price=Decimal("25.50"), tax=Decimal("4.85"))],
    shipping=ShippingCharge(price=Decimal("4.90"), tax=Decimal("0.93")))


def paid(state: str, status: str, steps: tuple[str, ...], **extra: Any) -> Saga:
    extra.setdefault("ledger", LEDGER)
    return saga(state, status, steps, paid=True, payment_reference="psp-1", unit_prices={"A": "10.00", "B": "25.50"},
                **extra)


def handed_over(n: int) -> ShipmentProgressed:
    return ShipmentProgressed(order_id="o", shipment_id=f"o-S{n}", status="picked_up")


def captures(commands: Sequence[object]) -> list[PaymentCaptureRequested]:
    return [c for c in commands if isinstance(c, PaymentCaptureRequested)]


def test_each_shipment_is_captured_once_when_its_carrier_takes_it_and_the_parts_add_up_to_the_order() -> None:
    order = paid("fulfilling", "ready_to_ship", ("booked", "booked"))
    first = decide(order, handed_over(1))
    [one] = captures(first.commands)
    assert (one.shipment_id, one.amount, one.shipping) == ("o-S1", "27.24", "5.83"), "A: 20 - 2.01 + 3.42, shipping"
    assert [(line.sku, line.amount) for line in one.lines] == [("A", "21.41")]
    assert captures(decide(first.saga, ShipmentProgressed(order_id="o", shipment_id="o-S1",
                                                          status="in_transit")).commands) == [], "once"
    second = decide(first.saga, handed_over(2))
    [two] = captures(second.commands)
    assert (two.amount, two.shipping) == ("30.35", None)
    assert Decimal(one.amount) + Decimal(two.amount) == LEDGER.paid == second.saga.ledger.captured  # type: ignore[union-attr]
    assert one.id != two.id and one.id == captures(decide(order, handed_over(1)).commands)[0].id, "ids by shipment"


def test_an_order_paid_in_full_already_or_not_paid_is_never_captured() -> None:
    taken = LEDGER.capture([("A", 2), ("B", 1)])[0]
    for given in (paid("fulfilling", "ready_to_ship", ("booked",), ledger=taken),
                  saga("fulfilling", "ready_to_ship", ("booked",), unit_prices={"A": "10.00"})):
        assert captures(decide(given, handed_over(1)).commands) == []


def test_a_return_refunds_what_was_paid_for_the_units_that_came_back_and_never_more() -> None:
    back = paid("returning", "return_requested", ("delivered", "delivered"),
                returns=[open_return(1, ("A", 1)), open_return(2, ("A", 1))])
    first = decide(back, arrived(1, ("A", 1, "resellable")))
    [refund] = [c for c in first.commands if isinstance(c, RefundRequested)]
    assert (refund.amount, refund.lines[0].discount, refund.lines[0].tax) == ("10.70", "1.01", "1.71")
    second = decide(first.saga, arrived(2, ("A", 1, "damaged")))
    [again] = [c for c in second.commands if isinstance(c, RefundRequested)]
    assert Decimal(refund.amount) + Decimal(again.amount) == Decimal("21.41"), "the two halves are the line"


def test_a_whole_order_cancelled_before_it_ships_refunds_everything_with_its_shipping_unless_the_channel_keeps_it(
        ) -> None:
    for keeps, shipping in ((False, "5.83"), (True, None)):
        order = paid("awaiting_stock", "accepted", (), reserving=True, refund_shipping=not keeps)
        decision = decide(order, OrderCancelRequested(channel="web", external_id="1"))
        [refund] = [c for c in decision.commands if isinstance(c, RefundRequested)]
        assert refund.shipping == shipping and refund.reason == "cancelled"
        assert Decimal(refund.amount) == LEDGER.paid - (0 if shipping else Decimal("5.83"))


def test_a_cancel_of_some_lines_refunds_them_at_what_was_paid() -> None:
    order = paid("awaiting_stock", "accepted", (), reserving=True)
    decision = decide(order, OrderCancelRequested(channel="web", external_id="1",
                                                  lines=[SkuQuantity(sku="A", quantity=1)]))
    [refund] = [c for c in decision.commands if isinstance(c, RefundRequested)]
    assert (refund.amount, refund.shipping) == ("10.70", None)


def test_a_failed_capture_holds_the_order_even_once_delivered_and_a_release_completes_it() -> None:
    delivered = paid("completed", "delivered", ("delivered", "delivered"))
    assert decide(delivered, PaymentCaptured(order_id="o", shipment_id="o-S1")).changes == []
    held = decide(delivered, PaymentCaptureFailed(order_id="o", shipment_id="o-S1", reason="card declined"))
    assert held.saga.state == SagaState.ON_HOLD and held.saga.hold_reason == "capture_failed"
    [change] = held.changes
    assert change.status == "on_hold" and change.reason is not None and "card declined" in change.reason.message
    released = decide(held.saga.model_copy(update={"status": "on_hold"}),
                      OrderHoldReleased(channel="web", external_id="1", reason="paid by bank transfer"))
    assert released.saga.state == SagaState.COMPLETED and [c.status for c in released.changes] == ["delivered"]


def test_an_order_held_for_its_capture_stays_held_while_its_goods_move_on() -> None:
    order = paid("fulfilling", "shipped", ("picked_up", "delivered"))
    held = decide(order, PaymentCaptureFailed(order_id="o", shipment_id="o-S1", reason="card declined")).saga
    moved = decide(held.model_copy(update={"status": "on_hold"}),
                   ShipmentProgressed(order_id="o", shipment_id="o-S1", status="delivered"))
    assert moved.saga.state == SagaState.ON_HOLD and [c.status for c in moved.changes] == ["on_hold"]
