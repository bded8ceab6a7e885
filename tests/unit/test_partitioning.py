"""The relay chooses each record's partition as the producer's own partitioner would (so a key's records stay on one
partition whoever writes them), with the key's hash computed once however many records and topics share it."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from runtime.outbox import partition_of

pytestmark = pytest.mark.unit


@given(key=st.binary(min_size=1, max_size=64), count=st.sampled_from([1, 3, 12, 24]))
def test_a_keys_partition_is_the_default_partitioners(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition_of(key, partitions) == DefaultPartitioner()(key, partitions, partitions)
