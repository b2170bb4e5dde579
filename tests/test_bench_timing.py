"""The one timer and the one percentile definition of every ``maas bench`` command."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maas.bench.timing import percentile, percentiles, repeat, timed

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(finite, min_size=2, max_size=60))
def test_percentiles_are_statistics_quantiles_inclusive(values: list[float]) -> None:
    expected = statistics.quantiles(values, n=100, method="inclusive")
    for q in (1, 10, 50, 90, 99):
        assert percentile(values, q) == pytest.approx(expected[q - 1], rel=1e-9, abs=1e-6)


@given(st.lists(finite, min_size=1, max_size=60))
def test_p50_is_the_median_and_the_ends_are_min_and_max(values: list[float]) -> None:
    assert percentile(values, 50) == pytest.approx(statistics.median(values), abs=1e-6)
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)


def test_percentiles_round_and_handle_nothing() -> None:
    assert percentiles([1.0, 2.0, 3.0, 4.0], 50, 90, digits=2) == (2.5, 3.7)
    assert percentiles([7.0], 50, 99) == (7.0, 7.0)
    assert percentiles([], 50, 90, empty=0.0) == (0.0, 0.0)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_timed_returns_milliseconds_and_the_result() -> None:
    elapsed, result = timed(lambda: "done")
    assert result == "done"
    assert elapsed >= 0
    calls: list[int] = []
    timings = repeat(lambda: calls.append(1), 3, warmup=2)
    assert len(timings) == 3
    assert len(calls) == 5
