"""Partner scorecards, pure: failures per request, and a scorecard worth telling only when it moved."""

from __future__ import annotations

import pytest

from rules.scorecards import MIN_REQUESTS, from_row, moved, scorecard, weighed

pytestmark = pytest.mark.unit


def test_failures_are_rejections_timeouts_and_qc_failures_per_request():
    assert scorecard("3pl-berlin", 10, 3, 2, 600).failure_rate == 0.5
    assert scorecard("3pl-berlin", 0, 0, 0, 600).failure_rate == 0.0, "no request: nothing failed"
    assert scorecard("3pl-berlin", 2, 2, 3, 600).failure_rate == 1.0, "never more than every request"


def test_a_scorecard_is_told_first_and_then_only_when_its_rate_moved():
    first = scorecard("3pl-berlin", 10, 1, 0, 600)
    assert moved(None, first)
    assert not moved(first, scorecard("3pl-berlin", 20, 2, 0, 600)), "the same rate over more requests"
    assert moved(first, scorecard("3pl-berlin", 10, 5, 0, 600))


def test_times_and_the_on_time_share_are_told_and_a_move_in_them_is_worth_telling():
    card = scorecard("3pl-berlin", 10, 0, 0, 600, {"accept_s": 4.25, "pack_s": 1800.0, "pick_to_pack_s": 600.0,
                                                    "packed_on_time": 0.9})
    assert (card.accept_latency_s, card.accept_to_pack_s, card.pick_to_pack_s, card.packed_on_time_rate) == (
        4.25, 1800.0, 600.0, 0.9)
    assert not moved(card, scorecard("3pl-berlin", 12, 0, 0, 600, {"accept_s": 4.5, "packed_on_time": 0.9}))
    assert moved(card, scorecard("3pl-berlin", 12, 0, 0, 600, {"accept_s": 9.0, "packed_on_time": 0.9}))
    assert moved(card, scorecard("3pl-berlin", 12, 0, 0, 600, {"accept_s": 4.25, "packed_on_time": 0.7}))


def test_a_failure_rate_weighs_only_once_it_rests_on_enough_requests():
    assert weighed(1.0, MIN_REQUESTS - 1) == 0.0, "one refusal of one request says little"
    assert weighed(0.5, MIN_REQUESTS) == 0.5


def test_a_carriers_exceptions_are_failures_and_open_requests_are_its_load():
    card = from_row("dhl", "carrier", 600, {"requests": 20, "rejected": 2, "exceptions": 4, "open_requests": 7,
                                            "delivered_on_time": 0.8})
    assert (card.kind, card.failure_rate, card.exceptions, card.open_requests) == ("carrier", 0.3, 4, 7)
    assert card.delivered_on_time_rate == 0.8
    quiet = from_row("dhl", "carrier", 600, None)
    assert (quiet.requests, quiet.failure_rate, quiet.open_requests) == (0, 0.0, None)


def test_a_move_in_open_requests_is_worth_telling_when_it_is_more_than_noise():
    card = scorecard("3pl-berlin", 10, 0, 0, 600, {"open_requests": 40})
    assert not moved(card, scorecard("3pl-berlin", 10, 0, 0, 600, {"open_requests": 43})), "a tenth of 40 is 4"
    assert moved(card, scorecard("3pl-berlin", 10, 0, 0, 600, {"open_requests": 60}))
    assert moved(scorecard("3pl-berlin", 1, 0, 0, 600, {"open_requests": 0}),
                 scorecard("3pl-berlin", 3, 0, 0, 600, {"open_requests": 2}))
