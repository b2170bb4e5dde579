"""The one way every ``maas bench`` command times things and summarises the times.

Timing: :func:`timed` and :func:`repeat` run a callable and read :func:`time.perf_counter_ns`
before and after it; figures are reported in milliseconds.

Percentiles: :func:`percentile` is the *linear interpolation between closest ranks* — type 7 of
Hyndman & Fan, the default of ``numpy.percentile`` and of spreadsheets' ``PERCENTILE.INC``, and
what ``statistics.quantiles(values, n=100, method="inclusive")`` returns. For ``n`` sorted values
``x[0] ≤ … ≤ x[n-1]`` the ``q``-th percentile sits at rank ``h = (n - 1) · q / 100`` and is
``x[⌊h⌋] + (h - ⌊h⌋) · (x[⌊h⌋ + 1] - x[⌊h⌋])``. So p50 is the median (the mean of the two
middle values when ``n`` is even), p0 the minimum, p100 the maximum, and one value is every
percentile of itself. Every p50/p90/p99 column of the README comes from this function.

Pure Python on purpose: ``maas bench cli`` imports this module and measures start-up, so it
loads no numpy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")

NS_PER_MS = 1_000_000


def timed(function: Callable[[], T]) -> tuple[float, T]:
    """Call ``function()`` once: (milliseconds it took, what it returned)."""
    started = time.perf_counter_ns()
    result = function()
    return (time.perf_counter_ns() - started) / NS_PER_MS, result


def repeat(function: Callable[[], object], times: int, *, warmup: int = 0) -> list[float]:
    """Milliseconds of ``times`` calls of ``function()``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        function()
    return [timed(function)[0] for _ in range(times)]


def ms(nanoseconds: Iterable[int]) -> list[float]:
    """Nanosecond counts (``perf_counter_ns`` differences) as milliseconds."""
    return [value / NS_PER_MS for value in nanoseconds]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values`` by linear interpolation (module doc).

    Raises ValueError for no values or ``q`` outside 0–100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0–100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def percentiles(values: Sequence[float], *qs: float, digits: int | None = None,
                empty: float | None = None) -> tuple[float, ...]:
    """:func:`percentile` of ``values`` at each of ``qs``, rounded to ``digits`` if given.

    With ``empty`` given, no values give ``empty`` for every percentile instead of an error.
    """
    if not values and empty is not None:
        return tuple(empty for _ in qs)
    found = [percentile(values, q) for q in qs]
    return tuple(found if digits is None else (round(value, digits) for value in found))
