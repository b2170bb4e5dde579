"""``maas bench plan``: our planner against pynigiri (MOTIS's nigiri core) on the same queries.

One run loads a GTFS feed into both engines, draws random stop pairs and departure times of
one service day, and times each stop-to-stop earliest-arrival query on both sides with
:func:`time.perf_counter_ns` (:func:`maas.bench.timing.timed`), the sides taking turns
block by block: each answers the same ``--block`` queries (10) in turn, then the next block.

Why blocks: both engines run in this one process, and one timed right after the other pays
for the caches the other evicted — not what either does in a server, where a worker answers
request after request of its own. pynigiri's ``route()`` allocates and fills its search
state anew per call (megabytes on a large feed, more than a core's L2), after which our
interpreted request path misses on its code and data: on the demo feed our request path took
134 µs in a loop of its own and 267 µs right after each pynigiri call, while pynigiri's route
and document took 215 µs alone and 245–268 µs after ours. Blocks of 10 keep the turns a few
milliseconds apart (slow drifts of a shared machine still fall on both sides alike) and leave
one cold call in ten, which p50 does not see. The two request paths are then timed once more
query by query, alternating (``request_alternating_*``, ``request_ratio_alternating``), so
every run shows both figures; ``--block 1`` times everything that way.

pynigiri is a benchmark peer only: it is imported lazily here and nowhere else, and never sits
on a request path.

What is the same on both sides
  - the feed: stops, routes, trips, stop times, calendars and frequencies are read from the
    same files. pynigiri reads a copy in a temporary folder in which ``transfers.txt`` is
    replaced by *our* compiled footpaths (within 400 m, crow-fly × 1.3 at 4.8 km/h, station
    siblings, transfers.txt applied) plus one same-stop row per stop carrying our transfer
    slack; ``block_id`` is dropped from ``trips.txt`` (we do not model staying seated from one
    trip of a block to the next) and ``shapes.txt`` is left out (no routing use);
  - the queries: the same origin and destination stops (``location_type`` 0, with a departure
    resp. an arrival on the day), the same departure minute (uniform over the whole day), at
    most 5 transfers, no intermodal offsets;
  - transfer slack: 60 s at the same stop, and a footpath between trips takes at least 60 s
    (pynigiri: ``TransferTimeSettings(default=False, min_transfer_time=1 min, factor=1)``);
  - walking at the ends: from the origin to its footpath neighbours (pynigiri:
    ``use_start_footpaths``) and from a footpath neighbour to the destination;
  - the answer compared: the earliest arrival among journeys that ride something. Both
    engines compute a Pareto set over arrival time and number of transfers for the departure.

What is not the same
  - nigiri counts whole minutes: it cuts the seconds off stop times when it loads the feed
    (07:52:15 becomes 07:52), and our footpath times are rounded up to whole minutes in the
    copied transfers.txt. Arrivals "agree" when they differ by less than 60 s. On feeds whose
    stop times carry seconds nigiri makes tight transfers that we, counting seconds, do not,
    and misses some buses we catch after a walk of a few seconds.
  - footpaths: nigiri closes the footpath graph transitively (a chain of walks counts as one
    footpath; ``FinalizeOptions.max_footpath_length`` is our longest footpath plus one minute,
    so chains stay about as long as one of ours) and links same-name stops within 500 m by
    itself. We allow exactly one footpath before the first trip and between two trips, but
    after the last trip a footpath *and then* the walk to the destination (two walks, up to
    twice 400 m); ``ours_earlier_end_walks`` counts the queries we win that way.
  - stop pairs that share a footpath neighbour are not drawn: our RAPTOR reaches the
    destination on foot in round 0 there and (rightly) prunes slower rides, answering with a
    walk, while nigiri returns the ride; ``plan()``'s walk-only journey is never compared.
  - transfers.txt rows forbidding a same-stop transfer (type 3) are not passed on.
  - loading: ours is ``read_feed`` + ``compile_feeds`` over the whole calendar; nigiri loads
    only the day before to two days after the query date (from the copied folder; writing the
    copy is timed apart as ``pynigiri_prepare_seconds``).
  - per query, ``plan()`` includes what riders get: access and egress lookup, the RAPTOR run
    and journey extraction; ``ours_kernel_*`` is :func:`gtfs.raptor.run` alone with prepared
    access/egress arrays. pynigiri's time is building its ``Query`` and ``route()``: whatever
    nigiri's search does per call (it allocates its search state each time) plus turning the
    journeys into Python objects.

Each query is timed with :func:`maas.bench.timing.timed`; p50 and p90 are
:func:`maas.bench.timing.percentiles` (linear interpolation, as ``numpy.percentile``).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import functools
import importlib
import importlib.metadata
import io
import json
import math
import os
import random
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from gtfs import gbfs, multimodal, ondemand, raptor
from gtfs.feed import read_feed
from gtfs.mobility import BikeNetwork, Mobility
from gtfs.planner import Endpoint, Journey, Query, access_options, plan, timezone
from gtfs.services import parse_modes
from gtfs.timetable import FORBIDDEN, Timetable, compile_feeds
from maas.bench.kernel import kernel_rows
from maas.bench.request import PlanCalls, nigiri_document, scratch_app
from maas.bench.timing import percentiles, timed
from maas.core.cli import emit, json_option, progress
from maas.core.errors import InvalidInput, MaasError

MAX_TRANSFERS = 5
MIN_TRANSFER_SECONDS = 60
BLOCK = 10  # queries each side answers in turn (see the module notes)
EXAMPLES = 5
_LEFT_OUT = frozenset({"transfers.txt", "trips.txt", "shapes.txt"})


@dataclasses.dataclass(frozen=True)
class Disagreement:
    """One query on which the earliest arrivals differ (times ISO 8601, local; None: none)."""

    origin: str
    destination: str
    departure: str
    ours: str | None
    pynigiri: str | None
    delta_seconds: int | None  # ours − pynigiri
    ours_journey: list[str]  # the legs of our earliest journey
    pynigiri_journey: list[str]  # the legs of pynigiri's earliest journey (stop names)


@dataclasses.dataclass(frozen=True)
class BenchResult:
    """Timings (milliseconds per query) and the comparison of the answers."""

    feed: str
    date: dt.date
    seed: int
    max_transfers: int
    min_transfer_seconds: int
    stops: int
    ours_read_seconds: float
    ours_compile_seconds: float
    pynigiri_prepare_seconds: float
    pynigiri_load_seconds: float
    ours_ms: list[float]
    ours_kernel_ms: list[float]
    pynigiri_ms: list[float]
    agree: int
    both_unreachable: int
    ours_earlier: int
    ours_earlier_end_walks: int  # of those, ours ends with a footpath and then the egress walk
    pynigiri_earlier: int
    # of those, how many our planner also reaches by pynigiri's arrival on the timetable as
    # nigiri reads it (stop times cut to the minute, footpaths and slack whole minutes)
    pynigiri_earlier_rounding: int
    only_ours: int
    only_pynigiri: int
    disagree: list[Disagreement]
    pynigiri_version: str
    # with --modes: the same pairs as coordinates, transit only and multimodal
    modes: str | None = None
    coordinate_ms: list[float] = dataclasses.field(default_factory=list)
    multimodal_ms: list[float] = dataclasses.field(default_factory=list)
    # the whole request minus the socket (maas.bench.request), and pynigiri's route() with
    # stop lookup and its journeys written as a document of the same shape
    request_ms: list[float] = dataclasses.field(default_factory=list)
    wsgi_ms: list[float] = dataclasses.field(default_factory=list)
    pynigiri_document_ms: list[float] = dataclasses.field(default_factory=list)
    # how many queries each side answers in turn (1: query by query), and the same two paths
    # timed once more query by query (each right after the other side's)
    block: int = 1
    request_alternating_ms: list[float] = dataclasses.field(default_factory=list)
    pynigiri_document_alternating_ms: list[float] = dataclasses.field(default_factory=list)
    # maas.bench.kernel's rows: our raptor.run and ferrobus's find_route (or its error)
    kernel: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def queries(self) -> int:
        """Number of timed queries."""
        return len(self.ours_ms)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``maas bench plan --json``."""
        ours = _percentiles(self.ours_ms)
        kernel = _percentiles(self.ours_kernel_ms)
        nigiri = _percentiles(self.pynigiri_ms)
        request = _percentiles(self.request_ms)
        wsgi = _percentiles(self.wsgi_ms)
        document = _percentiles(self.pynigiri_document_ms)
        request_alternating = _percentiles(self.request_alternating_ms)
        document_alternating = _percentiles(self.pynigiri_document_alternating_ms)
        return {
            "feed": self.feed,
            "date": self.date.isoformat(),
            "seed": self.seed,
            "queries": self.queries,
            "max_transfers": self.max_transfers,
            "min_transfer_seconds": self.min_transfer_seconds,
            "stops": self.stops,
            "block": self.block,
            "ours_load_seconds": round(self.ours_read_seconds + self.ours_compile_seconds, 4),
            "ours_read_seconds": round(self.ours_read_seconds, 4),
            "ours_compile_seconds": round(self.ours_compile_seconds, 4),
            "pynigiri_load_seconds": round(self.pynigiri_load_seconds, 4),
            "pynigiri_prepare_seconds": round(self.pynigiri_prepare_seconds, 4),
            **_columns("ours", ours), **_columns("ours_kernel", kernel),
            **_columns("pynigiri", nigiri), **_columns("request", request),
            **_columns("wsgi", wsgi), **_columns("pynigiri_document", document),
            **_columns("request_alternating", request_alternating),
            **_columns("pynigiri_document_alternating", document_alternating),
            "ratio": _ratio(ours, nigiri),
            "kernel_ratio": _ratio(kernel, nigiri),
            # the target: the request path against pynigiri's route and conversion
            "request_ratio": _ratio(request, document),
            "wsgi_ratio": _ratio(wsgi, document),
            "request_ratio_alternating": _ratio(request_alternating, document_alternating),
            "agree": self.agree,
            "both_unreachable": self.both_unreachable,
            "disagree_count": self.queries - self.agree,
            "ours_earlier": self.ours_earlier,
            "ours_earlier_end_walks": self.ours_earlier_end_walks,
            "pynigiri_earlier": self.pynigiri_earlier,
            "pynigiri_earlier_rounding": self.pynigiri_earlier_rounding,
            "pynigiri_earlier_unexplained": (self.pynigiri_earlier
                                             - self.pynigiri_earlier_rounding),
            "only_ours": self.only_ours,
            "only_pynigiri": self.only_pynigiri,
            "disagree": [dataclasses.asdict(d) for d in self.disagree],
            "pynigiri_version": self.pynigiri_version,
            "kernel": self.kernel,
            **self._multimodal(ours[0]),
        }

    def _multimodal(self, transit_p50: float) -> dict[str, Any]:
        if not self.multimodal_ms:
            return {}
        coordinate = _percentiles(self.coordinate_ms)
        multimodal = _percentiles(self.multimodal_ms)
        return {
            "modes": self.modes,
            "coordinate_p50_ms": coordinate[0], "coordinate_p90_ms": coordinate[1],
            "multimodal_p50_ms": multimodal[0], "multimodal_p90_ms": multimodal[1],
            "multimodal_ratio": round(multimodal[0] / transit_p50, 3) if transit_p50 else None,
            "multimodal_coordinate_ratio": (round(multimodal[0] / coordinate[0], 3)
                                            if coordinate[0] else None),
        }


def _columns(name: str, p50_p90: tuple[float, float]) -> dict[str, float]:
    """``NAME_p50_ms`` and ``NAME_p90_ms``."""
    return {f"{name}_p50_ms": p50_p90[0], f"{name}_p90_ms": p50_p90[1]}


def _ratio(ours: tuple[float, float], theirs: tuple[float, float]) -> float | None:
    """p50 over p50, to 0.001 (None without a peer figure)."""
    return round(ours[0] / theirs[0], 3) if theirs[0] > 0 else None


def _percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p90 of millisecond timings, to 0.1 µs (0.0 for none)."""
    p50, p90 = percentiles(values, 50, 90, digits=4, empty=0.0)
    return p50, p90


@dataclasses.dataclass(frozen=True)
class _Pair:
    origin: int
    destination: int
    departure: dt.datetime


def run_bench(feed_path: Path, day: dt.date, queries: int, seed: int, *,
              max_transfers: int = MAX_TRANSFERS,
              min_transfer_seconds: int = MIN_TRANSFER_SECONDS,
              on_query: Callable[[int], None] | None = None,
              modes: frozenset[str] | None = None,
              mobility: Mobility | None = None, with_ferrobus: bool = True,
              block: int = BLOCK) -> BenchResult:
    """Time ``queries`` random stop-to-stop queries of ``day`` on our planner and pynigiri.

    ``seed`` fixes the stop pairs and departure minutes. ``on_query(i)`` is called after the
    i-th timed query (1-based). ``with_ferrobus`` adds :func:`maas.bench.kernel.kernel_rows`
    on the same pairs (our kernel beside ferrobus's, after the loop). With ``modes`` (bike,
    taxi ...) and ``mobility``, each pair is also timed as a coordinate-to-coordinate query,
    transit only and with those modes.
    Raises :class:`InvalidInput` for a missing or unreadable feed or a date on which nothing
    runs.
    """
    if queries < 1:
        raise InvalidInput("--queries: give at least 1")
    if block < 1:
        raise InvalidInput("--block: give at least 1")
    if not feed_path.exists():
        raise InvalidInput(f"{feed_path}: no such file or folder")
    nigiri, nigiri_version = import_pynigiri()

    started = time.perf_counter()
    feed = read_feed(feed_path)
    read_done = time.perf_counter()
    timetable = compile_feeds([(feed_path.stem or "feed", feed)])
    compiled = time.perf_counter()

    rng = random.Random(seed)  # noqa: S311 - reproducible draws, nothing secret
    pairs = _draw_pairs(timetable, day, queries + 1, rng)
    nigiri_tt, prepare_seconds, load_seconds = load_pynigiri(
        nigiri, feed_path, timetable, day, min_transfer_seconds)

    settings = transfer_settings(nigiri, min_transfer_seconds)
    ids: list[str] = timetable.meta["stop_ids"]
    locations = {p: nigiri_tt.find_location(ids[p])
                 for pair in pairs for p in (pair.origin, pair.destination)}
    missing = [ids[p] for p, location in locations.items() if location is None]
    if missing:
        raise MaasError(f"pynigiri did not load stops {', '.join(missing[:3])}")

    with scratch_app(feed_path) as app:
        calls = PlanCalls(app)
        zone = timezone(timetable)
        stop_of = {int(nigiri_tt.find_location(ids[p])): ids[p]
                   for pair in pairs for p in (pair.origin, pair.destination)}

        def ours(pair: _Pair) -> tuple[float, list[Journey]]:
            query = Query(
                origin=_endpoint(timetable, pair.origin),
                destination=_endpoint(timetable, pair.destination), time=pair.departure,
                max_transfers=max_transfers, min_transfer_seconds=min_transfer_seconds)
            return timed(lambda: plan(timetable, query))

        def kernel(pair: _Pair) -> float:
            view = raptor.day_view(timetable, day)
            access = access_options(timetable, _endpoint(timetable, pair.origin))
            egress = access_options(timetable, _endpoint(timetable, pair.destination))
            access_stops = np.asarray(list(access), dtype=np.int32)
            access_times = np.asarray([walk for walk, _ in access.values()], dtype=np.int32)
            egress_stops = np.asarray(list(egress), dtype=np.int32)
            egress_times = np.asarray([walk for walk, _ in egress.values()], dtype=np.int32)
            access_times += _seconds_of_day(timetable, day, pair.departure)
            return timed(lambda: raptor.run(timetable, view, access_stops, access_times,
                                            egress_stops, egress_times, max_transfers,
                                            min_transfer_seconds))[0]

        def theirs(pair: _Pair) -> tuple[float, list[Any]]:
            return timed(lambda: route(pair, locations[pair.origin],
                                       locations[pair.destination]))

        def route(pair: _Pair, start: Any, end: Any) -> list[Any]:
            return nigiri_route(nigiri, nigiri_tt, start, end, pair.departure, max_transfers,
                                settings)

        def args_of(pair: _Pair) -> dict[str, str]:
            """The query string of GET /plan for the pair (default modes)."""
            return {"from": f"stop:{ids[pair.origin]}", "to": f"stop:{ids[pair.destination]}",
                    "depart": pair.departure.isoformat(), "max_transfers": str(max_transfers),
                    "min_transfer_seconds": str(min_transfer_seconds)}

        def request(pair: _Pair) -> float:
            return timed(functools.partial(calls.request_path, args_of(pair)))[0]

        def through_wsgi(pair: _Pair) -> float:
            return timed(calls.wsgi(args_of(pair)))[0]

        def their_document(pair: _Pair) -> float:
            """pynigiri resolving both stop ids, routing, and writing the document."""
            def answer() -> bytes:
                start, end = (nigiri_tt.find_location(ids[p])
                              for p in (pair.origin, pair.destination))
                return nigiri_document(nigiri_tt, route(pair, start, end), zone, stop_of)
            return timed(answer)[0]

        def from_coordinates(pair: _Pair, with_modes: frozenset[str] | None) -> float:
            origin, destination = (dataclasses.replace(_endpoint(timetable, stop), stop=-1)
                                   for stop in (pair.origin, pair.destination))
            query = Query(origin=origin, destination=destination, time=pair.departure,
                          max_transfers=max_transfers, min_transfer_seconds=min_transfer_seconds,
                          modes=with_modes)
            if with_modes is None:
                return timed(lambda: plan(timetable, query))[0]
            return timed(lambda: multimodal.plan(timetable, query, multimodal.Context(
                mobility or Mobility(), now=int(pair.departure.timestamp()))))[0]

        warm = pairs[0]  # compiles (or loads) numba's kernels, builds the day view, warms caches
        ours(warm)
        kernel(warm)
        theirs(warm)
        request(warm)
        through_wsgi(warm)
        their_document(warm)
        if modes is not None:
            from_coordinates(warm, None)
            from_coordinates(warm, modes)
        coordinate_ms: list[float] = []
        multimodal_ms: list[float] = []

        ours_ms: list[float] = []
        kernel_ms: list[float] = []
        nigiri_ms: list[float] = []
        request_ms: list[float] = []
        wsgi_ms: list[float] = []
        nigiri_document_ms: list[float] = []
        tally = {"agree": 0, "both_unreachable": 0, "ours_earlier": 0, "ours_earlier_end_walks": 0,
                 "pynigiri_earlier": 0, "pynigiri_earlier_rounding": 0, "only_ours": 0,
                 "only_pynigiri": 0}
        cut: Timetable | None = None  # built at the first "pynigiri earlier"
        disagree: list[Disagreement] = []
        timed_pairs = pairs[1:]
        for start in range(0, len(timed_pairs), block):
            chunk = timed_pairs[start:start + block]
            # each side answers the block's queries in turn (see the module notes: a side
            # timed right after the other pays for the caches the other evicted)
            answers = [ours(pair) for pair in chunk]
            kernel_ms.extend(kernel(pair) for pair in chunk)
            found_lists = [theirs(pair) for pair in chunk]
            request_ms.extend(request(pair) for pair in chunk)
            wsgi_ms.extend(through_wsgi(pair) for pair in chunk)
            nigiri_document_ms.extend(their_document(pair) for pair in chunk)
            if modes is not None:
                coordinate_ms.extend(from_coordinates(pair, None) for pair in chunk)
                multimodal_ms.extend(from_coordinates(pair, modes) for pair in chunk)
            ours_ms.extend(elapsed for elapsed, _ in answers)
            nigiri_ms.extend(elapsed for elapsed, _ in found_lists)
            for offset, pair in enumerate(chunk):
                index = start + offset + 1
                journeys, found = answers[offset][1], found_lists[offset][1]
                cut = _tally(timetable, cut, pair, journeys, found, tally, disagree, zone,
                             nigiri_tt, max_transfers, min_transfer_seconds)
                if on_query is not None:
                    on_query(index)
        # the request paths once more, query by query alternating (block 1), for comparison
        request_alternating_ms: list[float] = []
        nigiri_document_alternating_ms: list[float] = []
        for pair in timed_pairs:
            request_alternating_ms.append(request(pair))
            nigiri_document_alternating_ms.append(their_document(pair))

    # the kernel alone beside ferrobus's (maas.bench.kernel), on the same pairs and times
    kernel_table = [] if not with_ferrobus else kernel_rows(
        feed_path, [(ids[pair.origin], ids[pair.destination]) for pair in pairs],
        [pair.departure for pair in pairs], timetable=timetable,
        max_transfers=max_transfers)
    return BenchResult(
        feed=str(feed_path), date=day, seed=seed, max_transfers=max_transfers,
        min_transfer_seconds=min_transfer_seconds, stops=timetable.n_stops,
        ours_read_seconds=read_done - started, ours_compile_seconds=compiled - read_done,
        pynigiri_prepare_seconds=prepare_seconds,
        pynigiri_load_seconds=load_seconds, ours_ms=ours_ms, ours_kernel_ms=kernel_ms,
        pynigiri_ms=nigiri_ms, disagree=disagree,
        pynigiri_version=nigiri_version,
        modes=None if modes is None else ",".join(sorted(modes)),
        coordinate_ms=coordinate_ms, multimodal_ms=multimodal_ms,
        request_ms=request_ms, wsgi_ms=wsgi_ms, pynigiri_document_ms=nigiri_document_ms,
        block=block, request_alternating_ms=request_alternating_ms,
        pynigiri_document_alternating_ms=nigiri_document_alternating_ms,
        kernel=kernel_table, **tally,
    )


def import_pynigiri() -> tuple[Any, str]:
    """The pynigiri module (untyped) and its distribution version; imported only here."""
    try:
        module = importlib.import_module("pynigiri")
    except ImportError:
        raise MaasError("pynigiri is not installed (pip install pynigiri)") from None
    return module, importlib.metadata.version("pynigiri")


def load_pynigiri(nigiri: Any, feed_path: Path, timetable: Timetable, day: dt.date,
                   min_transfer_seconds: int) -> tuple[Any, float, float]:
    """nigiri's timetable of the copied feed; seconds to write the copy and to load it."""
    with tempfile.TemporaryDirectory(prefix="maas-bench-") as folder:
        copy = Path(folder) / "gtfs"
        started = time.perf_counter()
        _write_nigiri_feed(feed_path, copy, timetable, min_transfer_seconds)
        prepared = time.perf_counter()
        loader = nigiri.LoaderConfig()
        loader.link_stop_distance = 0  # our footpaths come in through transfers.txt
        loader.default_tz = str(timetable.meta["timezone"])
        finalize = nigiri.FinalizeOptions()
        longest = int(timetable.footpath_seconds.max(initial=0))
        finalize.max_footpath_length = _minutes(longest) + 1
        try:
            with _quiet_stderr():
                loaded = nigiri.load_timetable(
                    [nigiri.TimetableSource("bench", str(copy), loader)],
                    (day - dt.timedelta(days=1)).isoformat(),
                    (day + dt.timedelta(days=2)).isoformat(), finalize)
        except RuntimeError as exc:
            raise MaasError(f"{feed_path}: pynigiri could not load it: {exc}") from None
        return loaded, prepared - started, time.perf_counter() - prepared


def transfer_settings(nigiri: Any, min_transfer_seconds: int) -> Any:
    """nigiri's transfer rule matching ours: ``min_transfer_seconds`` (rounded up to whole
    minutes) at the same stop, footpath times as given."""
    settings = nigiri.TransferTimeSettings()
    settings.default = False
    settings.min_transfer_time = dt.timedelta(minutes=_minutes(min_transfer_seconds))
    settings.factor = 1.0
    return settings


def nigiri_route(nigiri: Any, nigiri_tt: Any, start: Any, end: Any, departure: dt.datetime,
                 max_transfers: int, settings: Any) -> list[Any]:
    """pynigiri's journeys from location ``start`` to ``end`` departing at ``departure``
    (walking from the start's footpath neighbours, as ours does)."""
    query = nigiri.Query()
    query.start_time = int(departure.timestamp()) // 60
    query.start = [nigiri.Offset(start, 0, 0)]
    query.destination = [nigiri.Offset(end, 0, 0)]
    query.start_match_mode = nigiri.LocationMatchMode.EXACT
    query.dest_match_mode = nigiri.LocationMatchMode.EXACT
    query.use_start_footpaths = True
    query.max_transfers = max_transfers
    query.transfer_time_settings = settings
    journeys: list[Any] = nigiri.route(nigiri_tt, query)
    return journeys


def _minutes(seconds: int) -> int:
    return math.ceil(seconds / 60)


def _endpoint(timetable: Timetable, stop: int) -> Endpoint:
    return Endpoint(float(timetable.stop_lat[stop]), float(timetable.stop_lon[stop]),
                    str(timetable.meta["stop_names"][stop]), stop)


def _seconds_of_day(timetable: Timetable, day: dt.date, moment: dt.datetime) -> int:
    return int(moment.timestamp()) - _unix(timetable, day, 0)


def _tally(timetable: Timetable, cut: Timetable | None, pair: _Pair, journeys: list[Journey],
           found: list[Any], tally: dict[str, int], disagree: list[Disagreement],
           zone: dt.tzinfo, nigiri_tt: Any, max_transfers: int, min_transfer_seconds: int
           ) -> Timetable | None:
    """Count how our earliest arrival for ``pair`` compares with pynigiri's (``tally``) and
    keep the first disagreements; returns the minute-cut timetable (``cut``: built at the
    first "pynigiri earlier", then reused)."""
    ids: list[str] = timetable.meta["stop_ids"]
    best = _our_earliest(journeys)
    mine = None if best is None else _unix(timetable, best.day, best.arrival)
    first = min(found, key=lambda j: int(j.arrival_time()), default=None)
    other = None if first is None else int(first.arrival_time()) * 60
    outcome = _compare(mine, other)
    tally[outcome] += 1
    if outcome == "both_unreachable":
        tally["agree"] += 1
    if outcome == "ours_earlier" and best is not None and _ends_with_two_walks(best):
        tally["ours_earlier_end_walks"] += 1
    if outcome == "pynigiri_earlier" and other is not None:
        cut = cut or minute_timetable(timetable)
        query = Query(
            origin=_endpoint(cut, pair.origin),
            destination=_endpoint(cut, pair.destination), time=pair.departure,
            max_transfers=max_transfers, min_transfer_seconds=min_transfer_seconds)
        whole = _our_earliest(plan(cut, query))
        if whole is not None and _unix(cut, whole.day, whole.arrival) < other + 60:
            tally["pynigiri_earlier_rounding"] += 1
    if outcome not in ("agree", "both_unreachable") and len(disagree) < EXAMPLES:
        disagree.append(Disagreement(
            origin=ids[pair.origin], destination=ids[pair.destination],
            departure=pair.departure.isoformat(), ours=_iso(mine, zone),
            pynigiri=_iso(other, zone),
            delta_seconds=None if mine is None or other is None else mine - other,
            ours_journey=_describe_ours(timetable, best),
            pynigiri_journey=_describe_theirs(nigiri_tt, first, zone)))
    return cut


def _our_earliest(journeys: list[Journey]) -> Journey | None:
    """The earliest-arriving journey that rides something (plan() may add a walk)."""
    riding = [j for j in journeys if any(leg.trip >= 0 for leg in j.legs)]
    return min(riding, key=lambda j: (j.day, j.arrival), default=None)


def _ends_with_two_walks(journey: Journey) -> bool:
    """A footpath after the last trip, then the walk to the destination (nigiri has one)."""
    return len(journey.legs) >= 2 and all(leg.trip < 0 for leg in journey.legs[-2:])


def _unix(timetable: Timetable, day: dt.date, seconds: int) -> int:
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=timezone(timetable))
    return int((midnight + dt.timedelta(seconds=seconds)).timestamp())


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _describe_ours(timetable: Timetable, journey: Journey | None) -> list[str]:
    if journey is None:
        return []
    ids: list[str] = timetable.meta["stop_ids"]

    def stop(index: int, end: str) -> str:
        return ids[index] if index >= 0 else end

    return [
        f"{leg.mode} {stop(leg.from_stop, '(origin)')} → {stop(leg.to_stop, '(destination)')} "
        f"{_clock(leg.departure)}–{_clock(leg.arrival)}"
        + (f" {timetable.meta['trip_ids'][leg.trip]}" if leg.trip >= 0 else f" {leg.walk_m} m")
        for leg in journey.legs
    ]


def _describe_theirs(nigiri_tt: Any, journey: Any, zone: dt.tzinfo) -> list[str]:
    if journey is None:
        return []

    def clock(minutes: Any) -> str:
        return dt.datetime.fromtimestamp(int(minutes) * 60, zone).strftime("%H:%M")

    return [
        f"{nigiri_tt.get_location_name(getattr(leg, 'from'))} → "
        f"{nigiri_tt.get_location_name(leg.to)} {clock(leg.dep_time)}–{clock(leg.arr_time)}"
        for leg in journey.legs
    ]


def minute_timetable(timetable: Timetable) -> Timetable:
    """``timetable`` as nigiri reads the feed the bench writes for it: stop times cut to the
    minute (07:52:15 becomes 07:52), footpaths and same-stop slack rounded up to whole
    minutes. Where our planner arrives on it no later than pynigiri, pynigiri's earlier
    arrival on the real timetable is its minutes, not a journey our search missed."""
    def up(seconds: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        rounded: npt.NDArray[np.int32] = (-(-seconds // 60) * 60).astype(np.int32)
        return rounded
    slack = timetable.stop_slack.copy()
    own = slack > 0  # -1: the query's slack (whole minutes), FORBIDDEN: no transfer
    slack[own] = up(slack[own])
    return dataclasses.replace(
        timetable, arrival=(timetable.arrival // 60 * 60).astype(np.int32),
        departure=(timetable.departure // 60 * 60).astype(np.int32),
        footpath_seconds=up(timetable.footpath_seconds), stop_slack=slack,
        # the caches of the original (day views, lookups) hold its times
        meta={key: value for key, value in timetable.meta.items() if not key.startswith("_")})


def _compare(ours: int | None, theirs: int | None) -> str:
    if ours is None and theirs is None:
        return "both_unreachable"
    if ours is None:
        return "only_pynigiri"
    if theirs is None:
        return "only_ours"
    if abs(ours - theirs) < 60:
        return "agree"
    return "ours_earlier" if ours < theirs else "pynigiri_earlier"


def _iso(seconds: int | None, zone: dt.tzinfo) -> str | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, zone).isoformat()


def _draw_pairs(timetable: Timetable, day: dt.date, count: int,
                rng: random.Random) -> list[_Pair]:
    """Random (origin, destination, departure minute) triples for ``day``.

    Origins are stops some trip of the day leaves, destinations stops some trip of the day
    reaches; pairs within walking reach of each other (a shared footpath neighbour) are
    redrawn.
    """
    origins, destinations = _served_stops(timetable, day)
    if not origins or not destinations:
        raise InvalidInput(f"--date: no trips run on {day.isoformat()} (the feed's calendar "
                           f"starts {timetable.first_date.isoformat()})")
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=timezone(timetable))
    reach: dict[int, set[int]] = {}

    def near(stop: int) -> set[int]:
        if stop not in reach:
            reach[stop] = set(access_options(timetable, _endpoint(timetable, stop)))
        return reach[stop]

    pairs: list[_Pair] = []
    attempts = 0
    while len(pairs) < count:
        attempts += 1
        if attempts > 100 * count + 1000:
            raise InvalidInput(f"{day.isoformat()}: too few stop pairs out of walking reach "
                               "of each other in this feed")
        origin, destination = rng.choice(origins), rng.choice(destinations)
        if near(origin) & near(destination):
            continue
        minute = rng.randrange(24 * 60)
        pairs.append(_Pair(origin, destination, midnight + dt.timedelta(minutes=minute)))
    return pairs


def _served_stops(timetable: Timetable, day: dt.date) -> tuple[list[int], list[int]]:
    """Boardable stops (location_type 0) with a departure, and with an arrival, on ``day``."""
    view = raptor.day_view(timetable, day)
    today = view.trip[view.shift == 0]
    patterns = np.unique(timetable.trip_pattern[today])
    leaves = np.zeros(timetable.n_stops, dtype=np.bool_)
    reaches = np.zeros(timetable.n_stops, dtype=np.bool_)
    for r in patterns.tolist():
        lo, hi = int(timetable.pattern_stop_offset[r]), int(timetable.pattern_stop_offset[r + 1])
        stops = timetable.pattern_stops[lo:hi]
        leaves[stops[:-1][timetable.pattern_board[lo:hi - 1]]] = True
        reaches[stops[1:][timetable.pattern_alight[lo + 1:hi]]] = True
    boardable = np.asarray(timetable.meta["stop_location_type"]) == 0
    return (np.flatnonzero(leaves & boardable).tolist(),
            np.flatnonzero(reaches & boardable).tolist())


def _write_nigiri_feed(source: Path, target: Path, timetable: Timetable,
                       min_transfer_seconds: int) -> None:
    """The feed pynigiri reads: the source's files, our footpaths as transfers.txt.

    ``trips.txt`` loses ``block_id`` (nigiri would ride through blocks seated; we do not), and
    ``shapes.txt`` is left out.
    """
    target.mkdir(parents=True)
    for name, data in _feed_files(source):
        if name == "trips.txt":
            (target / name).write_text(_without_column(data, "block_id"), encoding="utf-8")
        elif name not in _LEFT_OUT:
            (target / name).write_bytes(data())
    ids: list[str] = timetable.meta["stop_ids"]
    location_type = timetable.meta["stop_location_type"]
    with (target / "transfers.txt").open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["from_stop_id", "to_stop_id", "transfer_type", "min_transfer_time"])
        for p in range(timetable.n_stops):
            own = int(timetable.stop_slack[p])
            if location_type[p] == 0 and own != FORBIDDEN:
                slack = min_transfer_seconds if own < 0 else own
                writer.writerow([ids[p], ids[p], 2, _minutes(slack) * 60])
            lo, hi = int(timetable.footpath_offset[p]), int(timetable.footpath_offset[p + 1])
            for to, seconds in zip(timetable.footpath_to[lo:hi].tolist(),
                                   timetable.footpath_seconds[lo:hi].tolist(), strict=True):
                writer.writerow([ids[p], ids[to], 2, _minutes(seconds) * 60])


def _feed_files(source: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(base name, reader) of each file of a GTFS folder or zip, one folder deep at most."""
    if source.is_dir():
        root = source
        if not (root / "stops.txt").is_file():
            children = [c for c in root.iterdir() if c.is_dir() and c.name[0] not in "._"]
            if len(children) == 1:
                root = children[0]
        for child in sorted(root.iterdir()):
            if child.is_file():
                yield child.name, child.read_bytes
        return
    if not zipfile.is_zipfile(source):
        raise InvalidInput(f"{source}: neither a GTFS zip nor a folder")
    with zipfile.ZipFile(source) as archive:
        members: dict[str, str] = {}
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        for member in sorted(names, key=lambda m: m.count("/"), reverse=True):
            parts = PurePosixPath(member).parts
            if len(parts) <= 2 and not parts[0].startswith("__MACOSX"):
                members[parts[-1]] = member  # the shallowest copy wins
        for name, member in sorted(members.items()):
            yield name, functools.partial(archive.read, member)


def _without_column(data: Callable[[], bytes], column: str) -> str:
    rows = list(csv.reader(io.StringIO(data().decode("utf-8-sig"))))
    if not rows:
        return ""
    keep = [i for i, name in enumerate(rows[0]) if name.strip() != column]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([row[i] if i < len(row) else "" for i in keep])
    return out.getvalue()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence nigiri's loader log, which its C++ side writes straight to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with Path(os.devnull).open("wb") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def parse_day(day: str) -> dt.date:
    """``--date``: a service date, YYYY-MM-DD (one clear line when it is not)."""
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"--date: {day!r} is not a date (YYYY-MM-DD)") from None


def feed_options(queries: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options of the feed benchmarks: the feed, the day, how many queries, the seed."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed([
            click.option("--feed", "feed_path", required=True,
                         type=click.Path(path_type=Path), help="GTFS zip or folder."),
            click.option("--date", "day", required=True, help="Service date, YYYY-MM-DD."),
            click.option("--queries", type=click.IntRange(1, 100_000), default=queries,
                         show_default=True),
            click.option("--seed", type=int, default=1, show_default=True),
            json_option,
        ]):
            command = option(command)
        return command
    return decorate


def load_mobility(gbfs_dir: Path | None, ondemand_dir: Path | None) -> Mobility:
    """Bike systems and on-demand services read from folders (for benchmarks)."""
    bikes = []
    if gbfs_dir is not None:
        where, read = gbfs.read_folder(gbfs_dir)
        bikes.append(BikeNetwork.build(gbfs_dir.name,
                                       gbfs.read_system(where, read, gbfs_dir.name)))
    taxis: tuple[ondemand.Service, ...] = ()
    if ondemand_dir is not None:
        path = ondemand_dir / "services.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path}: cannot read it ({exc})") from None
        taxis = ondemand.read_services(document, str(path))
    return Mobility(bikes=tuple(bikes), taxis=taxis)


def _beside(feed_path: Path, given: Path | None, name: str) -> Path | None:
    """``given``, else the demo layout's sibling folder (``gtfs/`` beside ``gbfs/`` ...)."""
    if given is not None:
        return given
    sibling = feed_path.parent / name
    return sibling if sibling.is_dir() else None


@click.command("plan")
@feed_options(queries=200)
@click.option("--modes", help="Also time multimodal queries with these modes "
                              "(e.g. walk,bus,bike,taxi) on the same pairs as coordinates.")
@click.option("--gbfs", "gbfs_dir", type=click.Path(path_type=Path),
              help="GBFS folder for --modes (default: gbfs/ beside the feed).")
@click.option("--ondemand", "ondemand_dir", type=click.Path(path_type=Path),
              help="On-demand services folder for --modes (default: ondemand/ beside it).")
@click.option("--ferrobus/--no-ferrobus", "with_ferrobus", default=True, show_default=True,
              help="Also time our kernel beside ferrobus's on the same pairs (bench kernel).")
@click.option("--block", type=click.IntRange(1, 1000), default=BLOCK, show_default=True,
              help="Queries each side answers in turn (1: alternate query by query).")
def plan_command(feed_path: Path, day: str, queries: int, seed: int, as_json: bool,
                 modes: str | None, gbfs_dir: Path | None, ondemand_dir: Path | None,
                 with_ferrobus: bool, block: int) -> None:
    """Time our planner and pynigiri on the same random stop-to-stop queries of one day."""
    date = parse_day(day)
    chosen = parse_modes(modes)
    mobility = None if chosen is None else load_mobility(
        _beside(feed_path, gbfs_dir, "gbfs") if "bike" in chosen else None,
        _beside(feed_path, ondemand_dir, "ondemand") if "taxi" in chosen else None)
    with progress(queries, "loading the feed into both engines", quiet=as_json) as step:
        result = run_bench(feed_path, date, queries, seed,
                           on_query=lambda i: step(f"query {min(i + 1, queries)}/{queries}"),
                           modes=chosen, mobility=mobility, with_ferrobus=with_ferrobus,
                           block=block)
    document = result.as_dict()
    emit(as_json, document, _table(document))


def _table(d: dict[str, Any]) -> str:
    lines = [
        f"{d['feed']} on {d['date']}: {d['queries']} stop-to-stop queries (seed {d['seed']}, "
        f"{d['stops']} stops, ≤{d['max_transfers']} transfers, "
        f"{d['min_transfer_seconds']} s slack; each side answers {d['block']} in turn)",
        f"{'':30}{'load s':>8}{'p50 ms':>10}{'p90 ms':>10}",
        f"{'ours request (no socket)':30}{'':>8}{d['request_p50_ms']:>10.3f}"
        f"{d['request_p90_ms']:>10.3f}",
        f"{'ours WSGI app (+Flask, hooks)':30}{'':>8}{d['wsgi_p50_ms']:>10.3f}"
        f"{d['wsgi_p90_ms']:>10.3f}",
        f"{'pynigiri route + document':30}{'':>8}{d['pynigiri_document_p50_ms']:>10.3f}"
        f"{d['pynigiri_document_p90_ms']:>10.3f}",
        f"{'ours plan()':30}{d['ours_load_seconds']:>8.2f}{d['ours_p50_ms']:>10.3f}"
        f"{d['ours_p90_ms']:>10.3f}",
        f"{'ours raptor.run only':30}{'':>8}{d['ours_kernel_p50_ms']:>10.3f}"
        f"{d['ours_kernel_p90_ms']:>10.3f}",
        f"{'pynigiri route()':30}{d['pynigiri_load_seconds']:>8.2f}"
        f"{d['pynigiri_p50_ms']:>10.3f}{d['pynigiri_p90_ms']:>10.3f}",
        f"ratio ours/pynigiri (p50): request/route+document {d['request_ratio']}, "
        f"WSGI/route+document {d['wsgi_ratio']}; plan()/route() {d['ratio']}, "
        f"raptor.run/route() {d['kernel_ratio']}",
        f"query by query alternating: request {d['request_alternating_p50_ms']:.3f} ms, "
        f"pynigiri route + document {d['pynigiri_document_alternating_p50_ms']:.3f} ms, "
        f"ratio {d['request_ratio_alternating']}",
        *([f"{'coordinates, transit':22}{'':>8}{d['coordinate_p50_ms']:>10.3f}"
           f"{d['coordinate_p90_ms']:>10.3f}",
           f"{'coordinates, ' + d['modes']:30}{'':>8}{d['multimodal_p50_ms']:>10.3f}"
           f"{d['multimodal_p90_ms']:>10.3f}",
           f"multimodal p50 / transit-only p50: {d['multimodal_ratio']} (stop to stop), "
           f"{d['multimodal_coordinate_ratio']} (same coordinates)"] if "modes" in d else []),
        *[f"{row['engine'] + ' (kernel bench)':30}{row.get('load_seconds', 0):>8.2f}"
          f"{row['p50_ms']:>10.3f}{row['p90_ms']:>10.3f}"
          + (f"  ours/ferrobus {row['ratio']}" if "ratio" in row else "")
          if "error" not in row else f"{row['engine']}: {row['error']}"
          for row in d["kernel"]],
        f"same earliest arrival (< 60 s apart): {d['agree']}/{d['queries']} "
        f"({d['both_unreachable']} unreachable for both); ours earlier {d['ours_earlier']} "
        f"({d['ours_earlier_end_walks']} ending with two walks), "
        f"pynigiri earlier {d['pynigiri_earlier']}, only ours {d['only_ours']}, "
        f"only pynigiri {d['only_pynigiri']}",
        f"pynigiri earlier, explained by its whole minutes (ours on the minute-cut timetable "
        f"arrives as early): {d['pynigiri_earlier_rounding']}; not explained: "
        f"{d['pynigiri_earlier_unexplained']}",
    ]
    for x in d["disagree"]:
        lines.append(f"  {x['origin']} → {x['destination']} at {x['departure'][11:16]}: "
                     f"ours {(x['ours'] or '-')[11:19] or '-'}, "
                     f"pynigiri {(x['pynigiri'] or '-')[11:19] or '-'}")
    return "\n".join(lines)
