"""The planner against an independent connection scan, on generated timetables with traps.

Every generated network contains loops (a stop twice in a trip), overtaking trips, trips of
the previous service day running after midnight, calendar exceptions, parent stations,
transfers.txt rules (minimum times and forbidden transfers) and footpaths. Every returned
journey must be feasible, and for each number of trips the planner's earliest arrival must
equal the reference's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtfs import raptor
from gtfs.feed import Agency, FeedData, Route, Stop, Transfer, Trip, read_feed
from gtfs.planner import (
    Endpoint,
    Journey,
    Query,
    access_options,
    egress_options,
    plan,
    service_time,
)
from gtfs.raptor import DAY, day_view
from gtfs.timetable import FORBIDDEN, Timetable, compile_feeds, walk_seconds
from maas.demo.kanazawa import write_demo

DAY0 = dt.date(2026, 12, 1)
TOKYO = dt.timezone(dt.timedelta(hours=9))
INF = 10**9


@dataclass
class Network:
    """A generated feed plus the facts the reference needs."""

    feed: FeedData
    timetable: Timetable


def build_feed(stops: list[tuple[float, float, int]], trips: list[tuple[list[int], int, list[int],
               int, list[int], list[int]]], days: list[list[bool]],
               transfers: list[Transfer]) -> FeedData:
    """stops: (lat, lon, parent); trips: (stops, start, hop seconds, service, pickup, dropoff)."""
    st_trip, st_stop, st_arr, st_dep, pick, drop = [], [], [], [], [], []
    for index, (pattern, start, hops, _, pickup, dropoff) in enumerate(trips):
        t = start
        for position, stop in enumerate(pattern):
            if position:
                t += hops[position - 1]
            st_trip.append(index)
            st_stop.append(stop)
            st_arr.append(t)
            st_dep.append(t + (30 if 0 < position < len(pattern) - 1 else 0))
            t = st_dep[-1]
            pick.append(pickup[position])
            drop.append(dropoff[position])
    return FeedData(
        agencies=[Agency("a", "Agency", "", "Asia/Tokyo")],
        stops=[Stop(f"s{i}", f"Stop {i}", lat, lon, location_type=1 if parent == -2 else 0,
                    parent=parent if parent >= 0 else -1)
               for i, (lat, lon, parent) in enumerate(stops)],
        routes=[Route("r", 0, "1", "Route", 3)],
        trips=[Trip(f"t{i}", 0, trip[3]) for i, trip in enumerate(trips)],
        services=[f"svc{i}" for i in range(len(days))],
        first_date=DAY0 - dt.timedelta(days=1),
        service_days=np.asarray(days, dtype=np.bool_),
        st_trip=np.asarray(st_trip, dtype=np.int32), st_stop=np.asarray(st_stop, dtype=np.int32),
        st_arrival=np.asarray(st_arr, dtype=np.int32),
        st_departure=np.asarray(st_dep, dtype=np.int32),
        st_pickup=np.asarray(pick, dtype=np.int8), st_dropoff=np.asarray(drop, dtype=np.int8),
        transfers=transfers,
    )


@st.composite
def networks(draw: st.DrawFn) -> Network:
    n = draw(st.integers(6, 12))
    # a 6 x 6 grid of ~250 m cells: some stops within footpath range of each other
    cells = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=n,
                          max_size=n))
    if draw(st.booleans()):
        # three stops ~357 m apart on a diagonal: the ends (714 m) are linked only by a chain
        cells[3:6] = [(0, 0), (1, 1), (2, 2)]
    stops = [(36.55 + y * 0.0023, 136.64 + x * 0.0028, -1) for y, x in cells]
    # stop 0 becomes a station with stops 1 and 2 as its platforms
    stops[0] = (stops[0][0], stops[0][1], -2)
    stops[1] = (stops[1][0], stops[1][1], 0)
    stops[2] = (stops[2][0], stops[2][1], 0)
    boardable = list(range(1, n))
    days = [[True, True, True], [True, False, True], [False, True, False]]
    if draw(st.booleans()):
        days[0][1] = False  # a calendar exception removes the main service today
    trips = []
    for _ in range(draw(st.integers(3, 9))):
        length = draw(st.integers(2, 6))
        pattern = draw(st.lists(st.sampled_from(boardable), min_size=length, max_size=length))
        if draw(st.booleans()):
            pattern.append(pattern[0])  # a loop
        pattern = [s for i, s in enumerate(pattern) if i == 0 or s != pattern[i - 1]]
        if len(pattern) < 2:
            continue
        hops = draw(st.lists(st.integers(60, 900), min_size=len(pattern) - 1,
                             max_size=len(pattern) - 1))
        service = draw(st.integers(0, 2))
        pickup = [draw(st.sampled_from([0, 0, 0, 1])) for _ in pattern]
        dropoff = [draw(st.sampled_from([0, 0, 0, 1])) for _ in pattern]
        for _ in range(draw(st.integers(1, 5))):
            start = draw(st.one_of(st.integers(7 * 3600, 9 * 3600),
                                   st.integers(23 * 3600, 26 * 3600)))
            speed = draw(st.sampled_from([1.0, 1.0, 0.5, 1.5]))  # different speeds overtake
            trips.append((pattern, start, [max(30, int(h * speed)) for h in hops], service,
                          pickup, dropoff))
    if not trips:
        trips.append(([1, 2], 8 * 3600, [300], 0, [0, 0], [0, 0]))
    transfers = []
    for _ in range(draw(st.integers(0, 3))):
        a, b = draw(st.sampled_from(boardable)), draw(st.sampled_from(boardable))
        kind = draw(st.sampled_from([2, 3]))
        transfers.append(Transfer(a, b, kind, draw(st.integers(0, 600)) if kind == 2 else -1))
    feed = build_feed(stops, trips, days, transfers)
    return Network(feed, compile_feeds([("gen", feed)]))


def transit(journeys: list[Journey]) -> list[Journey]:
    """The journeys that ride something."""
    return [j for j in journeys if any(leg.trip >= 0 for leg in j.legs)]


def connections(timetable: Timetable, day: dt.date) -> list[tuple[int, int, int, int, int, int]]:
    """(departure, arrival, from stop, to stop, trip key, hop index) for every ridden hop."""
    d = timetable.day_index(day)
    result = []
    for trip in range(len(timetable.meta["trip_ids"])):
        pattern = int(timetable.trip_pattern[trip])
        if pattern < 0:
            continue
        base = int(timetable.pattern_stop_offset[pattern])
        n = int(timetable.pattern_stop_offset[pattern + 1]) - base
        offset = int(timetable.trip_time_offset[trip])
        service = int(timetable.trip_service[trip])
        for shift in (-DAY, 0, DAY):
            column = d + shift // DAY
            if not 0 <= column < timetable.service_days.shape[1]:
                continue
            if not timetable.service_days[service, column]:
                continue
            if shift == -DAY and int(timetable.arrival[offset + n - 1]) < DAY:
                continue
            if shift == DAY and int(timetable.departure[offset]) >= DAY // 2:
                continue
            for i in range(n - 1):
                result.append((int(timetable.departure[offset + i]) + shift,
                               int(timetable.arrival[offset + i + 1]) + shift,
                               int(timetable.pattern_stops[base + i]),
                               int(timetable.pattern_stops[base + i + 1]),
                               trip * 3 + shift // DAY + 1, i))
    # by time, and a trip's hops in their order: realtime estimates can make a hop take no
    # time, and a trip's next hop then leaves when this one does (sorting by stop ids after
    # the times would scan it first, before the trip is boarded)
    result.sort(key=lambda c: (c[0], c[1], c[4], c[5]))
    return result


def walks(timetable: Timetable, start: int, forbidden: frozenset[tuple[int, int]] = frozenset()
          ) -> dict[int, int]:
    """Walking from ``start``: stop -> seconds, by one footpath of any length or a chain of
    footpaths within the build's chain cap (Dijkstra); ``start`` itself at 0."""
    cap = walk_seconds(timetable.meta["options"]["max_walk_chain_m"])
    best = {start: 0}
    heap = [(0, start)]
    first = True
    while heap:
        t, u = heapq.heappop(heap)
        if t > best[u] or (t > cap and not first):
            continue
        lo, hi = int(timetable.footpath_offset[u]), int(timetable.footpath_offset[u + 1])
        for w, walk in zip(timetable.footpath_to[lo:hi].tolist(),
                           timetable.footpath_seconds[lo:hi].tolist(), strict=True):
            if (first or t + walk <= cap) and t + walk < best.get(w, INF):
                best[w] = t + walk
                heapq.heappush(heap, (t + walk, w))
        first = False
    return {w: t for w, t in best.items() if (start, w) not in forbidden}


def reference(timetable: Timetable, day: dt.date, origin: dict[int, int],
              destination: Collection[int], max_trips: int, slack: int,
              forbidden: frozenset[tuple[int, int]] = frozenset()) -> list[int]:
    """Connection scan with a trip counter: best arrival with at most k trips, per k.

    ``origin``: the stops where walking starts (a station's platforms) and when; the scan
    walks from them, after every trip and to the ``destination`` stops itself (:func:`walks`).
    """
    n = timetable.n_stops
    walking: dict[int, dict[int, int]] = {}

    def walk_from(stop: int) -> dict[int, int]:
        if stop not in walking:
            walking[stop] = walks(timetable, stop, forbidden)
        return walking[stop]

    by_foot = np.full((max_trips + 1, n), INF, dtype=np.int64)
    by_trip = np.full((max_trips + 1, n), INF, dtype=np.int64)
    for start, t in origin.items():
        for stop, walk in walk_from(start).items():
            by_foot[0, stop] = min(by_foot[0, stop], t + walk)
    egress: dict[int, int] = {}
    for stop in range(n):
        reach = walk_from(stop)
        seconds = min((reach[d] for d in destination if d in reach), default=INF)
        if seconds < INF:
            egress[stop] = seconds
    boarded: dict[int, int] = {}  # trip key -> fewest trips used when on it
    for dep, arr, u, v, key, hop in connections(timetable, day):
        pattern = int(timetable.trip_pattern[key // 3])
        base = int(timetable.pattern_stop_offset[pattern])
        can_board = bool(timetable.pattern_board[base + hop])
        can_alight = bool(timetable.pattern_alight[base + hop + 1])
        own = int(timetable.stop_slack[u])
        same = INF if own == FORBIDDEN else (slack if own < 0 else own)
        if can_board:
            for c in range(max_trips):
                ready = min(by_foot[c, u], by_trip[c, u] + same if same < INF else INF)
                if ready <= dep:
                    if key not in boarded or c + 1 < boarded[key]:
                        boarded[key] = c + 1
                    break
        if key in boarded:
            c = boarded[key]
            if can_alight and arr < by_trip[c, v]:
                for cc in range(c, max_trips + 1):
                    by_trip[cc, v] = min(by_trip[cc, v], arr)
                for w, walk in walk_from(v).items():
                    if w == v:
                        continue
                    for cc in range(c, max_trips + 1):
                        by_foot[cc, w] = min(by_foot[cc, w], arr + max(walk, slack))
    walk_only = min((by_foot[0, s] + e for s, e in egress.items()), default=INF)
    best = []
    for k in range(1, max_trips + 1):  # the egress walk follows the last trip directly
        best.append(min(walk_only, *(by_trip[k, s] + e for s, e in egress.items())))
    return best


def forbidden_walks(feed: FeedData) -> frozenset[tuple[int, int]]:
    """transfers.txt type 3 pairs between two stops (single-feed stop indexes)."""
    return frozenset((t.from_stop, t.to_stop) for t in feed.transfers
                     if t.transfer_type == 3 and t.from_stop != t.to_stop)


def members(timetable: Timetable, stop: int) -> list[int]:
    """A stop, or a station's platforms with it (where a stop endpoint's walking starts)."""
    return [stop, *(i for i, p in enumerate(timetable.stop_parent.tolist()) if p == stop)]


def check_feasible(timetable: Timetable, journey: Journey, slack: int) -> None:
    """Every leg exists in the timetable and the legs connect."""
    view = day_view(timetable, journey.day)
    previous = None
    for leg in journey.legs:
        assert leg.departure <= leg.arrival
        if previous is not None:
            assert leg.departure >= previous.arrival
            if leg.trip >= 0 and previous.trip >= 0:
                assert leg.from_stop == previous.to_stop
                own = int(timetable.stop_slack[leg.from_stop])
                assert own != FORBIDDEN
                assert leg.departure >= previous.arrival + (slack if own < 0 else own)
        if leg.trip >= 0:
            pattern = int(timetable.trip_pattern[leg.trip])
            base = int(timetable.pattern_stop_offset[pattern])
            offset = int(timetable.trip_time_offset[leg.trip])
            shifts = {int(view.shift[e]) for e in np.flatnonzero(view.trip == leg.trip)}
            assert any(int(timetable.departure[offset + leg.board_pos]) + s == leg.departure
                       and int(timetable.arrival[offset + leg.alight_pos]) + s == leg.arrival
                       for s in shifts)
            assert timetable.pattern_stops[base + leg.board_pos] == leg.from_stop
            assert timetable.pattern_stops[base + leg.alight_pos] == leg.to_stop
            assert timetable.pattern_board[base + leg.board_pos]
            assert timetable.pattern_alight[base + leg.alight_pos]
            assert leg.board_pos < leg.alight_pos
        elif leg.from_stop >= 0 and leg.to_stop >= 0 and previous is not None:
            lo, hi = timetable.footpath_offset[leg.from_stop], timetable.footpath_offset[
                leg.from_stop + 1]
            targets = dict(zip(timetable.footpath_to[lo:hi].tolist(),
                               timetable.footpath_seconds[lo:hi].tolist(), strict=True))
            assert leg.to_stop in targets
            assert leg.arrival - leg.departure >= max(targets[leg.to_stop], slack)
        previous = leg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.data())
def test_planner_matches_connection_scan(network: Network, data: st.DataObject) -> None:
    timetable = network.timetable
    types = timetable.meta["stop_location_type"]
    boardable = [i for i in range(timetable.n_stops) if types[i] == 0]
    origin = data.draw(st.sampled_from([*boardable, 0]))
    destination = data.draw(st.sampled_from([s for s in boardable if s != origin]))
    hour = data.draw(st.sampled_from([0, 1, 7, 8, 23]))
    minute = data.draw(st.integers(0, 59))
    slack = data.draw(st.sampled_from([0, 60, 120]))
    moment = dt.datetime(2026, 12, 1, hour, minute, tzinfo=TOKYO)
    query = Query(
        origin=Endpoint(0, 0, "o", origin), destination=Endpoint(0, 0, "d", destination),
        time=moment, max_transfers=4, min_transfer_seconds=slack,
    )
    journeys = [j for j in plan(timetable, query) if any(leg.trip >= 0 for leg in j.legs)]
    day, seconds = service_time(timetable, moment)
    access = {s: seconds + w for s, (w, _) in access_options(timetable, query.origin).items()}
    egress = {s: w for s, (w, _) in egress_options(timetable, query.destination).items()}
    expected = reference(timetable, day, dict.fromkeys(members(timetable, origin), seconds),
                         members(timetable, destination), 5, slack,
                         forbidden_walks(network.feed))
    for journey in journeys:
        check_feasible(timetable, journey, slack)
        assert journey.departure >= seconds
    # walking from an access stop to an egress stop needs no trip; it bounds every round
    walk_only = min((access[s] + e for s, e in egress.items() if s in access), default=INF)
    for k in range(1, 6):
        ours = min([walk_only, *(j.arrival for j in journeys if j.transfers + 1 <= k)])
        assert ours == expected[k - 1], (k, ours, expected)


def test_chained_footpaths_reach_the_platform_across_the_street(tmp_path: Path) -> None:
    """Issue 13: 尾張町 → 広小路 at 00:23 on the demo feed. The last trunk-line bus leaves
    武蔵ヶ辻 南行 at 00:35; 尾張町 is 413 m from that platform (no direct link) but 352 s from
    the 北行 platform across the street, which is 51 s from 南行."""
    write_demo(tmp_path, DAY0)
    timetable = compile_feeds([("demo", read_feed(tmp_path / "gtfs"))])
    owaricho, hirokoji = timetable.stop_index("owaricho"), timetable.stop_index("hirokoji")
    south = timetable.stop_index("musashi-s")
    lo, hi = timetable.footpath_offset[owaricho], timetable.footpath_offset[owaricho + 1]
    chained = dict(zip(timetable.footpath_to[lo:hi].tolist(),
                       timetable.footpath_seconds[lo:hi].tolist(), strict=True))
    assert chained[south] == 352 + 51
    moment = dt.datetime(2026, 12, 2, 0, 23, tzinfo=TOKYO)  # a Wednesday
    journeys = transit(plan(timetable, Query(Endpoint(0, 0, "", owaricho),
                                             Endpoint(0, 0, "", hirokoji), moment)))
    first = min(journeys, key=lambda j: j.arrival)
    assert first.arrival == 47 * 60
    assert [(leg.mode, leg.to_stop) for leg in first.legs] == [("walk", south),
                                                               ("bus", hirokoji)]
    day, seconds = service_time(timetable, moment)
    expected = reference(timetable, day, {owaricho: seconds}, [hirokoji], 3, 60)
    assert expected[0] == first.arrival


def test_loop_route_rides_through_its_terminus() -> None:
    # 1 -> 2 -> 3 -> 1 -> 2 (a loop passing its first stop again)
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.57, 136.62, -1), (36.58, 136.63, -1)]
    feed = build_feed(stops, [([1, 2, 3, 1, 2], 8 * 3600, [600] * 4, 0, [0] * 5, [0] * 5)],
                      [[True, True, True]], [])
    timetable = compile_feeds([("loop", feed)])
    moment = dt.datetime(2026, 12, 1, 7, 50, tzinfo=TOKYO)
    [journey] = transit(plan(timetable, Query(Endpoint(0, 0, "", 3), Endpoint(0, 0, "", 2),
                                              moment)))
    assert [leg.trip for leg in journey.legs] == [0]
    assert (journey.legs[0].board_pos, journey.legs[0].alight_pos) == (2, 4)


def test_previous_day_trip_after_midnight_is_found() -> None:
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.60, 136.65, -1)]
    # runs only on the day before; departs 24:30 (00:30 of DAY0)
    feed = build_feed(stops, [([1, 2], 24 * 3600 + 1800, [900], 0, [0, 0], [0, 0])],
                      [[True, False, False]], [])
    timetable = compile_feeds([("night", feed)])
    moment = dt.datetime(2026, 12, 1, 0, 10, tzinfo=TOKYO)
    [journey] = transit(plan(timetable, Query(Endpoint(0, 0, "", 1), Endpoint(0, 0, "", 2),
                                              moment)))
    assert journey.day == DAY0
    assert (journey.departure, journey.arrival) == (1800, 2700)


def test_range_query_returns_each_departure_in_window() -> None:
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.60, 136.65, -1)]
    trips = [([1, 2], 8 * 3600 + m * 60, [900], 0, [0, 0], [0, 0]) for m in (0, 10, 20, 40)]
    timetable = compile_feeds([("r", build_feed(stops, trips, [[True, True, True]], []))])
    moment = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TOKYO)
    query = Query(Endpoint(0, 0, "", 1), Endpoint(0, 0, "", 2), moment, window_minutes=30)
    assert [j.departure // 60 - 480 for j in transit(plan(timetable, query))] == [0, 10, 20]
    arrive = Query(Endpoint(0, 0, "", 1), Endpoint(0, 0, "", 2),
                   dt.datetime(2026, 12, 1, 8, 30, tzinfo=TOKYO), arrive_by=True)
    [latest] = transit(plan(timetable, arrive))
    assert latest.departure == 8 * 3600 + 10 * 60


@pytest.mark.parametrize("forbidden", [False, True])
def test_forbidden_same_stop_transfer(forbidden: bool) -> None:
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.60, 136.65, -1),
             (36.64, 136.69, -1)]
    trips = [([1, 2], 8 * 3600, [600], 0, [0, 0], [0, 0]),
             ([2, 3], 8 * 3600 + 1200, [600], 0, [0, 0], [0, 0])]
    transfers = [Transfer(2, 2, 3)] if forbidden else [Transfer(2, 2, 2, 300)]
    timetable = compile_feeds([("f", build_feed(stops, trips, [[True, True, True]],
                                                transfers))])
    query = Query(Endpoint(0, 0, "", 1), Endpoint(0, 0, "", 3),
                  dt.datetime(2026, 12, 1, 7, 55, tzinfo=TOKYO))
    assert (transit(plan(timetable, query)) == []) is forbidden


def test_an_overlay_swaps_the_day_views_times() -> None:
    """What a realtime overlay does (docs/planner.md, Kernel inputs): new dep/arr in the view's
    layout, FIFO and pace recomputed; the kernel then rides the delayed times."""
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.57, 136.62, -1), (36.58, 136.63, -1)]
    trips = [([1, 2, 3], 8 * 3600 + m * 60, [600, 600], 0, [0] * 3, [0] * 3) for m in (0, 10)]
    timetable = compile_feeds([("rt", build_feed(stops, trips, [[True, True, True]], []))])
    view = day_view(timetable, DAY0)
    access, egress = np.asarray([1], dtype=np.int32), np.asarray([3], dtype=np.int32)
    zero = np.zeros(1, dtype=np.int32)

    def arrival(v: raptor.DayView) -> int:
        labels = raptor.run(timetable, v, access, zero + 7 * 3600 + 55 * 60, egress, zero, 2, 60)
        return int(labels.transit_tau[:, 3].min())

    assert arrival(view) == 8 * 3600 + 20 * 60 + 30  # the 08:00 trip (30 s dwell at stop 2)
    dep, arr = view.dep.copy(), view.arr.copy()
    pattern = int(timetable.trip_pattern[0])
    entry = int(view.offset[pattern])  # the pattern's first entry: today's 08:00 trip
    assert (int(view.trip[entry]), int(view.shift[entry])) == (0, 0)
    first = int(view.time_offset[pattern])  # its three positions come first (trip-major)
    dep[first:first + 3] += 15 * 60  # 15 minutes late: it now runs after the 08:10 trip
    arr[first:first + 3] += 15 * 60
    fifo = raptor.fifo_of(view, dep, arr)
    assert view.fifo[pattern]
    assert not fifo[pattern]
    late = dataclasses.replace(view, dep=dep, arr=arr, fifo=fifo,
                               pace=raptor.pace_of(timetable, view, dep, arr))
    assert late.pace == pytest.approx(view.pace)
    assert arrival(late) == 8 * 3600 + 30 * 60 + 30  # the 08:10 trip
    dep[first + 1] -= 570  # a catch-up: stop 1 → 2 in 30 s, faster than anything timetabled
    arr[first + 1] -= 570
    assert raptor.pace_of(timetable, view, dep, arr) < view.pace
