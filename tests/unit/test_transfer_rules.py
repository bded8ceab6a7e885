"""When inventory proposes a transfer: from the location with the most to spare beyond its cover, to one at or below
the reorder point (or short of what orders wait for); never from a location that is short itself, never a second
one to a destination with one under way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.transfers import TransferRules, proposals

pytestmark = pytest.mark.unit

RULES = TransferRules(cover_days=30, demand_days=7)
SHIPS = ("dc", "store", "3pl")


def point(sku: str) -> int:
    return 5


def test_the_location_with_most_to_spare_sends_to_the_short_one_with_why():
    available = {("dc", "A"): 200, ("3pl", "A"): 60, ("store", "A"): 2}
    sold = {("dc", "A"): 14, ("3pl", "A"): 14}  # 2 a day each: cover is 60 units
    [proposal] = proposals(available, sold, point, {}, set(), SHIPS, RULES)
    assert (proposal.from_location_id, proposal.to_location_id, proposal.quantity) == ("dc", "store", 8)
    assert proposal.reason == "dc has 200 available, 100 days of cover; store has 2 (reorder point 5)"


def test_orders_waiting_raise_what_is_asked_and_a_transfer_under_way_is_not_asked_again():
    available = {("dc", "A"): 100, ("store", "A"): 0}
    [proposal] = proposals(available, {}, point, {"A": 25}, set(), SHIPS, RULES)
    assert proposal.quantity == 25 and "25 waited for" in proposal.reason and "no sales in 7 days" in proposal.reason
    assert proposals(available, {}, point, {"A": 25}, {("A", "store")}, SHIPS, RULES) == []


def test_nothing_to_spare_within_the_cover_no_proposal():
    available = {("dc", "A"): 50, ("store", "A"): 1}
    assert proposals(available, {("dc", "A"): 14}, point, {}, set(), SHIPS, RULES) == []


@given(st.dictionaries(st.tuples(st.sampled_from(SHIPS), st.sampled_from("AB")), st.integers(0, 300)),
       st.dictionaries(st.tuples(st.sampled_from(SHIPS), st.sampled_from("AB")), st.integers(0, 100)),
       st.dictionaries(st.sampled_from("AB"), st.integers(0, 50)))
def test_no_source_gives_more_than_it_has_beyond_its_cover_nor_is_short_itself(available, sold, waiting):
    given_away: dict[tuple[str, str], int] = {}
    for p in proposals(available, sold, point, waiting, set(), SHIPS, RULES):
        key = (p.from_location_id, p.sku)
        given_away[key] = given_away.get(key, 0) + p.quantity
        assert p.quantity >= RULES.min_units and p.from_location_id != p.to_location_id
        assert available[key] > point(p.sku) and available[key] >= waiting.get(p.sku, 0)
    for (loc, sku), n in given_away.items():
        cover = -(-sold.get((loc, sku), 0) * 30 // 7)
        assert n <= available[(loc, sku)] - cover
