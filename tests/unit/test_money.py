"""What the customer paid, line by line: the shares of discount and tax that captures and refunds take."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.money import Ledger, PaidLine, ShippingCharge

pytestmark = pytest.mark.unit

CENTS = st.integers(min_value=0, max_value=10**7).map(lambda n: Decimal(n) / 100)


@st.composite
def lines(draw: st.DrawFn) -> PaidLine:
    quantity = draw(st.integers(min_value=1, max_value=12))
    price = draw(CENTS)
    discount = draw(st.integers(min_value=0, max_value=int(price * quantity * 100))) / Decimal(100)
    return PaidLine(sku=draw(st.sampled_from("ABC")), quantity=quantity, unit_price=price, discount=discount,
                    tax=draw(CENTS))


@st.composite
def splits(draw: st.DrawFn, total: int) -> list[int]:
    """`total` units in parts of at least one, in any order."""
    parts, left = [], total
    while left:
        part = draw(st.integers(min_value=1, max_value=left))
        parts.append(part)
        left -= part
    return parts


@given(st.data())
def test_shares_of_any_split_of_a_line_add_up_to_it_and_never_exceed_their_part(data: st.DataObject) -> None:
    line = data.draw(lines())
    parts = data.draw(splits(line.quantity))
    taken, total = 0, Decimal(0)
    for part in parts:
        share = line.next(taken, part, "EUR")
        assert share.amount >= 0 and share.discount >= 0 and share.tax >= 0
        taken, total = taken + part, total + share.amount
        assert total <= line.paid * taken / line.quantity, "never more than the units' part of what was paid"
    assert total == line.paid, "every unit: exactly the line"


@given(st.data())
def test_partial_returns_never_refund_more_than_the_line_and_a_full_return_refunds_what_was_paid(
        data: st.DataObject) -> None:
    paid = Ledger(currency="EUR", lines=data.draw(st.lists(lines(), min_size=1, max_size=4)))
    ledger, refunded = paid, Decimal(0)
    for sku in "ABC":
        units = sum(line.quantity for line in paid.lines if line.sku == sku)
        for part in (data.draw(splits(units)) if units else []) + [1, 2]:  # more than there is: nothing more
            ledger, shares, _ = ledger.refund([(sku, part)])
            refunded += sum((s.amount for s in shares), Decimal(0))
    assert refunded == paid.paid == ledger.refunded
    assert all(line.returned == line.quantity for line in ledger.lines)


@given(st.data())
def test_captures_of_a_split_order_add_up_to_its_total(data: st.DataObject) -> None:
    paid = Ledger(currency="EUR", lines=data.draw(st.lists(lines(), min_size=1, max_size=4)),
                  shipping=ShippingCharge(price=Decimal("4.90"), tax=Decimal("0.93"), discount=Decimal("1.00")))
    units = [(line.sku, 1) for line in paid.lines for _ in range(line.quantity)]
    shipments = data.draw(st.permutations(units))
    ledger, captured, shipping_taken = paid, Decimal(0), []
    for sku, n in shipments:
        ledger, shares, shipping = ledger.capture([(sku, n)])
        captured += sum((s.amount for s in shares), Decimal(0)) + shipping
        shipping_taken.append(shipping)
    assert captured == paid.paid == ledger.captured and ledger.outstanding == 0
    assert shipping_taken[0] == Decimal("4.83") and not any(shipping_taken[1:]), "the shipping charge with the first"


def test_shopifys_example_order_refunds_the_green_line_at_what_was_paid_for_it() -> None:
    """Shopify's example #1001: three iPods at 199.00, TENOFF taken as 3.34 / 3.33 / 3.33, 3.98 tax on each."""
    paid = Ledger(currency="USD", lines=[
        PaidLine(sku=sku, quantity=1, unit_price=Decimal("199.00"), discount=Decimal(d), tax=Decimal("3.98"))
        for sku, d in (("IPOD2008GREEN", "3.34"), ("IPOD2008RED", "3.33"), ("IPOD2008BLACK", "3.33"))])
    after, [share], shipping = paid.refund([("IPOD2008GREEN", 1)])
    assert (share.amount, share.discount, share.tax, shipping) == (Decimal("199.64"), Decimal("3.34"),
                                                                  Decimal("3.98"), 0)
    assert after.refund([("IPOD2008GREEN", 1)])[1] == [], "refunded once"


def test_a_cancel_before_the_goods_left_gives_back_what_was_never_captured() -> None:
    paid = Ledger(currency="EUR", lines=[PaidLine(sku="A", quantity=3, unit_price=Decimal("10.00"),
                                                  discount=Decimal("1.00"), tax=Decimal("5.51"))],
                  shipping=ShippingCharge(price=Decimal("4.90")))
    shipped, [first], shipping = paid.capture([("A", 1)])
    assert (first.amount, shipping) == (Decimal("11.49"), Decimal("4.90"))  # 10 - 0.34 + 1.83, then shipping
    cancelled, [rest], no_shipping = shipped.refund([("A", 2)], with_shipping=True, uncaptured=True)
    assert rest.amount == Decimal("23.02") and no_shipping == 0, "the shipping charge was captured: kept"
    assert first.amount + rest.amount == Decimal("34.51") == paid.paid - Decimal("4.90")
    assert cancelled.outstanding == 0 and cancelled.voided == Decimal("23.02")


def test_amounts_in_a_currency_without_cents_are_whole() -> None:
    line = PaidLine(sku="A", quantity=3, unit_price=Decimal("1000"), discount=Decimal("100"), tax=Decimal("290"))
    assert [line.next(n, 1, "JPY").amount for n in range(3)] == [Decimal("1062"), Decimal("1064"), Decimal("1064")]


@given(st.data())
def test_a_line_captured_in_parts_then_partly_cancelled_and_returned_never_refunds_more_than_it(
        data: st.DataObject) -> None:
    line = data.draw(lines())
    paid = Ledger(currency="EUR", lines=[line])
    shipped = data.draw(st.integers(min_value=0, max_value=line.quantity))
    ledger, captured = paid, Decimal(0)
    for part in data.draw(splits(shipped)) if shipped else []:
        ledger, shares, _ = ledger.capture([(line.sku, part)])
        captured += sum((s.amount for s in shares), Decimal(0))
    ledger, cancels, _ = ledger.refund([(line.sku, line.quantity)], uncaptured=True)  # the rest, before it left
    cancelled = sum((s.amount for s in cancels), Decimal(0))
    assert captured + cancelled == line.paid, "every unit left once: captured or cancelled"
    refunded = cancelled
    for part in data.draw(splits(shipped)) if shipped else []:
        ledger, shares, _ = ledger.refund([(line.sku, part)])
        refunded += sum((s.amount for s in shares), Decimal(0))
        assert refunded <= line.paid
    assert refunded == line.paid, "everything cancelled or returned: exactly what was paid"
