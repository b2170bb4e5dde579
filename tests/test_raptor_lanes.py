"""The kernel's FIFO lanes under a realtime overlay, on tiny synthetic timetables.

A pattern is split into lanes only where a trip really overtakes another; a skipped stop
(``INF``) does not split it, so the kernel steps over skipped cells: a skipped stop is never
boarded nor alighted, and a later trip of the lane that stops there is taken instead.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from google.transit import gtfs_realtime_pb2 as rt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtfs import raptor
from gtfs.realtime import core
from gtfs.timetable import Timetable, compile_feeds
from tests.test_planner import build_feed
from tests.test_realtime_core import FAR, attach, message, update

DAY = dt.date(2026, 12, 1)
H8 = 8 * 3600


def line(starts: list[int], stops: int = 4) -> Timetable:
    """One pattern s1 → s2 → … (10 min hops, 30 s dwell), a trip leaving s1 at each start."""
    trips = [(list(range(1, stops + 1)), start, [600] * (stops - 1), 0, [0] * stops,
              [0] * stops) for start in starts]
    return compile_feeds([("rt", build_feed(FAR, trips, [[True, True, True]], []))])


def lanes(timetable: Timetable) -> list[int]:
    """The number of lanes of each pattern in today's view."""
    offset, _ = raptor.lanes_of(raptor.day_view(timetable, DAY))
    return np.diff(offset).tolist()


def arrivals(timetable: Timetable, access: dict[int, int], rounds: int = 1
             ) -> tuple[raptor.Labels, raptor.DayView]:
    """The labels of one run from ``access`` (stop -> time), no egress."""
    view = raptor.day_view(timetable, DAY)
    stops = np.asarray(list(access), dtype=np.int32)
    times = np.asarray(list(access.values()), dtype=np.int32)
    empty = np.zeros(0, dtype=np.int32)
    return raptor.run(timetable, view, stops, times, empty, empty, rounds - 1, 60), view


def test_a_trip_that_skips_a_stop_keeps_one_lane() -> None:
    timetable = line([H8, H8 + 600, H8 + 1200])
    attach(timetable, update(message(), "t1", skipped=("s2",)))
    assert lanes(timetable) == [1]
    # t0 late from s2 on (08:25, t1 08:20) overtakes nothing at s1: a real overtaking, two lanes
    attach(timetable, update(message(), "t0", [("s2", 900)]))
    assert lanes(timetable) == [2]
    # t0 late from s1 on is re-sorted after t1: no overtaking, one lane
    attach(timetable, update(message(), "t0", [("s1", 900)]))
    assert lanes(timetable) == [1]


def test_an_earlier_trip_is_never_boarded_where_it_skips_the_stop() -> None:
    # t0 (08:00) and t1 (08:10) both skip s2. Reaching s1 at 08:05 boards t1; s2, reached
    # at 07:00, must not switch to the earlier t0 there (it does not stop): s3 is reached by
    # t1 at 08:30, not by t0 at 08:20
    timetable = line([H8, H8 + 600])
    feed = update(message(), "t0", skipped=("s2",))
    attach(timetable, update(feed, "t1", skipped=("s2",)))
    labels, view = arrivals(timetable, {1: H8 + 300, 2: 7 * 3600})
    assert int(labels.transit_tau[1, 3]) == H8 + 600 + 1230
    assert timetable.meta["trip_ids"][int(view.trip[int(labels.trip[1, 3])])] == "t1"
    assert int(labels.board_stop[1, 3]) == 1
    # nothing is left at s2 today (tomorrow's t0 stops there)
    assert int(labels.transit_tau[1, 2]) >= 86400


def test_a_later_trip_that_stops_is_taken_where_the_first_one_skips() -> None:
    # t0 skips s3; t1 skips s1, where the rider waits; t2 stops everywhere: s3 is reached by t2
    timetable = line([H8, H8 + 600, H8 + 1200])
    feed = update(message(), "t0", skipped=("s3",))
    attach(timetable, update(feed, "t1", skipped=("s1",)))
    assert lanes(timetable) == [1]
    labels, view = arrivals(timetable, {1: 7 * 3600})
    assert int(labels.transit_tau[1, 2]) == H8 + 600  # t0 to s2 (it stops there)
    assert int(labels.transit_tau[1, 3]) == H8 + 1200 + 1230  # t2, boarded at s1
    assert timetable.meta["trip_ids"][int(view.trip[int(labels.trip[1, 3])])] == "t2"
    assert int(labels.board_stop[1, 3]) == 1
    assert int(labels.transit_tau[1, 4]) == H8 + 1860  # t0 again: it stops at s4


def test_a_later_trip_boarded_at_another_marked_stop() -> None:
    # t0 skips s3; t1 skips s1 but stops at s2, where the rider also is: s3 by t1 from s2
    timetable = line([H8, H8 + 600])
    feed = update(message(), "t0", skipped=("s3",))
    attach(timetable, update(feed, "t1", skipped=("s1",)))
    labels, _ = arrivals(timetable, {1: 7 * 3600, 2: 7 * 3600})
    assert int(labels.transit_tau[1, 3]) == H8 + 600 + 1230
    assert int(labels.board_stop[1, 3]) == 2


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_one_line_with_skips_and_delays_equals_the_rewritten_feed(data: st.DataObject) -> None:
    """Many trips of one pattern (a loop line, so a stop is visited twice), delays that may
    overtake and many skipped stops: the earliest arrivals with k trips equal the reference
    connection scan's on the feed rewritten with the estimates."""
    from gtfs.planner import Endpoint, Query, plan, service_time
    from tests.test_planner import TOKYO, members, reference
    from tests.test_realtime_core import NOW, rewritten, transit_only

    stops = [1, 2, 3, 2, 4]
    n = len(stops)
    starts = sorted(data.draw(st.lists(st.integers(7 * 3600, 9 * 3600), min_size=2,
                                       max_size=8, unique=True)))
    trips = [(stops, start, [300] * (n - 1), 0, [0] * n, [0] * n) for start in starts]
    feed = build_feed(FAR, trips, [[True, True, True]], [])
    timetable = compile_feeds([("rt", feed)])
    updates = message()
    for t in range(len(starts)):
        entity = updates.entity.add()
        entity.id = f"e{t}"
        entity.trip_update.trip.trip_id = f"t{t}"
        entity.trip_update.trip.start_date = "20261201"
        for i in range(n):
            stu = entity.trip_update.stop_time_update.add()
            stu.stop_sequence = i + 1
            if data.draw(st.integers(0, 3)) == 0:
                stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED
            else:
                stu.departure.delay = data.draw(st.sampled_from([0, 0, 60, 300, 900]))
    overlay, outcome = core.trip_updates(timetable, "rt", updates, NOW, 600)
    assert (outcome.unmatched, outcome.error_count) == (0, 0)
    timetable.meta["_realtime"] = overlay
    other = rewritten(feed, timetable, overlay)
    origin = data.draw(st.sampled_from([1, 2, 3]))
    destination = data.draw(st.sampled_from([s for s in (1, 2, 3, 4) if s != origin]))
    moment = dt.datetime(2026, 12, 1, 7, data.draw(st.integers(0, 59)), tzinfo=TOKYO)
    q = Query(Endpoint(0, 0, "o", origin), Endpoint(0, 0, "d", destination), moment,
              max_transfers=2, min_transfer_seconds=60)
    journeys = transit_only(plan(timetable, q))
    day, seconds = service_time(other, moment)
    expected = reference(other, day, {origin: seconds}, members(other, destination), 3, 60)
    for k in range(1, 4):
        ours = min([10**9, *(j.arrival for j in journeys if j.transfers + 1 <= k)])
        assert ours == expected[k - 1], (k, ours, expected)
