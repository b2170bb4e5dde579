"""The kernel's lower bounds (gtfs.bounds): admissible, consistent, and pruning nothing that
matters — the planner finds the same journeys with and without them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import weakref

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtfs import bounds, raptor
from gtfs.planner import Endpoint, Journey, Query, plan, service_time
from gtfs.timetable import Timetable, compile_feeds
from tests.test_planner import DAY0, TOKYO, Network, build_feed, networks, reference, transit


def without_table(timetable: Timetable) -> Timetable:
    """The same network without ``least_to`` (the kernel falls back to the crow-fly bound)."""
    return dataclasses.replace(timetable, least_to=np.zeros((0, 0), dtype=np.uint16),
                               meta={k: v for k, v in timetable.meta.items()
                                     if not k.startswith("_")})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_least_times_are_a_consistent_lower_bound(network: Network) -> None:
    timetable = network.timetable
    least, table = timetable.pattern_least, timetable.least_to.astype(np.int64)
    n = timetable.n_stops
    assert table.shape == (n, n)
    assert (np.diag(table) == 0).all()
    offsets = timetable.pattern_stop_offset
    for r in range(timetable.n_patterns):
        stops = timetable.pattern_stops[offsets[r]:offsets[r + 1]]
        for i in range(stops.shape[0] - 1):
            # every trip of the pattern takes at least pattern_least from i to i + 1 ...
            for trip in timetable.pattern_trips[timetable.pattern_trip_offset[r]:
                                                timetable.pattern_trip_offset[r + 1]]:
                s = int(timetable.trip_time_offset[trip]) + i
                assert timetable.arrival[s + 1] - timetable.departure[s] >= least[offsets[r] + i]
            # ... and the table keeps the triangle inequality along the hop
            assert (table[:, stops[i]] <= least[offsets[r] + i] + table[:, stops[i + 1]]).all()
    for p in range(n):
        for f in range(timetable.footpath_offset[p], timetable.footpath_offset[p + 1]):
            w = timetable.footpath_to[f]
            assert (table[:, p] <= timetable.footpath_seconds[f] + table[:, w]).all()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.data())
def test_the_same_journeys_with_and_without_the_table(network: Network,
                                                      data: st.DataObject) -> None:
    timetable = network.timetable
    types = timetable.meta["stop_location_type"]
    boardable = [i for i in range(timetable.n_stops) if types[i] == 0]
    origin = data.draw(st.sampled_from(boardable))
    destination = data.draw(st.sampled_from([s for s in boardable if s != origin]))
    moment = dt.datetime(2026, 12, 1, data.draw(st.sampled_from([0, 7, 8, 23])),
                         data.draw(st.integers(0, 59)), tzinfo=TOKYO)
    query = Query(Endpoint(0, 0, "o", origin), Endpoint(0, 0, "d", destination), moment,
                  max_transfers=4, window_minutes=data.draw(st.sampled_from([0, 60])))
    # the same Pareto set over RAPTOR's criteria (arrival, transfers), in any order (the
    # list is ordered by departure). Between journeys equal in both the two bounds may prune
    # in another order and keep a different one: with the table a search kept a ride and a
    # walk to the end, without it a walk to another stop, a ride and a walk, arriving at the
    # same second with as many transfers
    assert sorted(_criteria(j) for j in plan(timetable, query)) == \
        sorted(_criteria(j) for j in plan(without_table(timetable), query))


def _criteria(journey: Journey) -> tuple[int, int]:
    return (journey.arrival, journey.transfers)


def test_large_networks_and_negative_hops_get_no_table(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.57, 136.62, -1)]
    trips = [([1, 2], 8 * 3600, [600], 0, [0, 0], [0, 0])]
    feed = build_feed(stops, trips, [[True, True, True]], [])
    assert compile_feeds([("t", feed)]).least_to.shape == (3, 3)
    monkeypatch.setattr(bounds, "LEAST_TABLE_MAX_STOPS", 2)
    timetable = compile_feeds([("t", feed)])
    assert timetable.least_to.shape == (0, 0)
    moment = dt.datetime(2026, 12, 1, 7, 55, tzinfo=TOKYO)
    [journey] = transit(plan(timetable, Query(Endpoint(0, 0, "", 1), Endpoint(0, 0, "", 2),
                                              moment)))
    assert journey.arrival == 8 * 3600 + 600
    least = np.asarray([-5, 0], dtype=np.int32)
    empty = np.zeros(0, dtype=np.int32)
    assert bounds.least_table(2, np.asarray([0, 2], dtype=np.int32),
                              np.asarray([0, 1], dtype=np.int32), least,
                              np.zeros(3, dtype=np.int32), empty, empty).shape == (0, 0)


def test_a_trip_catching_up_beats_the_timetables_least_times() -> None:
    """A view whose times are not the timetable's (an overlay's estimates) is not bounded by
    ``least_to``: a trip that makes up 9.5 minutes between its last two stops still beats
    the direct trip that set the best arrival before it was scanned."""
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.57, 136.62, -1), (36.58, 136.63, -1)]
    trips = [([1, 3], 7 * 3600 + 58 * 60, [840], 0, [0] * 2, [0] * 2),  # scanned first
             *(([1, 2, 3], 8 * 3600 + m * 60, [600, 600], 0, [0] * 3, [0] * 3)
               for m in (0, 10))]
    timetable = compile_feeds([("rt", build_feed(stops, trips, [[True, True, True]], []))])
    assert (timetable.least_to[3, 1], timetable.least_to[3, 2]) == (840, 600)
    view = raptor.day_view(timetable, DAY0)
    access, egress = np.asarray([1], dtype=np.int32), np.asarray([3], dtype=np.int32)
    zero = np.zeros(1, dtype=np.int32)

    def arrival(v: raptor.DayView) -> int:
        labels = raptor.run(timetable, v, access, zero + 7 * 3600 + 55 * 60, egress, zero, 2, 60)
        return int(labels.transit_tau[:, 3].min())

    assert arrival(view) == 8 * 3600 + 12 * 60  # the direct trip
    pattern = int(timetable.trip_pattern[1])
    entry = int(view.offset[pattern])
    assert int(view.trip[entry]) == 1
    last = int(view.time_offset[pattern]) + 2  # the 08:00 trip at stop 3
    dep, arr = view.dep.copy(), view.arr.copy()
    dep[last] -= 570  # stop 2 -> 3 in 30 s: at 3 at 08:11
    arr[last] -= 570
    fast = dataclasses.replace(view, dep=dep, arr=arr, fifo=raptor.fifo_of(view, dep, arr),
                               pace=raptor.pace_of(timetable, view, dep, arr))
    assert not raptor._timetabled(timetable, fast)
    assert arrival(fast) == 8 * 3600 + 11 * 60
    day, seconds = service_time(timetable, dt.datetime(2026, 12, 1, 7, 55, tzinfo=TOKYO))
    assert reference(timetable, day, {1: seconds}, [3], 1, 60)[0] == 8 * 3600 + 12 * 60


def test_estimates_no_quicker_than_the_timetable_keep_the_table() -> None:
    """A late trip, or one skipping a stop, rides no hop quicker than the timetable's least:
    such a view keeps the least-time bound; a ride quicker over a skipped stop loses it."""
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.57, 136.62, -1), (36.58, 136.63, -1)]
    trips = [([1, 2, 3], 8 * 3600 + m * 60, [600, 600], 0, [0] * 3, [0] * 3) for m in (0, 10)]
    timetable = compile_feeds([("rt", build_feed(stops, trips, [[True, True, True]], []))])
    view = raptor.day_view(timetable, DAY0)
    assert raptor._timetabled(timetable, view)
    first = int(view.time_offset[int(timetable.trip_pattern[0])])

    def swapped(dep: npt.NDArray[np.int32], arr: npt.NDArray[np.int32]) -> raptor.DayView:
        """A view with these times, as an overlay makes it (new arrays, never changed)."""
        dep, arr = dep.copy(), arr.copy()
        return dataclasses.replace(view, dep=dep, arr=arr, fifo=raptor.fifo_of(view, dep, arr),
                                   pace=raptor.pace_of(timetable, view, dep, arr))

    dep, arr = view.dep.copy(), view.arr.copy()
    dep[first:first + 3] += 300  # five minutes late all along
    arr[first:first + 3] += 300
    assert raptor._timetabled(timetable, swapped(dep, arr))
    dep[first + 1] = arr[first + 1] = raptor.INF  # and skipping stop 2: 1 -> 3 in 1230 s
    assert raptor._timetabled(timetable, swapped(dep, arr))
    arr[first + 2] -= 100  # 1 -> 3 in 1130 s, below the least 1200 over stop 2
    assert not raptor._timetabled(timetable, swapped(dep, arr))
    dep, arr = view.dep.copy(), view.arr.copy()
    dep[first + 1] -= 60  # leaves stop 2 before it arrives there: arrival to arrival stays
    assert raptor._timetabled(timetable, swapped(dep, arr))
    arr[first + 2] -= 31  # 2 -> 3 arrival to arrival in 599 s
    assert not raptor._timetabled(timetable, swapped(dep, arr))


def test_the_kernels_caches_keep_no_view_alive() -> None:
    """What the kernel remembers per view (its lanes, whether its times are no quicker than
    the timetable's) holds no reference to it: an old overlay's times are freed."""
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.57, 136.62, -1)]
    trips = [([1, 2], 8 * 3600, [600], 0, [0, 0], [0, 0])]
    timetable = compile_feeds([("c", build_feed(stops, trips, [[True, True, True]], []))])
    view = raptor.day_view(timetable, DAY0)
    dep, arr = view.dep + 60, view.arr + 60  # an overlay's new arrays
    late = dataclasses.replace(view, dep=dep, arr=arr)
    access, egress = np.asarray([1], dtype=np.int32), np.asarray([2], dtype=np.int32)
    zero = np.zeros(1, dtype=np.int32)
    labels = raptor.run(timetable, late, access, zero + 7 * 3600, egress, zero, 1, 60)
    assert labels.transit_tau[1, 2] == 8 * 3600 + 660
    assert raptor._timetabled(timetable, late)
    gone: list[weakref.ref[object]] = [weakref.ref(late), weakref.ref(dep), weakref.ref(arr)]
    del late, dep, arr
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]
