"""Nothing dies quietly: a background job that fails is restarted, one that keeps failing ends the process, and a
fetch that failed unexpectedly is read again (its partitions set back), never committed past."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from runtime import consume, service
from runtime.consume import ConsumePolicy

pytestmark = pytest.mark.unit


class Exited(Exception):
    pass


def exit_raises(monkeypatch: pytest.MonkeyPatch, module: object) -> None:
    def fake_exit(code: int) -> None:
        raise Exited(code)
    monkeypatch.setattr(module.os, "_exit", fake_exit)  # type: ignore[attr-defined]


async def test_a_background_job_that_fails_is_restarted():
    runs = 0
    done = asyncio.Event()

    async def job() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError("lost the database")
        done.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(service.supervised("dispatcher", job, backoff_s=0.001))
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    assert runs == 3


async def test_a_background_job_that_keeps_failing_ends_the_process(monkeypatch):
    exit_raises(monkeypatch, service)

    async def job() -> None:
        raise RuntimeError("broken for good")

    with pytest.raises(Exited):
        await asyncio.wait_for(service.supervised("relay", job, restarts=3, backoff_s=0.001), 5)


class Consumer:
    def __init__(self, owned: set[TopicPartition]) -> None:
        self.owned = owned
        self.seeks: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset


def record(partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


async def test_an_unexpected_failure_sets_the_fetch_back_to_its_first_records(monkeypatch):
    exit_raises(monkeypatch, consume)
    policy = ConsumePolicy("test", publish=None, pool=None, backoff_s=0.001, give_up_after=3)  # type: ignore[arg-type]
    consumer = Consumer({TopicPartition("t", 0), TopicPartition("t", 1)})
    records = [record(0, 7), record(0, 8), record(1, 3), record(2, 5)]  # partition 2 was taken away meanwhile
    await policy.unexpected_failure(consumer, records, RuntimeError("nobody expected this"))  # type: ignore[arg-type]
    assert consumer.seeks == {TopicPartition("t", 0): 7, TopicPartition("t", 1): 3}
    await policy.unexpected_failure(consumer, records, RuntimeError("again"))  # type: ignore[arg-type]
    policy.handled()  # a fetch that went through resets the count
    await policy.unexpected_failure(consumer, records, RuntimeError("once more"))  # type: ignore[arg-type]
    await policy.unexpected_failure(consumer, records, RuntimeError("and again"))  # type: ignore[arg-type]
    with pytest.raises(Exited):
        await policy.unexpected_failure(consumer, records, RuntimeError("for good"))  # type: ignore[arg-type]
    assert policy.unexpected_failures == 5
