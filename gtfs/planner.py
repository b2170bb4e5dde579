"""Journeys on the compiled timetable: access and egress, RAPTOR runs, legs (pure).

A query departs at a time (or arrives by one), from and to a stop or a coordinate. Coordinates
reach stops within ``access_radius_m`` on foot. Results are the Pareto set over arrival time and
number of transfers; with a window, the best journeys departing within it (rRAPTOR), and with
``arrive_by``, the latest departures arriving in time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import numba
import numpy as np
import numpy.typing as npt

from gtfs import raptor
from gtfs.raptor import DAY, INF, KIND_ACCESS, KIND_FOOT, KIND_TRANSIT, DayView, Labels
from gtfs.timetable import Timetable, haversine_m, walk_seconds

ACCESS_RADIUS_M = 800.0
_INF = int(INF)
WALK_ONLY_MAX_M = 2000.0


T = TypeVar("T")


def filled_at_once(cls: type[T]) -> type[T]:
    """A frozen dataclass whose ``__init__`` fills the new instance's ``__dict__`` in one
    update instead of one ``object.__setattr__`` per field (the generated one): a ``Leg`` of
    16 fields is built in a fifth of the time, and a request builds several. Instances stay
    frozen: assigning a field afterwards still raises. For classes without
    ``default_factory`` fields, ``__post_init__`` or slots (checked here)."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__") or any(
            field.default_factory is not dataclasses.MISSING for field in fields):
        raise TypeError(f"{cls.__name__}: not a plain frozen dataclass")
    defaults = {f"_default_{field.name}": field.default for field in fields
                if field.default is not dataclasses.MISSING}
    params = ", ".join(field.name if field.default is dataclasses.MISSING
                       else f"{field.name}=_default_{field.name}" for field in fields)
    values = ", ".join(f"{field.name}={field.name}" for field in fields)
    namespace: dict[str, Any] = {}
    exec(f"def __init__(self, {params}):\n    self.__dict__.update({values})\n",  # noqa: S102
         defaults, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning to a method
    return cls


@filled_at_once
@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where a journey starts or ends: a stop (index) or a coordinate; ``place`` is the id of
    the place the rider chose (``poi:…``, ``stop:…``, ``bike:…``), if any."""

    lat: float
    lon: float
    name: str
    stop: int = -1
    place: str | None = None


@filled_at_once
@dataclasses.dataclass(frozen=True)
class Query:
    """A journey request."""

    origin: Endpoint
    destination: Endpoint
    time: dt.datetime
    arrive_by: bool = False
    max_transfers: int = 5
    min_transfer_seconds: int = 60
    window_minutes: int = 0
    modes: frozenset[str] | None = None  # transit modes to use; None: all


@filled_at_once
@dataclasses.dataclass(frozen=True)
class Leg:
    """One part of a journey; transit legs carry the trip and their boarding positions."""

    mode: str
    departure: int  # seconds of the service day
    arrival: int
    from_stop: int  # -1 for the query's coordinate
    to_stop: int
    trip: int = -1
    board_pos: int = -1
    alight_pos: int = -1
    walk_m: int = 0
    day_shift: int = 0  # -1: a trip of the previous service day (after its midnight), +1: next
    # legs off the network (to or from a bike port) name their ends; -1 stops without a place
    # are the query's endpoints
    place_from: Endpoint | None = None
    place_to: Endpoint | None = None
    fare_yen: int | None = None  # bike and taxi legs: priced by the planner (None: unknown)
    operator: str | None = None  # bike and taxi legs: the operator id
    info: Mapping[str, Any] | None = None  # bike: ports, availability; taxi: wait, service
    realtime: bool = False  # transit legs: times are a realtime feed's estimates


@filled_at_once
@dataclasses.dataclass(frozen=True)
class Journey:
    """A journey on ``day`` (times are seconds of that service day)."""

    day: dt.date
    legs: tuple[Leg, ...]
    tags: tuple[str, ...] = ()  # why a multimodal result set offers it: earliest, cheapest ...
    notes: tuple[str, ...] = ()  # for the rider, such as "availability as of 08:55"

    @property
    def departure(self) -> int:
        """Leaving the origin."""
        return self.legs[0].departure

    @property
    def arrival(self) -> int:
        """Reaching the destination."""
        return self.legs[-1].arrival

    @property
    def transfers(self) -> int:
        """Changes between vehicles."""
        return max(0, sum(leg.trip >= 0 for leg in self.legs) - 1)


def timezone(timetable: Timetable) -> ZoneInfo:
    """The zone the timetable's clock times are in."""
    zone: ZoneInfo | None = timetable.meta.get("_zone")
    if zone is None:
        zone = timetable.meta["_zone"] = ZoneInfo(
            str(timetable.meta.get("timezone") or "Asia/Tokyo"))
    return zone


def service_time(timetable: Timetable, moment: dt.datetime) -> tuple[dt.date, int]:
    """The service day and seconds after its midnight for an aware ``moment`` (wall-clock
    seconds, as GTFS times count them: the difference of two times of one zone)."""
    local = moment.astimezone(timezone(timetable))
    return local.date(), local.hour * 3600 + local.minute * 60 + local.second


def to_datetime(timetable: Timetable, day: dt.date, seconds: int) -> dt.datetime:
    """The aware moment of ``seconds`` after the midnight of service day ``day``."""
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=timezone(timetable))
    return midnight + dt.timedelta(seconds=seconds)


def _station_members(timetable: Timetable, stop: int) -> list[int]:
    """The stop and, for a station, its platforms."""
    children: dict[int, list[int]] | None = timetable.meta.get("_children")
    if children is None:
        children = {}
        for index, parent in enumerate(timetable.stop_parent.tolist()):
            if parent >= 0:
                children.setdefault(parent, []).append(index)
        timetable.meta["_children"] = children
    return [stop, *children.get(stop, [])]


def access_options(timetable: Timetable, end: Endpoint, radius_m: float = ACCESS_RADIUS_M
                   ) -> WalkOptions:
    """Stops reachable from ``end`` on foot: stop -> (seconds, metres)."""
    return _walk_options(timetable, end, radius_m, towards=False)


def egress_options(timetable: Timetable, end: Endpoint, radius_m: float = ACCESS_RADIUS_M
                   ) -> WalkOptions:
    """Stops from which ``end`` is reached on foot: stop -> (seconds, metres).

    The same as :func:`access_options` but for footpaths *into* a stop endpoint's platforms,
    which differ where transfers.txt rules are one-way.
    """
    return _walk_options(timetable, end, radius_m, towards=True)


def _into(timetable: Timetable) -> tuple[raptor.I32, raptor.I32, raptor.I32, raptor.I32]:
    """The footpaths grouped by target stop: offsets, sources, seconds, metres (cached)."""
    cached: tuple[raptor.I32, ...] | None = timetable.meta.get("_footpaths_into")
    if cached is None:
        sources = np.repeat(np.arange(timetable.n_stops, dtype=np.int32),
                            np.diff(timetable.footpath_offset))
        order = np.argsort(timetable.footpath_to, kind="stable")
        offset = np.searchsorted(timetable.footpath_to[order],
                                 np.arange(timetable.n_stops + 1)).astype(np.int32)
        cached = (offset, sources[order], timetable.footpath_seconds[order],
                  timetable.footpath_metres[order])
        timetable.meta["_footpaths_into"] = cached
    return cached[0], cached[1], cached[2], cached[3]


class WalkOptions(dict[int, tuple[int, int]]):
    """Stops reached on foot from (or reaching) a journey's end: stop -> (seconds, metres),
    with the same as RAPTOR's two arrays (:func:`_arrays`, made once). A stop end's options
    are shared by every query from or to that stop: callers read them, never change them."""

    __slots__ = ("arrays",)

    def __init__(self) -> None:
        super().__init__()
        self.arrays: tuple[raptor.I32, raptor.I32] | None = None


_STOP_ENDS = 8192  # stop ends remembered per network (both directions), then forgotten


def _walk_options(timetable: Timetable, end: Endpoint, radius_m: float, towards: bool
                  ) -> WalkOptions:
    if end.stop >= 0:
        # a stop's walks are the network's own footpaths: the same for every query
        cache: dict[tuple[int, bool], WalkOptions] = timetable.memo("_stop_ends", _STOP_ENDS)
        key = (end.stop, towards)
        found = cache.get(key)
        if found is None:
            found = cache[key] = _stop_walks(timetable, end.stop, towards)
        return found
    options = WalkOptions()
    for stop, distance in timetable.stops_near(end.lat, end.lon, radius_m):
        options[stop] = (walk_seconds(distance), round(distance * 1.3))
    return options


def _stop_walks(timetable: Timetable, stop: int, towards: bool) -> WalkOptions:
    """The stop (and a station's platforms) and the footpaths from (``towards``: into) them."""
    options = WalkOptions()
    if towards:
        offsets, others, times, lengths = _into(timetable)
    else:
        offsets, others, times = (timetable.footpath_offset, timetable.footpath_to,
                                  timetable.footpath_seconds)
        lengths = timetable.footpath_metres
    for member in _station_members(timetable, stop):
        options[member] = (0, 0)
        lo, hi = offsets[member], offsets[member + 1]
        for other, seconds, metres in zip(others[lo:hi].tolist(), times[lo:hi].tolist(),
                                          lengths[lo:hi].tolist(), strict=True):
            if other not in options or seconds < options[other][0]:
                options[other] = (seconds, metres)
    return options


def _metres(timetable: Timetable, a: int, b: int) -> int:
    return round(haversine_m(float(timetable.stop_lat[a]), float(timetable.stop_lon[a]),
                             float(timetable.stop_lat[b]), float(timetable.stop_lon[b])) * 1.3)


def plan(timetable: Timetable, query: Query) -> list[Journey]:
    """Answer ``query``: Pareto-optimal journeys, sorted by departure then arrival."""
    day, seconds = service_time(timetable, query.time)
    view = raptor.day_view(timetable, day)
    access = access_options(timetable, query.origin)
    egress = egress_options(timetable, query.destination)
    journeys: list[Journey] = []
    if access and egress:
        if query.arrive_by or query.window_minutes > 0:
            journeys = ranged(timetable, view, query, access, egress, seconds)
        else:
            journeys = _single(timetable, view, query, access, egress, seconds)
    walk = walk_only(timetable, query, day, seconds)
    if walk is not None:
        journeys.append(walk)
    journeys.sort(key=lambda j: (j.departure, j.arrival, j.transfers))
    return journeys


def ranged(timetable: Timetable, view: DayView, query: Query,
           access: dict[int, tuple[int, int]], egress: dict[int, tuple[int, int]],
           seconds: int) -> list[Journey]:
    """Arrive-by (the latest departures arriving by ``seconds``, over at least two hours) or
    a departure window from ``seconds``: rRAPTOR over the range."""
    if query.arrive_by:
        window = max(query.window_minutes, 120) * 60
        found = _range(timetable, view, query, access, egress, seconds - window, seconds)
        return _pareto_latest([j for j in found if j.arrival <= seconds])
    return _range(timetable, view, query, access, egress, seconds,
                  seconds + query.window_minutes * 60)


def _arrays(options: dict[int, tuple[int, int]]) -> tuple[raptor.I32, raptor.I32]:
    """RAPTOR's (stops, seconds) of walking ``options`` (made once for :class:`WalkOptions`:
    never written to, as RAPTOR only reads them)."""
    arrays = options.arrays if isinstance(options, WalkOptions) else None
    if arrays is None:
        count = len(options)
        arrays = (np.fromiter(options, dtype=np.int32, count=count),
                  np.fromiter((walk for walk, _ in options.values()), dtype=np.int32,
                              count=count))
        if isinstance(options, WalkOptions):
            options.arrays = arrays
    return arrays


def _single(timetable: Timetable, view: DayView, query: Query,
            access: dict[int, tuple[int, int]], egress: dict[int, tuple[int, int]],
            seconds: int) -> list[Journey]:
    return search(timetable, view, query, access, egress, seconds)[0]


def search(timetable: Timetable, view: DayView, query: Query,
           access: dict[int, tuple[int, int]], egress: dict[int, tuple[int, int]],
           seconds: int, labels: Labels | None = None) -> tuple[list[Journey], Labels]:
    """One RAPTOR run leaving at ``seconds``: the journeys found, and the labels.

    ``labels`` of a run whose sources were never better (the same query with fewer or slower
    access options, or a later departure) are kept as upper bounds, as rRAPTOR does.
    """
    access_stops, access_seconds = _arrays(access)
    egress_stops, egress_seconds = _arrays(egress)
    labels = raptor.run(timetable, view, access_stops, access_seconds + seconds, egress_stops,
                        egress_seconds, query.max_transfers, query.min_transfer_seconds,
                        labels, _allowed(timetable, query))
    best: list[int] = []
    return _extract(timetable, view, labels, access, egress, (egress_stops, egress_seconds),
                    seconds, best), labels


def _range(timetable: Timetable, view: DayView, query: Query,
           access: dict[int, tuple[int, int]], egress: dict[int, tuple[int, int]],
           start: int, end: int) -> list[Journey]:
    """rRAPTOR: one run per distinct departure in [start, end], latest first, labels kept."""
    departures = _departures_from(timetable, view, access, start, end)
    access_stops, access_seconds = _arrays(access)
    egress_stops, egress_seconds = _arrays(egress)
    labels: Labels | None = None
    best: list[int] = []
    found: list[Journey] = []
    allowed = _allowed(timetable, query)
    for departure in sorted(departures, reverse=True):
        labels = raptor.run(timetable, view, access_stops, access_seconds + departure,
                            egress_stops, egress_seconds, query.max_transfers,
                            query.min_transfer_seconds, labels, allowed)
        found.extend(_extract(timetable, view, labels, access, egress,
                              (egress_stops, egress_seconds), departure, best))
    return _pareto_window(found)


def _allowed(timetable: Timetable, query: Query) -> raptor.B | None:
    if query.modes is None:
        return None
    cache: dict[frozenset[str], raptor.B] = timetable.meta.setdefault("_allowed", {})
    if query.modes not in cache:
        modes = np.asarray(timetable.meta["route_modes"], dtype=object)
        cache[query.modes] = np.isin(modes[timetable.pattern_route], sorted(query.modes))
    return cache[query.modes]


def _departures_from(timetable: Timetable, view: DayView, access: dict[int, tuple[int, int]],
                     start: int, end: int) -> set[int]:
    """Leaving times from the origin that catch some trip at an access stop in the window."""
    result = {start}
    for stop, (walk, _) in access.items():
        lo, hi = timetable.stop_pattern_offset[stop], timetable.stop_pattern_offset[stop + 1]
        for r, i in zip(timetable.stop_pattern_ids[lo:hi].tolist(),
                        timetable.stop_pattern_pos[lo:hi].tolist(), strict=True):
            base = int(timetable.pattern_stop_offset[r])
            if not timetable.pattern_board[base + i]:
                continue
            times = _view_departures(timetable, view, r, i).astype(np.int64) - walk
            result.update(int(t) for t in times[(times >= start) & (times <= end)])
    return result


def _extract(timetable: Timetable, view: DayView, labels: Labels,
             access: dict[int, tuple[int, int]], egress: dict[int, tuple[int, int]],
             egress_arrays: tuple[raptor.I32, raptor.I32], departure: int, best: list[int]
             ) -> list[Journey]:
    """Journeys whose arrival improves on every journey with as many trips or fewer.

    ``egress_arrays`` are ``egress`` as RAPTOR was given it (stops, walking seconds);
    ``best`` holds, per round, the best arrival found so far (across rRAPTOR runs).
    """
    rounds = labels.ready.shape[0]
    if len(best) < rounds:
        best.extend([_INF] * (rounds - len(best)))
    journeys: list[Journey] = []
    stops, walks = egress_arrays
    arrivals, columns, round_of = (
        array.tolist() for array in _best_by_round(labels.transit_tau, stops, walks))
    bound = _INF
    for k in range(1, rounds):
        if best[k] < bound:
            bound = best[k]
        arrival = arrivals[k]
        if arrival >= bound:
            continue
        stop = int(stops[columns[k]])
        legs = _legs(timetable, view, labels, round_of[k], stop, access, departure,
                     KIND_TRANSIT)
        if legs is None or all(leg.trip < 0 for leg in legs):
            continue
        walk, metres = egress[stop]
        if walk > 0:
            legs.append(Leg("walk", legs[-1].arrival, legs[-1].arrival + walk, stop, -1,
                            walk_m=metres))
        journeys.append(Journey(view.day, tuple(legs)))
        best[k] = arrival
        bound = arrival
    return journeys


@numba.njit(cache=True, nogil=True)
def _best_by_round(transit_tau: raptor.I32, stops: raptor.I32, walks: raptor.I32
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                              npt.NDArray[np.int64]]:  # pragma: no cover - compiled
    """Per round ``k`` (from 1): the earliest arrival at the destination with at most ``k``
    trips (the best trip arrival at an egress stop plus its walk), the egress column it
    comes from (the first such column) and the first round reaching that column that early."""
    rounds = transit_tau.shape[0]
    n = stops.shape[0]
    arrival = np.full(rounds, np.int64(INF), dtype=np.int64)
    column = np.zeros(rounds, dtype=np.int64)
    round_of = np.zeros(rounds, dtype=np.int64)
    if n == 0:
        return arrival, column, round_of
    running = np.full(n, np.int64(INF), dtype=np.int64)
    for k in range(1, rounds):
        found = np.int64(2) * np.int64(INF)
        best_column = 0
        for c in range(n):
            tau = np.int64(transit_tau[k, stops[c]])
            if tau < running[c]:
                running[c] = tau
            value = running[c] + np.int64(walks[c])
            if value < found:
                found = value
                best_column = c
        arrival[k] = found
        column[k] = best_column
        stop, walk = stops[best_column], np.int64(walks[best_column])
        round_of[k] = k
        for j in range(1, k + 1):
            if np.int64(transit_tau[j, stop]) + walk == found:
                round_of[k] = j
                break
    return arrival, column, round_of


def _legs(timetable: Timetable, view: DayView, labels: Labels, k: int, stop: int,
          access: dict[int, tuple[int, int]], departure: int, kind: int) -> list[Leg] | None:
    """Walk back from the ``kind`` record of ``stop`` set in round ``k`` to the origin."""
    legs: list[Leg] = []
    round_ = k
    while True:
        if kind == KIND_ACCESS:
            walk, metres = access[stop]
            if walk > 0:
                legs.append(Leg("walk", departure, departure + walk, -1, stop, walk_m=metres))
            break
        if kind == KIND_FOOT:
            source = int(labels.walk_from[round_, stop])
            legs.append(Leg("walk", int(labels.transit_tau[round_, source]),
                            int(labels.foot_tau[round_, stop]), source, stop,
                            walk_m=_metres(timetable, source, stop)))
            stop = source  # reached by a trip in the same round
        elif kind != KIND_TRANSIT:
            return None
        entry = int(labels.trip[round_, stop])
        board, alight = int(labels.board_pos[round_, stop]), int(labels.alight_pos[round_, stop])
        trip, shift = int(view.trip[entry]), int(view.shift[entry])
        source = int(labels.board_stop[round_, stop])
        # the entry's row of the view's times, as raptor.entry_times finds it
        r = int(timetable.trip_pattern[trip])
        row = int(view.time_offset[r]) + (entry - int(view.offset[r])) * int(
            timetable.pattern_stop_offset[r + 1] - timetable.pattern_stop_offset[r])
        legs.append(Leg(
            str(timetable.meta["route_modes"][int(timetable.pattern_route[r])]),
            int(view.dep[row + board]), int(view.arr[row + alight]), source, stop, trip,
            board, alight, day_shift=shift // DAY,
            realtime=view.realtime is not None and bool(view.realtime[entry]),
        ))
        stop = source
        kind = int(labels.ready_kind[round_ - 1, stop])
        round_ = int(labels.ready_round[round_ - 1, stop])
    legs.reverse()
    return legs


def walk_only(timetable: Timetable, query: Query, day: dt.date, seconds: int
              ) -> Journey | None:
    """The whole trip on foot, when it is at most ``WALK_ONLY_MAX_M``."""
    o, d = query.origin, query.destination
    metres = haversine_m(o.lat, o.lon, d.lat, d.lon)
    if metres > WALK_ONLY_MAX_M or (o.stop >= 0 and o.stop == d.stop):
        return None
    walk = walk_seconds(metres)
    start = seconds - walk if query.arrive_by else seconds
    return Journey(day, (Leg("walk", start, start + walk, o.stop, d.stop,
                             walk_m=round(metres * 1.3)),))


def _pareto_window(journeys: Sequence[Journey]) -> list[Journey]:
    """Keep journeys not dominated in (later departure, earlier arrival, fewer transfers)."""
    kept = []
    for j in journeys:
        dominated = any(
            o is not j and o.departure >= j.departure and o.arrival <= j.arrival
            and o.transfers <= j.transfers
            and (o.departure, -o.arrival, -o.transfers) != (j.departure, -j.arrival,
                                                             -j.transfers)
            for o in journeys
        )
        if not dominated:
            kept.append(j)
    return _unique(kept)


def _pareto_latest(journeys: Sequence[Journey]) -> list[Journey]:
    """For arrive-by: keep the latest departures per number of transfers (Pareto)."""
    kept = [j for j in journeys
            if not any(o.departure > j.departure and o.transfers <= j.transfers
                       for o in journeys)]
    return _unique(kept)


def _unique(journeys: Sequence[Journey]) -> list[Journey]:
    seen: set[tuple[int, int, int]] = set()
    result = []
    for j in journeys:
        key = (j.departure, j.arrival, j.transfers)
        if key not in seen:
            seen.add(key)
            result.append(j)
    return result


class Departure(NamedTuple):
    """A departure from a stop; ``seconds`` of the query's service ``day``."""

    trip: int
    position: int
    day: dt.date
    seconds: int  # the estimate under a realtime overlay
    scheduled: int
    realtime: bool


def departures_after(timetable: Timetable, stop: int, moment: dt.datetime, limit: int
                     ) -> list[Departure]:
    """Next departures from a stop (or its platforms), by :func:`gtfs.raptor.day_view` of the
    day (estimates under a realtime overlay; canceled trips and skipped stops left out)."""
    day, seconds = service_time(timetable, moment)
    view = raptor.day_view(timetable, day)
    found: list[Departure] = []
    for member in _station_members(timetable, stop):
        lo, hi = timetable.stop_pattern_offset[member], timetable.stop_pattern_offset[member + 1]
        for r, i in zip(timetable.stop_pattern_ids[lo:hi].tolist(),
                        timetable.stop_pattern_pos[lo:hi].tolist(), strict=True):
            base, end = int(timetable.pattern_stop_offset[r]), int(
                timetable.pattern_stop_offset[r + 1])
            if i >= end - base - 1 or not timetable.pattern_board[base + i]:
                continue
            entries = np.arange(int(view.offset[r]), int(view.offset[r + 1]))
            times = _view_departures(timetable, view, r, i)
            # INF: a canceled trip or a skipped stop (realtime), never offered
            usable = (times >= seconds) & (times < INF)
            chosen = entries[usable]
            for e, t in zip(chosen.tolist(), times[usable].tolist(), strict=True):
                trip = int(view.trip[e])
                scheduled = (int(timetable.departure[timetable.trip_time_offset[trip] + i])
                             + int(view.shift[e]))
                found.append(Departure(trip, i, day, int(t), scheduled,
                                       view.realtime is not None and bool(view.realtime[e])))
    found.sort(key=lambda item: item.seconds)
    return found[:limit]


def _view_departures(timetable: Timetable, view: DayView, r: int, i: int) -> raptor.I32:
    """Departures of pattern ``r``'s day-view entries at position ``i`` (INF: not boardable)."""
    lo, hi = int(view.offset[r]), int(view.offset[r + 1])
    n = int(timetable.pattern_stop_offset[r + 1] - timetable.pattern_stop_offset[r])
    start = int(view.time_offset[r]) + i
    return view.dep[start:start + (hi - lo) * n:n]  # trip-major: every n-th cell


__all__ = ["DAY", "Departure", "Endpoint", "Journey", "Leg", "Query", "access_options",
           "departures_after", "egress_options", "plan"]
