"""The partner simulators commit a partition up to its oldest unanswered request, and only when that moved; a
producer the broker no longer accepts is replaced; a carrier reports a hitch on the way for its share of shipments."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from simulators.__main__ import Offsets, Partners

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


class Producer:
    """A stand-in for the producer's life cycle (no broker): started, stopped, or failing to start."""

    def __init__(self, starts: bool = True) -> None:
        self.starts, self.started, self.stopped = starts, False, False

    async def start(self) -> None:
        if not self.starts:
            raise KafkaConnectionError("no broker")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


async def test_a_producer_out_of_step_with_the_broker_is_replaced_once() -> None:
    broken, made = Producer(), []

    def make() -> Producer:
        made.append(Producer())
        return made[-1]
    partners = Partners(broken, 0, 0, random.Random(1), make_producer=make)  # type: ignore[arg-type]
    await asyncio.gather(*(partners.renew(broken) for _ in range(3)))  # three answers saw it fail
    assert len(made) == 1 and partners.producer is made[0] and made[0].started
    assert broken.stopped


async def test_a_producer_that_cannot_start_yet_leaves_the_old_one_to_be_replaced_later() -> None:
    broken, attempts = Producer(), [Producer(starts=False), Producer()]
    partners = Partners(broken, 0, 0, random.Random(1), make_producer=lambda: attempts.pop(0))  # type: ignore[arg-type]
    await partners.renew(broken)
    assert partners.producer is broken and not broken.stopped
    await partners.renew(broken)
    assert partners.producer is not broken and broken.stopped


class Recorder:
    """Keeps what a simulated partner sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes, headers: object) -> None:
        self.sent.append(orjson.loads(value)["type"])


@pytest.mark.parametrize(("rate", "hitch"), [(1.0, True), (0.0, False)])
async def test_a_carrier_reports_an_exception_on_the_way_for_its_share_of_shipments(rate: float, hitch: bool) -> None:
    recorder = Recorder()
    partners = Partners(recorder, 1e-6, 0, random.Random(1), exception_rate=rate)  # type: ignore[arg-type]
    await partners.carrier("dhl", {"type": "shipment.booking_requested", "order_id": "o-1", "shipment_id": "s-1"},
                           fails=False)
    assert recorder.sent == ["shipment.booked", "shipment.picked_up", "shipment.in_transit",
                             *(["shipment.exception"] if hitch else []), "shipment.delivered"]
