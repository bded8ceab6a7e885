"""The one percentile the demo's summary and the bench's latencies are read with."""

from __future__ import annotations

import math

import pytest

from oms_cli.demo import percentile

pytestmark = pytest.mark.unit


def test_percentiles_lie_between_the_smallest_and_the_largest_value() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0, 9.0], 99) <= 9.0


def test_one_value_is_every_percentile_and_none_is_not_a_number() -> None:
    assert percentile([42.0], 99) == 42.0
    assert math.isnan(percentile([], 50))
