"""The partner simulators commit a partition up to its oldest unanswered request, and only when that moved."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from simulators.__main__ import Offsets

pytestmark = pytest.mark.unit

A, B = TopicPartition("partners.warehouse.a.requests.v1", 0), TopicPartition("partners.carrier.b.requests.v1", 1)


def answered(*requests: tuple[TopicPartition, int]) -> Offsets:
    """Offsets that saw these requests and answered them all."""
    offsets = Offsets()
    for tp, offset in requests:
        offsets.start(tp, offset)
        offsets.done(tp, offset)
    return offsets


def test_a_partition_is_committed_up_to_its_oldest_request_still_answered() -> None:
    offsets = Offsets()
    for offset in (4, 5, 6):
        offsets.start(A, offset)
    offsets.done(A, 5)
    assert offsets.committable({A, B}) == {A: 4}
    offsets.done(A, 4)
    offsets.done(A, 6)
    assert offsets.committable({A, B}) == {A: 7}


def test_only_the_partitions_that_moved_are_committed_again() -> None:
    offsets = answered((A, 0), (B, 10))
    offsets.mark(offsets.committable({A, B}))
    assert offsets.committable({A, B}) == {}  # an idle simulator writes nothing to __consumer_offsets
    offsets.start(B, 11)  # one more request, answered
    offsets.done(B, 11)
    assert offsets.committable({A, B}) == {B: 12}


def test_a_partition_a_rebalance_took_away_is_not_committed() -> None:
    offsets = answered((A, 0), (B, 10))
    assert offsets.committable({B}) == {B: 11}
    assert offsets.committable(set()) == {}  # mid-rebalance: nothing assigned, nothing to commit
