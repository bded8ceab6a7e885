"""Offsets are committed at most every interval, the last of a quiet spell by a timer; a commit that fails is tried
again; a partition given away is left to its new owner; a stopping service commits at once."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import ConsumerRecord

from runtime.kafka_tools import Commits
from tests.support.poll import eventually

pytestmark = pytest.mark.unit

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


class Consumer:
    """What `Commits` asks of an aiokafka consumer: its partitions and commits (recorded; failing while `down`)."""

    def __init__(self) -> None:
        self.owned = {P0, P1}
        self.commits: list[dict[TopicPartition, int]] = []
        self.down = False

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.down:
            raise KafkaConnectionError("broker away")
        self.commits.append(dict(offsets))


def records(partition: int, *offsets: int) -> list[ConsumerRecord]:
    return [ConsumerRecord("t", partition, o, 0, 0, None, b"{}", None, 0, 2, []) for o in offsets]


async def commits_of(consumer: Consumer) -> list[dict[TopicPartition, int]]:
    return consumer.commits


async def test_batches_within_the_interval_are_one_commit_of_the_latest_offsets():
    consumer, commits = Consumer(), Commits(every_s=0.2)
    await commits.handled(consumer, records(0, 0, 1))  # the first batch: the interval began long ago
    assert consumer.commits == [{P0: 2}]
    await commits.handled(consumer, records(0, 2))
    await commits.handled(consumer, records(1, 7, 8))
    await commits.handled(consumer, records(0, 3))
    assert consumer.commits == [{P0: 2}], "committed before the interval passed"
    await eventually(lambda: commits_of(consumer), lambda seen: len(seen) == 2, "the timer's commit", 5, 0.01)
    assert consumer.commits[1] == {P0: 4, P1: 9}
    assert not commits.pending


async def test_no_interval_commits_each_batch():
    consumer, commits = Consumer(), Commits(every_s=0)
    await commits.handled(consumer, records(0, 0))
    await commits.handled(consumer, records(1, 5))
    assert consumer.commits == [{P0: 1}, {P1: 6}]


async def test_a_partition_given_away_is_not_committed():
    consumer, commits = Consumer(), Commits(every_s=0)
    consumer.owned = {P1}
    await commits.handled(consumer, records(0, 3) + records(1, 4))
    assert consumer.commits == [{P1: 5}]


async def test_a_failed_commit_stays_pending_and_goes_with_the_next():
    consumer, commits = Consumer(), Commits(every_s=0.05)
    consumer.down = True
    with pytest.raises(KafkaConnectionError):
        await commits.handled(consumer, records(0, 0, 1))
    assert commits.pending == {P0: 2}
    consumer.down = False
    await commits.handled(consumer, records(1, 3))
    await eventually(lambda: commits_of(consumer), bool, "the retried commit", 5, 0.01)
    assert consumer.commits == [{P0: 2, P1: 4}]


async def test_a_stopping_service_commits_what_is_pending_and_then_each_batch():
    consumer, commits = Consumer(), Commits(every_s=60)
    await commits.handled(consumer, records(0, 0))
    await commits.handled(consumer, records(0, 1))
    assert consumer.commits == [{P0: 1}]
    await commits.close()
    assert consumer.commits == [{P0: 1}, {P0: 2}]
    await commits.handled(consumer, records(1, 0))
    assert consumer.commits[-1] == {P1: 1}
