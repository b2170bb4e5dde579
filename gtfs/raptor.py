"""Round-based public transit routing (RAPTOR; Delling, Pajor, Werneck 2012), compiled by numba.

Names follow the paper: round ``k`` finds journeys with ``k`` trips; ``transit_tau[k, p]`` is
the earliest arrival at stop ``p`` by the ``k``-th trip; the ``*_star`` arrays are the best
over all rounds (local pruning); marked stops drive which route patterns are scanned next
round.

Semantics, which the reference in the tests shares: the origin reaches its access stops at the
given times; between two trips a rider either stays at the stop (the same-stop slack) or takes
one footpath (its walking time, at least the slack); the egress walk starts where the last trip
is left (a stop destination's egress already includes its footpath neighbours), so a journey
never ends with two walks.

A *day view* lists, per pattern, the trips that run on the query's service day together with
the previous day's trips still running after midnight (times shifted by −24 h) and the next
day's morning trips (+24 h), sorted by departure. Patterns are FIFO by construction; where the
merge of days breaks FIFO, the pattern is flagged and scanned trip by trip.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import weakref
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from gtfs.timetable import FORBIDDEN, Timetable
from maas.core.geo import EARTH_RADIUS_M

INF = np.int32(2**31 - 1)
DAY = 86400
KIND_NONE, KIND_ACCESS, KIND_TRANSIT, KIND_FOOT = 0, 1, 2, 3
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]
U16 = npt.NDArray[np.uint16]


@dataclasses.dataclass(frozen=True)
class DayView:
    """The trips that can be ridden on one service day, per pattern."""

    day: dt.date
    offset: I32  # per pattern, into ``trip`` / ``shift``
    trip: I32
    shift: I32
    fifo: npt.NDArray[np.bool_]
    # shifted times laid out per pattern, trip-major: one [m entries × n positions] block per
    # pattern from time_offset[r], entry e at position i at time_offset[r] + e * n + i, so a
    # route scan follows one trip through contiguous memory
    time_offset: I32
    dep: I32
    arr: I32
    # seconds per metre of the fastest hop in dep/arr (or of walking, if faster): the kernel's
    # lower bound on the time still needed is the crow-fly distance times this; 0: no bound
    pace: float = 0.0
    # realtime: per entry, whether its times are estimates (None: no realtime overlay); a
    # skipped stop or a canceled trip has the time INF there (never boarded nor left)
    realtime: B | None = None
    # FIFO lanes of FIFO patterns: pattern r's lanes are lane_offset[r] .. [r+1]; a lane ends
    # at entry lane_end[l] (within the pattern; it starts where the previous one ended). None:
    # one lane per pattern. A realtime overlay splits a pattern whose trips now overtake.
    lane_offset: I32 | None = None
    lane_end: I32 | None = None


def day_view(timetable: Timetable, day: dt.date) -> DayView:
    """Build (or fetch from the per-timetable cache) the day view of ``day``.

    With a realtime overlay attached (``meta["_realtime"]``, see gtfs.realtime), the view
    carries its estimated times; it is rebuilt when the overlay's version changes.
    """
    cache: dict[Any, DayView] = timetable.meta.setdefault("_day_views", {})
    if day not in cache:
        if len(cache) >= 8:
            cache.pop(next(iter(cache)))
        cache[day] = _build_day_view(timetable, day)
    realtime = timetable.meta.get("_realtime")
    if realtime is None:
        return cache[day]
    key = (day, realtime.version)
    if key not in cache:
        for old in [k for k in cache if isinstance(k, tuple) and k[0] == day]:
            cache.pop(old)
        cache[key] = realtime.apply(timetable, cache[day])
    return cache[key]


def lanes_of(view: DayView) -> tuple[I32, I32]:
    """The view's lanes (see :class:`DayView`): one per pattern unless the view has its own."""
    if view.lane_offset is not None and view.lane_end is not None:
        return view.lane_offset, view.lane_end
    n = view.offset.shape[0] - 1
    return np.arange(n + 1, dtype=np.int32), np.diff(view.offset).astype(np.int32)


def _lanes(timetable: Timetable, view: DayView) -> tuple[I32, I32]:
    """:func:`lanes_of`, remembered per view (a plan request runs the kernel several times
    on one view; building one lane per pattern costs two allocations)."""
    if view.lane_offset is not None and view.lane_end is not None:
        return view.lane_offset, view.lane_end
    lanes: tuple[I32, I32] = _per_view(timetable, "_lanes", view, lanes_of)
    return lanes


def _per_view(timetable: Timetable, name: str, view: DayView,
              make: Callable[[DayView], Any]) -> Any:
    """``make(view)``, remembered in ``timetable.meta[name]`` for the last 16 views; weak
    references, so the cache never keeps a view (and its times) alive."""
    cache: dict[int, tuple[weakref.ref[DayView], Any]] = timetable.meta.setdefault(name, {})
    entry = cache.get(id(view))
    if entry is None or entry[0]() is not view:
        if len(cache) >= 16:
            cache.clear()
        entry = (weakref.ref(view), make(view))
        cache[id(view)] = entry
    return entry[1]


def entry_times(timetable: Timetable, view: DayView, entry: int, position: int
                ) -> tuple[int, int]:
    """(arrival, departure) of day-view ``entry`` at ``position`` of its pattern, as the
    view has them (shifted to the view's day; estimates under a realtime overlay)."""
    r = int(timetable.trip_pattern[view.trip[entry]])
    n = int(timetable.pattern_stop_offset[r + 1] - timetable.pattern_stop_offset[r])
    cell = int(view.time_offset[r]) + (entry - int(view.offset[r])) * n + position
    return int(view.arr[cell]), int(view.dep[cell])


def _service_on(timetable: Timetable, index: int) -> npt.NDArray[np.bool_]:
    days = timetable.service_days
    if 0 <= index < days.shape[1]:
        result: npt.NDArray[np.bool_] = days[timetable.trip_service, index]
        return result
    return np.zeros(timetable.trip_service.shape[0], dtype=np.bool_)


def _build_day_view(timetable: Timetable, day: dt.date) -> DayView:
    d = timetable.day_index(day)
    trips = timetable.trip_pattern >= 0
    first = timetable.departure[timetable.trip_time_offset]
    n_stops = np.diff(timetable.pattern_stop_offset)[np.maximum(timetable.trip_pattern, 0)]
    last = timetable.arrival[timetable.trip_time_offset + n_stops - 1]
    previous = trips & _service_on(timetable, d - 1) & (last >= DAY)
    today = trips & _service_on(timetable, d)
    following = trips & _service_on(timetable, d + 1) & (first < DAY // 2)
    trip = np.concatenate([np.flatnonzero(previous), np.flatnonzero(today),
                           np.flatnonzero(following)]).astype(np.int32)
    shift = np.concatenate([np.full(int(previous.sum()), -DAY), np.zeros(int(today.sum())),
                            np.full(int(following.sum()), DAY)]).astype(np.int32)
    return view_of(timetable, day, trip, shift)


def view_of(timetable: Timetable, day: dt.date, trip: I32, shift: I32) -> DayView:
    """The day view of ``day`` holding these timetable trips with these shifts (−86400, 0,
    +86400 seconds: the previous, this or the next service day), scheduled times."""
    first = timetable.departure[timetable.trip_time_offset]
    pattern = timetable.trip_pattern[trip]
    order = np.lexsort((first[trip] + shift, pattern))
    trip, shift, pattern = trip[order], shift[order], pattern[order]
    offset = np.searchsorted(pattern, np.arange(timetable.n_patterns + 1)).astype(np.int32)
    sizes = np.diff(offset).astype(np.int64) * np.diff(timetable.pattern_stop_offset)
    time_offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    dep = np.empty(int(time_offset[-1]), dtype=np.int32)
    arr = np.empty(int(time_offset[-1]), dtype=np.int32)
    _lay_out(offset, trip, shift, timetable.pattern_stop_offset, timetable.trip_time_offset,
             timetable.arrival, timetable.departure, time_offset, dep, arr)
    view = DayView(day=day, offset=offset, trip=trip, shift=shift,
                   fifo=_fifo(offset, time_offset, dep, arr), time_offset=time_offset, dep=dep,
                   arr=arr)
    return dataclasses.replace(view, pace=pace_of(timetable, view, dep, arr))


def pace_of(timetable: Timetable, view: DayView, dep: I32, arr: I32) -> float:
    """The fewest seconds per crow-fly metre any hop of ``dep``/``arr`` (laid out as
    ``view``'s) or any footpath takes; 0.0 when some hop takes no time (no bound then).

    An overlay that swaps a view's times recomputes it: ``dataclasses.replace(view, dep=dep,
    arr=arr, fifo=fifo_of(view, dep, arr), pace=pace_of(timetable, view, dep, arr))``.
    """
    x, y = _plane(timetable)
    return float(_pace(timetable.pattern_stop_offset, timetable.pattern_stops, view.offset,
                       view.time_offset, dep, arr, timetable.footpath_offset,
                       timetable.footpath_to, timetable.footpath_seconds, x, y))


def _plane(timetable: Timetable) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Stop positions in metres on a plane (equirectangular at the network's mean latitude),
    cached; distances on it are within 1 % of great-circle ones at city scale."""
    cached: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = (
        timetable.meta.get("_plane"))
    if cached is None:
        lat = np.radians(timetable.stop_lat)
        lon = np.radians(timetable.stop_lon)
        middle = float(np.mean(lat)) if lat.shape[0] else 0.0
        cached = (EARTH_RADIUS_M * lon * math.cos(middle), EARTH_RADIUS_M * lat)
        timetable.meta["_plane"] = cached
    return cached


@numba.njit(cache=True)
def _pace(pattern_stop_offset: I32, pattern_stops: I32, offset: I32, time_offset: I32,
          dep: I32, arr: I32, footpath_offset: I32, footpath_to: I32, footpath_seconds: I32,
          x: npt.NDArray[np.float64],
          y: npt.NDArray[np.float64]) -> float:  # pragma: no cover - compiled
    fastest = 0.0  # metres per second
    for r in range(offset.shape[0] - 1):
        base = pattern_stop_offset[r]
        n = pattern_stop_offset[r + 1] - base
        for e in range(offset[r + 1] - offset[r]):
            row = time_offset[r] + e * n
            for i in range(n - 1):
                if dep[row + i] >= INF:  # not left here (realtime: skipped or canceled)
                    continue
                j = i + 1  # the next stop where the trip can be left (passing skipped ones)
                while j < n and arr[row + j] >= INF:
                    j += 1
                if j == n:
                    continue
                a, b = pattern_stops[base + i], pattern_stops[base + j]
                metres = math.sqrt((x[a] - x[b]) ** 2 + (y[a] - y[b]) ** 2)
                seconds = arr[row + j] - dep[row + i]
                if seconds <= 0:
                    if metres > 0:
                        return 0.0
                    continue
                fastest = max(fastest, metres / seconds)
    for p in range(footpath_offset.shape[0] - 1):
        for f in range(footpath_offset[p], footpath_offset[p + 1]):
            w = footpath_to[f]
            metres = math.sqrt((x[p] - x[w]) ** 2 + (y[p] - y[w]) ** 2)
            if footpath_seconds[f] <= 0:
                if metres > 0:
                    return 0.0
                continue
            fastest = max(fastest, metres / footpath_seconds[f])
    return 0.0 if fastest == 0.0 else 1.0 / fastest


def fifo_of(view: DayView, dep: I32, arr: I32) -> B:
    """Which patterns stay FIFO with the times ``dep``/``arr`` laid out as ``view``'s.

    For an overlay (realtime) that swaps a view's times: a pattern whose trips overtake must be
    scanned trip by trip, ``dataclasses.replace(view, dep=dep, arr=arr, fifo=fifo_of(...))``.
    """
    return _fifo(view.offset, view.time_offset, dep, arr)


@numba.njit(cache=True)
def _lay_out(offset: I32, trip: I32, shift: I32, pattern_stop_offset: I32,
             trip_time_offset: I32, arrival: I32, departure: I32, time_offset: I32, dep: I32,
             arr: I32) -> None:  # pragma: no cover - compiled
    """Fill the trip-major time arrays."""
    n_patterns = offset.shape[0] - 1
    for r in range(n_patterns):
        n = pattern_stop_offset[r + 1] - pattern_stop_offset[r]
        lo = offset[r]
        base = time_offset[r]
        for e in range(lo, offset[r + 1]):
            source = trip_time_offset[trip[e]]
            for i in range(n):
                dep[base + (e - lo) * n + i] = departure[source + i] + shift[e]
                arr[base + (e - lo) * n + i] = arrival[source + i] + shift[e]


@numba.njit(cache=True)
def _fifo(offset: I32, time_offset: I32, dep: I32, arr: I32) -> B:  # pragma: no cover
    """Per pattern: do the entries, in order, never overtake (departure and arrival)?"""
    n_patterns = offset.shape[0] - 1
    fifo = np.ones(n_patterns, dtype=np.bool_)
    for r in range(n_patterns):
        m = offset[r + 1] - offset[r]
        if m == 0:
            continue
        n = (time_offset[r + 1] - time_offset[r]) // m
        for j in range(1, m):
            row = time_offset[r] + j * n
            for i in range(n):
                if dep[row + i] < dep[row - n + i] or arr[row + i] < arr[row - n + i]:
                    fifo[r] = False
    return fifo


@dataclasses.dataclass
class Labels:
    """RAPTOR labels per round ``k`` and stop ``p``, enough to rebuild every journey.

    ``ready`` (earliest time to board a trip at ``p`` after ``k`` trips: a trip's arrival plus
    the stop's transfer slack, or a footpath's or the access walk's arrival) is written in the
    round that improves it and not carried over (INF elsewhere; the best over rounds is the
    minimum over ``k``); ``ready_kind`` and ``ready_round`` point at the record that set it.
    Per round, the trip record (``transit_tau`` ...) holds the earliest arrival by a trip,
    which is where footpaths and the egress start, and the footpath record (``foot_tau``,
    ``walk_from``) the earliest arrival on foot after a trip.
    """

    ready: I32
    ready_kind: I8
    ready_round: I32
    transit_tau: I32  # trip record: arrival by a trip in round k (INF: none)
    trip: I32  # day-view entry
    board_stop: I32
    board_pos: I32
    alight_pos: I32
    foot_tau: I32  # footpath record: arrival on foot after a trip of round k
    walk_from: I32


def new_labels(rounds: int, n_stops: int) -> Labels:
    """Empty labels for ``rounds`` rounds (three allocations, then views).

    Only the times (INF) and the kinds (``KIND_NONE``) are initialised: the other fields of a
    record are written with its time and read only where its time or kind says it was set,
    so a query touches a third of the memory it would otherwise clear.
    """
    shape = (rounds + 1, n_stops)
    return _laid_out(np.full((3, *shape), INF, dtype=np.int32),
                     np.empty((6, *shape), dtype=np.int32), np.zeros(shape, dtype=np.int8))


def _blank_labels(rounds: int, n_stops: int) -> Labels:
    """Labels as :func:`new_labels` lays them out, nothing initialised: a run given them as
    fresh clears each round's times and kinds when the round starts (and, at its end, those
    of the rounds it did not need), inside the compiled kernel."""
    shape = (rounds + 1, n_stops)
    return _laid_out(np.empty((3, *shape), dtype=np.int32),
                     np.empty((6, *shape), dtype=np.int32), np.empty(shape, dtype=np.int8))


def _laid_out(times: I32, rest: I32, kinds: I8) -> Labels:
    """The records of :class:`Labels` as views of three blocks: the three times, the six
    other int32 fields, the kinds."""
    return Labels(
        ready=times[0], ready_kind=kinds, ready_round=rest[0], transit_tau=times[1],
        trip=rest[1], board_stop=rest[2], board_pos=rest[3], alight_pos=rest[4],
        foot_tau=times[2], walk_from=rest[5],
    )


def copy_labels(labels: Labels) -> Labels:
    """An independent copy (to reuse one run's labels as the start of two others)."""
    return Labels(**{field.name: getattr(labels, field.name).copy()
                     for field in dataclasses.fields(labels)})


def run(timetable: Timetable, view: DayView, access_stops: I32, access_times: I32,
        egress_stops: I32, egress_seconds: I32, max_transfers: int, slack: int,
        labels: Labels | None = None, allowed: B | None = None) -> Labels:
    """One RAPTOR query; ``access_times`` are absolute seconds of the service day.

    Passing the ``labels`` of a run with a later departure keeps them as upper bounds
    (rRAPTOR's reuse across a range query).
    """
    rounds = max_transfers + 1
    fresh = labels is None
    if labels is None:
        labels = _blank_labels(rounds, timetable.n_stops)
    if allowed is None:
        allowed = timetable.meta.get("_all_patterns")
        if allowed is None:
            allowed = np.ones(timetable.n_patterns, dtype=np.bool_)
            timetable.meta["_all_patterns"] = allowed
    _raptor(
        timetable.pattern_stop_offset, timetable.pattern_stops, timetable.pattern_board,
        timetable.pattern_alight, timetable.stop_pattern_offset, timetable.stop_pattern_ids,
        timetable.stop_pattern_pos, view.offset, view.fifo, view.time_offset, view.dep,
        view.arr, *_lanes(timetable, view), allowed,
        timetable.footpath_offset, timetable.footpath_to, timetable.footpath_seconds,
        timetable.stop_slack, access_stops, access_times, egress_stops, egress_seconds,
        *_plane(timetable), view.pace, timetable.least_to, _timetabled(timetable, view),
        rounds, slack, fresh, labels.ready,
        labels.ready_kind, labels.ready_round, labels.transit_tau, labels.trip,
        labels.board_stop, labels.board_pos, labels.alight_pos, labels.foot_tau,
        labels.walk_from,
    )
    return labels


def _timetabled(timetable: Timetable, view: DayView) -> bool:
    """Whether the timetable's least travel times (``least_to``) bound ``view``: it has the
    times :func:`day_view` built, or other times (a realtime overlay's estimates) none of
    whose hops is quicker than the timetable's least (a trip catching up may be; then the
    kernel falls back to the crow-fly bound). Checked once per view (a view's arrays are
    never changed once made: an overlay copies them)."""
    if timetable.least_to.shape[0] != timetable.n_stops:
        return False
    built = timetable.meta.get("_day_views", {}).get(view.day)
    if built is not None and built.dep is view.dep and built.arr is view.arr:
        return True
    no_quicker: bool = _per_view(timetable, "_no_quicker", view, lambda v: bool(_no_quicker(
        timetable.pattern_stop_offset, timetable.pattern_least, v.offset, v.time_offset,
        v.dep, v.arr)))
    return no_quicker


@numba.njit(cache=True)
def _no_quicker(pattern_stop_offset: I32, pattern_least: I32, offset: I32, time_offset: I32,
                dep: I32, arr: I32) -> bool:  # pragma: no cover - compiled
    """Whether every ride of the view's entries takes at least the sum of ``pattern_least``
    over its hops: from each position a trip leaves (departure) or reaches (arrival) to the
    next one it reaches, passing skipped stops (INF); a canceled trip has no ride."""
    for r in range(offset.shape[0] - 1):
        base = pattern_stop_offset[r]
        n = pattern_stop_offset[r + 1] - base
        for e in range(offset[r + 1] - offset[r]):
            row = time_offset[r] + e * n
            last_dep = -1  # the latest position left before, and the least time since then
            last_arr = -1
            least_dep = 0
            least_arr = 0
            for i in range(n):
                if arr[row + i] < INF:
                    if last_dep >= 0 and arr[row + i] - dep[row + last_dep] < least_dep:
                        return False
                    if last_arr >= 0 and arr[row + i] - arr[row + last_arr] < least_arr:
                        return False
                    last_arr = i
                    least_arr = 0
                if dep[row + i] < INF:
                    last_dep = i
                    least_dep = 0
                least_dep += pattern_least[base + i]
                least_arr += pattern_least[base + i]
    return True


@numba.njit(cache=True)
def _raptor(
    pattern_stop_offset: I32, pattern_stops: I32, pattern_board: B, pattern_alight: B,
    stop_pattern_offset: I32, stop_pattern_ids: I32, stop_pattern_pos: I32,
    dv_offset: I32, dv_fifo: B, dv_time_offset: I32, dv_dep: I32, dv_arr: I32,
    dv_lane_offset: I32, dv_lane_end: I32, allowed: B,
    footpath_offset: I32, footpath_to: I32, footpath_seconds: I32, stop_slack: I32,
    access_stops: I32, access_times: I32, egress_stops: I32, egress_seconds: I32,
    stop_x: npt.NDArray[np.float64], stop_y: npt.NDArray[np.float64], pace: float,
    least_to: U16, use_least: bool, rounds: int, slack: int, fresh: bool, ready: I32,
    ready_kind: I8, ready_round: I32, transit_tau: I32, trip_of: I32, board_stop: I32,
    board_pos: I32, alight_pos: I32, foot_tau: I32, walk_from: I32,
) -> None:  # pragma: no cover - compiled
    n_stops = ready.shape[1]
    n_patterns = pattern_stop_offset.shape[0] - 1
    if fresh:  # blank labels: rows are cleared round by round
        _clear_row(0, ready, transit_tau, foot_tau, ready_kind)
    ready_star = np.full(n_stops, INF, dtype=np.int32)
    transit_star = np.full(n_stops, INF, dtype=np.int32)
    for k in range(0 if fresh else rounds + 1):  # labels given: their best bound this run
        for p in range(n_stops):
            ready_star[p] = min(ready_star[p], ready[k, p])
            transit_star[p] = min(transit_star[p], transit_tau[k, p])
    is_egress = np.full(n_stops, -1, dtype=np.int32)
    for e in range(egress_stops.shape[0]):
        p = egress_stops[e]
        if is_egress[p] < 0 or egress_seconds[e] < is_egress[p]:
            is_egress[p] = egress_seconds[e]
    target: int = 2**31 - 1  # best arrival at the destination: a trip, then the egress
    for p in range(n_stops):
        if is_egress[p] >= 0 and transit_star[p] < INF:
            target = min(target, transit_star[p] + is_egress[p])
    # a lower bound on the seconds from each stop to the destination: the crow-fly distance to
    # the egress stops (a disc around their centroid) at the fastest pace; a label at or
    # after ``target`` minus it cannot lead to an earlier arrival
    bound = np.zeros(n_stops, dtype=np.int32)
    # with the least travel times between stops (gtfs.bounds) the bound is consistent: it never
    # drops by more than a hop's least time along a pattern, so a trip whose arrival plus the
    # bound reaches the target at one stop does so at every later stop
    consistent = use_least and egress_stops.shape[0] > 0
    if consistent:
        _least_bound(least_to, egress_stops, egress_seconds, is_egress, bound)
    elif pace > 0 and egress_stops.shape[0] > 0:
        cx = 0.0  # the disc's centre: the egress stops' centroid
        cy = 0.0
        for e in range(egress_stops.shape[0]):
            cx += stop_x[egress_stops[e]]
            cy += stop_y[egress_stops[e]]
        cx /= egress_stops.shape[0]
        cy /= egress_stops.shape[0]
        radius = 0.0
        for e in range(egress_stops.shape[0]):
            q = egress_stops[e]
            radius = max(radius, math.sqrt((stop_x[q] - cx) ** 2 + (stop_y[q] - cy) ** 2))
        for p in range(n_stops):
            d = math.sqrt((stop_x[p] - cx) ** 2 + (stop_y[p] - cy) ** 2) - radius
            if d > 0:
                bound[p] = max(0, int(d * pace) - 1)
    transfer = np.empty(n_stops, dtype=np.int32)  # same-stop slack after a trip; -1 forbidden
    for p in range(n_stops):
        own = stop_slack[p]
        transfer[p] = -1 if own == FORBIDDEN else (slack if own < 0 else own)

    # marked (for the next round's scan) and improved (by a trip this round) stops: flags, and
    # the same stops listed, so a round costs what it touches rather than the network's size
    marked = np.zeros(n_stops, dtype=np.bool_)
    improved = np.zeros(n_stops, dtype=np.bool_)
    marked_list = np.empty(n_stops, dtype=np.int32)
    improved_list = np.empty(n_stops, dtype=np.int32)
    counts = np.zeros(2, dtype=np.int64)  # how many are listed: 0 marked, 1 improved
    for a in range(access_stops.shape[0]):
        p = access_stops[a]
        t = access_times[a]
        if t < ready[0, p]:
            ready[0, p] = t
            ready_kind[0, p] = KIND_ACCESS
            ready_round[0, p] = 0
            ready_star[p] = min(ready_star[p], t)
            _flag(p, marked, marked_list, counts, 0)

    queue_pos = np.full(n_patterns, -1, dtype=np.int32)
    queue_last = np.empty(n_patterns, dtype=np.int32)  # the last marked position
    queued = np.empty(n_patterns, dtype=np.int32)
    # the stops marked for this round's scan; a trip is boarded only there: at a stop whose
    # label did not change in the previous round, every trip it can catch was tried when it
    # did change, and what that trip reaches is already in transit_star
    boarding = np.zeros(n_stops, dtype=np.bool_)
    boarding_list = np.empty(n_stops, dtype=np.int32)
    cleared = 0  # the last row cleared (fresh labels)
    for k in range(1, rounds + 1):
        if fresh:
            _clear_row(k, ready, transit_tau, foot_tau, ready_kind)
            cleared = k
        # no carry-over of ready labels from round k - 1 to k: ready[k - 1, p] is read only at
        # stops marked for round k, which round k - 1 (or the access) wrote
        n_queued = 0
        n_boarding = counts[0]
        counts[0] = 0
        n_listed = n_boarding
        n_boarding = 0
        for q in range(n_listed):
            p = marked_list[q]
            marked[p] = False
            if ready[k - 1, p] + bound[p] >= target:
                continue  # the target fell since p was marked: no boarding there can beat it
            boarding_list[n_boarding] = p
            n_boarding += 1
            boarding[p] = True
            for j in range(np.uintp(stop_pattern_offset[p]), np.uintp(stop_pattern_offset[p + 1])):
                r = np.uintp(stop_pattern_ids[j])  # unsigned: no wraparound code
                i = stop_pattern_pos[j]
                if not allowed[r]:
                    continue
                if queue_pos[r] < 0:
                    queued[n_queued] = r
                    n_queued += 1
                    queue_pos[r] = i
                    queue_last[r] = i
                elif i < queue_pos[r]:
                    queue_pos[r] = i
                elif i > queue_last[r]:
                    queue_last[r] = i
        for q in range(n_queued):
            r = queued[q]
            start = queue_pos[r]
            last = queue_last[r]
            queue_pos[r] = -1
            base = pattern_stop_offset[r]
            n = pattern_stop_offset[r + 1] - base
            lo = dv_offset[r]
            hi = dv_offset[r + 1]
            m_ = hi - lo
            if m_ == 0:
                continue
            times = dv_time_offset[r]
            if dv_fifo[r]:
                # FIFO lanes: sub-ranges of the entries in which no trip overtakes another
                # (one lane, unless a realtime overlay split the pattern)
                lane_lo = 0
                for lane in range(dv_lane_offset[r], dv_lane_offset[r + 1]):
                    lane_hi = dv_lane_end[lane]
                    current = -1  # entry index within the pattern's day view, 0 .. m_-1
                    board_at = -1
                    for i in range(start, n):
                        # unsigned indexes: numba leaves out its negative-index wraparound
                        at_i = np.uintp(base + i)
                        p = np.uintp(pattern_stops[at_i])  # type: ignore[assignment]
                        row = times + i
                        # past the last marked stop no other trip is boarded: done once the trip
                        # (if any) arrives at or after the target, as it will at every later stop
                        if i > last and (current < 0 or (
                                dv_arr[np.uintp(row + current * n)] < INF  # INF: skipped, goes on
                                and target <= dv_arr[np.uintp(row + current * n)]
                                + (bound[p] if consistent else 0))):
                            break
                        if current >= 0 and pattern_alight[at_i]:
                            # the body of _arrive, written out: this is the hottest line of the
                            # planner, and a 27-argument call costs more than the work
                            t = dv_arr[np.uintp(row + current * n)]
                            if t < transit_star[p] and t + bound[p] < target:
                                transit_tau[k, p] = t
                                transit_star[p] = t
                                trip_of[k, p] = lo + current
                                board_stop[k, p] = pattern_stops[base + board_at]
                                board_pos[k, p] = board_at
                                alight_pos[k, p] = i
                                _flag(p, improved, improved_list, counts, 1)
                                if is_egress[p] >= 0 and t + is_egress[p] < target:
                                    target = t + is_egress[p]
                                slack_p = transfer[p]
                                if slack_p >= 0 and t + slack_p < ready_star[p]:
                                    ready[k, p] = t + slack_p
                                    ready_kind[k, p] = KIND_TRANSIT
                                    ready_round[k, p] = k
                                    ready_star[p] = t + slack_p
                                    if t + slack_p + bound[p] < target:  # else no use boarding
                                        _flag(p, marked, marked_list, counts, 0)
                            elif t >= INF:  # realtime: the trip skips this stop; a later one?
                                e, b = _alight_later(
                                    dv_dep, dv_arr, times, n, i, current, lane_hi, board_at,
                                    start, base, pattern_stops, pattern_board, boarding,
                                    ready[k - 1])
                                if e >= 0 and dv_arr[row + e * n] + bound[p] < target:
                                    target = _arrive(
                                        k, p, dv_arr[row + e * n], lo + e,
                                        pattern_stops[base + b], b, i, target, transfer,
                                        is_egress, ready, ready_kind, ready_round, transit_tau,
                                        trip_of, board_stop, board_pos, alight_pos, ready_star,
                                        transit_star, marked, improved, marked_list,
                                        improved_list, counts)
                        if i == n - 1 or not boarding[p] or not pattern_board[at_i]:
                            continue
                        at = ready[k - 1, p]
                        if at + bound[p] >= target:
                            continue
                        upper = lane_hi
                        if current >= 0:
                            # an earlier trip is caught only if the one just before leaves in time
                            # (mostly it does not: one read, no search)
                            if current == lane_lo or dv_dep[row + (current - 1) * n] < at:
                                continue
                            upper = current
                            if dv_dep[row + (current - 1) * n] < INF:
                                upper = current - 1  # caught; an earlier one may be too
                                current = upper
                                board_at = i
                            # else INF: that one skips this stop (realtime); an earlier one?
                        a_ = lane_lo
                        b_ = upper
                        while a_ < b_:  # the earliest trip leaving position i at ``at`` or later
                            mid = (a_ + b_) // 2
                            if dv_dep[np.uintp(row + mid * n)] < at:
                                a_ = mid + 1
                            else:
                                b_ = mid
                        # INF (realtime: a skipped stop) is never boarded; the other times of a
                        # lane are in order, so the search stops at or before the earliest trip
                        # that can be boarded here, and steps over skipped cells (and the few
                        # earlier trips the search could not tell apart from them)
                        while a_ < upper and not at <= dv_dep[row + a_ * n] < INF:
                            a_ += 1
                        if a_ < upper:
                            current = a_
                            board_at = i
                    lane_lo = lane_hi
            else:
                for e in range(m_):
                    board_at = -1
                    for i in range(start, n):
                        if i > last and board_at < 0:
                            break
                        p = pattern_stops[base + i]
                        row = times + i
                        if (board_at >= 0 and pattern_alight[base + i]
                                and dv_arr[row + e * n] + bound[p] < target):
                            target = _arrive(
                                k, p, dv_arr[row + e * n], lo + e,
                                pattern_stops[base + board_at], board_at, i, target, transfer,
                                is_egress, ready, ready_kind, ready_round, transit_tau,
                                trip_of, board_stop, board_pos, alight_pos, ready_star,
                                transit_star, marked, improved, marked_list, improved_list,
                                counts)
                        if (board_at < 0 and i < n - 1 and boarding[p]
                                and pattern_board[base + i]
                                and ready[k - 1, p] + bound[p] < target
                                and ready[k - 1, p] <= dv_dep[row + e * n] < INF):
                            board_at = i
        for q in range(n_boarding):
            boarding[boarding_list[q]] = False
        # one footpath after a trip of this round
        _walk(k, target, slack, consistent, improved_list, counts[1], improved, footpath_offset,
              footpath_to, footpath_seconds, bound, transit_tau, ready_star, ready, ready_kind,
              ready_round, foot_tau, walk_from, marked, marked_list, counts)
        counts[1] = 0
        if counts[0] == 0:
            break
    if fresh:
        for k in range(cleared + 1, rounds + 1):  # rounds not needed: no journeys there
            _clear_row(k, ready, transit_tau, foot_tau, ready_kind)


@numba.njit(cache=True)
def _clear_row(k: int, ready: I32, transit_tau: I32, foot_tau: I32,
               ready_kind: I8) -> None:  # pragma: no cover - compiled
    """Round ``k``'s times (INF) and kinds (none): what a fresh label holds."""
    ready[k, :] = INF
    transit_tau[k, :] = INF
    foot_tau[k, :] = INF
    ready_kind[k, :] = KIND_NONE


@numba.njit(cache=True)
def _walk(k: int, target: int, slack: int, consistent: bool, improved_list: I32,
          n_improved: int, improved: B, footpath_offset: I32, footpath_to: I32,
          footpath_seconds: I32, bound: I32, transit_tau: I32, ready_star: I32, ready: I32,
          ready_kind: I8, ready_round: I32, foot_tau: I32, walk_from: I32, marked: B,
          marked_list: I32, counts: npt.NDArray[np.int64]) -> None:  # pragma: no cover
    """Round ``k``'s footpaths: one from each stop a trip of the round reached, marking the
    stops where boarding then could beat the target.

    Indexes are unsigned (``np.uintp``): numba then leaves out its negative-index wraparound,
    a third of the instructions of the inner loop, the planner's hottest.
    """
    arrivals = transit_tau[k]
    for q in range(n_improved):
        p = np.uintp(improved_list[q])
        improved[p] = False
        arrived = np.int64(arrivals[p])
        # a consistent bound never drops by more than a footpath's time: when it rules out the
        # stop itself (the target fell since it was reached), it rules out its footpaths
        if consistent and arrived + bound[p] >= target:
            continue
        for f in range(np.uintp(footpath_offset[p]), np.uintp(footpath_offset[p + 1])):
            walk = np.int64(footpath_seconds[f])
            t = arrived + (walk if walk > slack else slack)
            if t >= target:
                break  # a stop's footpaths come quickest first
            w = np.uintp(footpath_to[f])
            # a footpath only matters for boarding another trip (and ready_star[w] is never
            # above foot_tau[k, w], so this also keeps the best footpath record)
            if t < ready_star[w] and t + bound[w] < target:
                _footpath(k, p, w, t, foot_tau, walk_from, ready, ready_kind, ready_round,
                          ready_star, marked, marked_list, counts)


@numba.njit(cache=True)
def _footpath(k: int, p: Any, w: Any, t: Any, foot_tau: I32, walk_from: I32, ready: I32,
              ready_kind: I8, ready_round: I32, ready_star: I32, marked: B, marked_list: I32,
              counts: npt.NDArray[np.int64]) -> None:  # pragma: no cover - compiled
    """Record reaching ``w`` at ``t`` on foot from ``p`` in round ``k``, marked for boarding."""
    foot_tau[k, w] = t
    walk_from[k, w] = p
    ready[k, w] = t
    ready_kind[k, w] = KIND_FOOT
    ready_round[k, w] = k
    ready_star[w] = t
    _flag(w, marked, marked_list, counts, 0)


@numba.njit(cache=True)
def _least_bound(least_to: U16, egress_stops: I32, egress_seconds: I32, is_egress: I32,
                 bound: I32) -> None:  # pragma: no cover - compiled
    """``bound[p]``: the least seconds from ``p`` to an egress stop plus its walk, the minimum
    over the egress stops. An egress stop whose walk is no shorter than going to another one
    and walking from there is left out (the triangle inequality of ``least_to`` makes it
    redundant): for a stop destination, whose egress stops are its footpath neighbours, only
    the stop itself remains."""
    kept = np.empty(egress_stops.shape[0], dtype=np.int32)
    n_kept = 0
    for index in np.argsort(egress_seconds, kind="mergesort"):
        e = egress_stops[index]
        walk = is_egress[e]
        if egress_seconds[index] != walk:
            continue  # listed again with a longer walk
        redundant = False
        for j in range(n_kept):
            other = kept[j]
            if walk >= np.int64(least_to[other, e]) + is_egress[other]:
                redundant = True
                break
        if not redundant:
            kept[n_kept] = e
            n_kept += 1
    for p in range(bound.shape[0]):
        best = np.int64(least_to[kept[0], p]) + is_egress[kept[0]]
        for j in range(1, n_kept):
            best = min(best, np.int64(least_to[kept[j], p]) + is_egress[kept[j]])
        bound[p] = best


@numba.njit(cache=True)
def _alight_later(dv_dep: I32, dv_arr: I32, times: int, n: int, i: int, current: int,
                  lane_hi: int, board_at: int, start: int, base: int, pattern_stops: I32,
                  pattern_board: B, boarding: B, ready_before: I32
                  ) -> tuple[int, int]:  # pragma: no cover - compiled
    """The trip to alight at position ``i`` when the lane's current trip skips it (realtime):
    the earliest later trip of the lane that stops at ``i`` and can be boarded at a stop marked
    for the round before ``i`` — (entry within the pattern, boarding position), or (-1, -1).

    A lane's times are in order wherever both trips stop, so a later trip that stops at the
    current trip's boarding position leaves it no earlier and can be boarded there; one that
    skips it too is tried at the other marked positions. Skipped stops are rare: this runs
    only at a skipped stop of the trip being ridden.
    """
    for e in range(current + 1, lane_hi):
        row = times + e * n
        if dv_arr[row + i] >= INF:
            continue
        if dv_dep[row + board_at] < INF:
            return e, board_at
        for b in range(start, i):
            p = pattern_stops[base + b]
            if (boarding[p] and pattern_board[base + b]
                    and ready_before[p] <= dv_dep[row + b] < INF):
                return e, b
    return -1, -1


@numba.njit(cache=True, inline="always")
def _flag(p: int, flags: B, listed: I32, counts: npt.NDArray[np.int64],
          which: int) -> None:  # pragma: no cover - compiled
    """Set ``flags[p]`` and list ``p`` (once) in ``listed``, counted in ``counts[which]``."""
    if not flags[p]:
        flags[p] = True
        listed[counts[which]] = p
        counts[which] += 1


@numba.njit(cache=True)
def _arrive(
    k: int, p: int, t: int, entry: int, boarded: int, board_at: int, i: int, target: int,
    transfer: I32, is_egress: I32, ready: I32, ready_kind: I8, ready_round: I32,
    transit_tau: I32, trip_of: I32, board_stop: I32, board_pos: I32, alight_pos: I32,
    ready_star: I32, transit_star: I32,
    marked: B, improved: B, marked_list: I32, improved_list: I32, counts: npt.NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    """Record arriving at stop ``p`` at ``t`` by a trip; returns the (new) target bound."""
    if t >= transit_star[p] or t >= target:
        return target
    transit_tau[k, p] = t
    transit_star[p] = t
    trip_of[k, p] = entry
    board_stop[k, p] = boarded
    board_pos[k, p] = board_at
    alight_pos[k, p] = i
    _flag(p, improved, improved_list, counts, 1)
    if is_egress[p] >= 0 and t + is_egress[p] < target:
        target = t + is_egress[p]
    if transfer[p] >= 0 and t + transfer[p] < ready_star[p]:
        ready[k, p] = t + transfer[p]
        ready_kind[k, p] = KIND_TRANSIT
        ready_round[k, p] = k
        ready_star[p] = t + transfer[p]
        _flag(p, marked, marked_list, counts, 0)
    return target


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels on an empty network.

    gunicorn calls this in the master before forking, so workers answer their first query at
    full speed.
    """
    def ro(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
        array.setflags(write=False)  # as memory-mapped timetable arrays are
        return array

    one = np.zeros(1, dtype=np.int32)
    empty = np.zeros(0, dtype=np.int32)
    flags = np.zeros(0, dtype=np.bool_)
    ro_one, ro_empty, ro_flags = ro(one.copy()), ro(empty.copy()), ro(flags.copy())
    from gtfs import mobility  # the multimodal kernel; imported here to keep raptor DB-free

    mobility.warm_up()
    labels = new_labels(1, 0)
    _lay_out(one, empty, empty, ro_one, ro_empty, ro_empty, ro_empty, one, empty, empty)
    _fifo(one, one, empty, empty)
    plane = np.zeros(0, dtype=np.float64)
    _pace(ro_one, ro_empty, one, one, empty, empty, ro_one, ro_empty, ro_empty, plane, plane)
    _no_quicker(ro_one, ro_empty, one, one, empty, empty)
    _raptor(ro_one, ro_empty, ro_flags, ro_flags, ro_one, ro_empty, ro_empty, one, flags, one,
            empty, empty, one, empty, flags, ro_one, ro_empty, ro_empty, ro_empty, empty, empty,
            empty, empty, plane, plane, 0.0, ro(np.zeros((0, 0), dtype=np.uint16)), False,
            1, 60, True, labels.ready,
            labels.ready_kind, labels.ready_round, labels.transit_tau, labels.trip,
            labels.board_stop, labels.board_pos, labels.alight_pos, labels.foot_tau,
            labels.walk_from)
