"""``maas bench kernel``: our RAPTOR kernel alone beside ferrobus's query alone, same pairs.

:func:`kernel_rows` is the piece ``maas bench plan`` shows as its "kernel" column; the command
draws its own pairs and prints the same rows.

What is timed
  - ours: :func:`gtfs.raptor.run` with access and egress prepared as arrays (the stop endpoint
    and its closed footpaths), the day view built beforehand — the compiled search and its
    label arrays, nothing of journey extraction;
  - ferrobus (a Rust RAPTOR, ``pip install ferrobus``; a benchmark peer only, imported here
    and nowhere else): ``find_route`` on two ``TransitPoint`` made beforehand at the two
    stops' coordinates. ``find_route`` returns the earliest arrival with its transfer count, as
    our run returns labels.

What is made the same
  - the feed: ferrobus reads a folder copy of it without ``shapes.txt`` (no routing use) and
    ``transfers.txt`` (our footpaths, which apply it, come in as the street network below),
    filtered to the service date of the departures;
  - walking: ferrobus needs an OpenStreetMap street network. We write one (``osmium``, a
    ``bench`` extra): a node at every stop and a footway along every one of our (closed)
    footpaths, plus one spoke per stop to a hub 55 km away so the network is one connected
    piece without offering any walk a rider would take. ferrobus walks those ways at its own
    speed (straight lines, no detour factor: a little faster than ours) up to our chain cap
    (``max_transfer_time``), and each point reaches at most as many stops as our endpoint has
    footpath neighbours, within the same cap;
  - at most 5 transfers on both sides.

What is not the same
  - ferrobus's model holds only the trips of the filtered date: no previous day's trips after
    midnight (we ride those), so departures are drawn between 06:00 and 22:00;
  - ferrobus answers one earliest arrival (its ``find_route`` prunes harder), we keep the
    Pareto set over arrival and transfers per round;
  - ferrobus's transfer slack is its own (no same-stop minimum); ours is 60 s.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import importlib
import importlib.metadata
import random
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import click
import numpy as np
import orjson

from gtfs import raptor
from gtfs.feed import read_feed
from gtfs.planner import Endpoint, Query, access_options, egress_options, search, service_time
from gtfs.timetable import Timetable, compile_feeds, walk_seconds
from maas.bench.timing import percentiles, timed
from maas.core.cli import emit, json_option, progress
from maas.core.errors import InvalidInput

MAX_TRANSFERS = 5
SLACK = 60
_LEFT_OUT = frozenset({"shapes.txt", "transfers.txt"})
_HUB_DEGREES = 0.5  # the hub that joins the street network lies this far north of the stops


@dataclasses.dataclass(frozen=True)
class KernelQuery:
    """One timed query: stop indexes of ``timetable`` and an aware departure."""

    origin: int
    destination: int
    departure: dt.datetime


def kernel_rows(feed_path: Path, pairs: Sequence[tuple[str, str]],
                departures: Sequence[dt.datetime], *, timetable: Timetable | None = None,
                max_transfers: int = MAX_TRANSFERS,
                on_query: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Time our kernel and ferrobus's query on the same (origin, destination) stop ids.

    ``departures[i]`` (aware, all on one service date of the feed's zone) goes with
    ``pairs[i]``. ``timetable`` is the feed already compiled (else it is read here). Returns
    one row per engine: ``engine``, ``queries``, ``p50_ms``, ``p90_ms``, ``load_seconds`` and,
    for ferrobus, ``version`` and ``ratio`` (ours / ferrobus, p50) — or ``error`` when it
    cannot be imported or cannot load the feed. The first pair is a warm-up, not timed.
    """
    if len(pairs) != len(departures) or len(pairs) < 2:
        raise InvalidInput("give at least two pairs, each with its departure")
    started = time.perf_counter()
    if timetable is None:
        timetable = compile_feeds([(feed_path.stem or "feed", read_feed(feed_path))])
    loaded = time.perf_counter() - started
    queries = []
    for (origin, destination), departure in zip(pairs, departures, strict=True):
        o, d = timetable.stop_index(origin), timetable.stop_index(destination)
        if o < 0 or d < 0:
            raise InvalidInput(f"unknown stop {origin if o < 0 else destination!r}")
        queries.append(KernelQuery(o, d, departure))
    days = {service_time(timetable, q.departure)[0] for q in queries}
    if len(days) != 1:
        raise InvalidInput("all departures must fall on one service date")
    day = days.pop()

    view = raptor.day_view(timetable, day)
    ours_calls = [_our_call(timetable, view, query, max_transfers) for query in queries]
    peer = _ferrobus(feed_path, timetable, day)
    if isinstance(peer, str):
        ours = _interleaved(ours_calls, None, on_query)[0]
        return [_row("ours raptor.run", ours, loaded),
                {"engine": "ferrobus find_route", "error": peer}]
    ferrobus, model, load_seconds = peer
    theirs_calls = _ferrobus_calls(ferrobus, model, timetable, queries, max_transfers)
    ours, theirs = _interleaved(ours_calls, theirs_calls, on_query)
    rows = [_row("ours raptor.run", ours, loaded),
            {**_row("ferrobus find_route", theirs, load_seconds),
             "version": importlib.metadata.version("ferrobus")}]
    rows[1]["ratio"] = (round(rows[0]["p50_ms"] / rows[1]["p50_ms"], 3) if rows[1]["p50_ms"]
                        else None)
    return rows


def _row(engine: str, values: list[float], load_seconds: float) -> dict[str, Any]:
    p50, p90 = percentiles(values[1:], 50, 90, digits=4)
    return {"engine": engine, "queries": len(values) - 1, "p50_ms": p50, "p90_ms": p90,
            "load_seconds": round(load_seconds, 3)}


def _interleaved(ours: Sequence[Callable[[], object]],
                 theirs: Sequence[Callable[[], object]] | None,
                 on_query: Callable[[int], None] | None) -> tuple[list[float], list[float]]:
    """Each query on our side, then on theirs, so both see the same machine load."""
    ours_ms: list[float] = []
    theirs_ms: list[float] = []
    for index, call in enumerate(ours):
        ours_ms.append(timed(call)[0])
        if theirs is not None:
            theirs_ms.append(timed(theirs[index])[0])
        if on_query is not None:
            on_query(index)
    return ours_ms, theirs_ms


def _ends(timetable: Timetable, stop: int, egress: bool) -> tuple[raptor.I32, raptor.I32]:
    end = Endpoint(float(timetable.stop_lat[stop]), float(timetable.stop_lon[stop]), "", stop)
    options = (egress_options if egress else access_options)(timetable, end)
    return (np.asarray(list(options), dtype=np.int32),
            np.asarray([walk for walk, _ in options.values()], dtype=np.int32))


def _our_call(timetable: Timetable, view: raptor.DayView, query: KernelQuery,
              max_transfers: int) -> Callable[[], object]:
    access_stops, access_times = _ends(timetable, query.origin, egress=False)
    egress_stops, egress_times = _ends(timetable, query.destination, egress=True)
    access_times += service_time(timetable, query.departure)[1]
    return functools.partial(raptor.run, timetable, view, access_stops, access_times,
                             egress_stops, egress_times, max_transfers, SLACK)


def _ferrobus(feed_path: Path, timetable: Timetable, day: dt.date
              ) -> tuple[Any, Any, float] | str:
    """(the ferrobus module, its model of ``day``, seconds to build it), or why not."""
    try:
        ferrobus = importlib.import_module("ferrobus")
        osmium = importlib.import_module("osmium")
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[bench]')"
    with tempfile.TemporaryDirectory(prefix="maas-bench-kernel-") as folder:
        started = time.perf_counter()
        gtfs_dir = Path(folder) / "gtfs"
        _copy_feed(feed_path, gtfs_dir)
        streets = Path(folder) / "streets.osm.pbf"
        _write_streets(osmium, timetable, streets)
        try:
            model = ferrobus.create_transit_model(str(streets), [str(gtfs_dir)], day,
                                                  _chain_cap(timetable))
        except (RuntimeError, ValueError) as exc:
            return f"ferrobus could not load the feed: {exc}"
        return ferrobus, model, time.perf_counter() - started


def _chain_cap(timetable: Timetable) -> int:
    return walk_seconds(timetable.meta["options"]["max_walk_chain_m"])


def _ferrobus_calls(ferrobus: Any, model: Any, timetable: Timetable,
                    queries: Sequence[KernelQuery], max_transfers: int
                    ) -> list[Callable[[], object]]:
    """``find_route`` per query on points made beforehand (as our access/egress arrays)."""
    points: dict[int, Any] = {}

    def point(stop: int) -> Any:
        if stop not in points:
            reach = int(timetable.footpath_offset[stop + 1] - timetable.footpath_offset[stop])
            points[stop] = ferrobus.create_transit_point(
                float(timetable.stop_lat[stop]), float(timetable.stop_lon[stop]), model,
                _chain_cap(timetable), reach + 1)
        return points[stop]

    return [functools.partial(ferrobus.find_route, model, point(query.origin),
                              point(query.destination),
                              service_time(timetable, query.departure)[1], max_transfers)
            for query in queries]


def _copy_feed(source: Path, target: Path) -> None:
    """The feed's files (a zip's or a folder's, flattened) without those left out;
    ``stops.txt`` with blanks around its fields removed (ferrobus's CSV reader refuses
    " 40.87" as a number, which the Bronx feed writes)."""
    target.mkdir(parents=True)
    if source.is_dir():
        for child in sorted(source.rglob("*.txt")):
            if child.name not in _LEFT_OUT:
                shutil.copyfile(child, target / child.name)
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                name = PurePosixPath(info.filename).name
                if not info.is_dir() and name.endswith(".txt") and name not in _LEFT_OUT:
                    (target / name).write_bytes(archive.read(info))
    else:
        raise InvalidInput(f"{source}: neither a GTFS zip nor a folder")
    stops = target / "stops.txt"
    if stops.is_file():
        with stops.open(encoding="utf-8-sig", newline="") as stream:
            rows = [[field.strip() for field in row] for row in csv.reader(stream)]
        with stops.open("w", encoding="utf-8", newline="") as stream:
            csv.writer(stream).writerows(rows)


def _write_streets(osmium: Any, timetable: Timetable, path: Path) -> None:
    """A street network of our footpaths (module doc), as an OSM PBF file."""
    node, way = osmium.osm.mutable.Node, osmium.osm.mutable.Way
    writer = osmium.SimpleWriter(str(path))
    try:
        lats, lons = timetable.stop_lat.tolist(), timetable.stop_lon.tolist()
        for stop, (lat, lon) in enumerate(zip(lats, lons, strict=True)):
            writer.add_node(node(id=stop + 1, location=(lon, lat), tags={}))
        hub = timetable.n_stops + 1
        writer.add_node(node(id=hub, location=(float(np.mean(lons)),
                                               float(np.mean(lats)) + _HUB_DEGREES), tags={}))
        footway = {"highway": "footway"}
        sources = np.repeat(np.arange(timetable.n_stops), np.diff(timetable.footpath_offset))
        next_id = 1
        for a, b in zip(sources.tolist(), timetable.footpath_to.tolist(), strict=True):
            if a < b:
                writer.add_way(way(id=next_id, nodes=[a + 1, b + 1], tags=footway))
                next_id += 1
        for stop in range(timetable.n_stops):
            writer.add_way(way(id=next_id + stop, nodes=[stop + 1, hub], tags=footway))
    finally:
        writer.close()


def draw_pairs(timetable: Timetable, day: dt.date, count: int, seed: int
               ) -> tuple[list[tuple[str, str]], list[dt.datetime]]:
    """``count`` random (origin, destination) stop ids served by some pattern, out of walking
    reach of each other, each with a departure minute between 06:00 and 22:00 of ``day``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible draws, nothing secret
    served = sorted({int(s) for s in timetable.pattern_stops.tolist()})
    if len(served) < 2:
        raise InvalidInput("the feed has fewer than two served stops")
    ids: list[str] = timetable.meta["stop_ids"]
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=_zone(timetable))
    pairs: list[tuple[str, str]] = []
    departures: list[dt.datetime] = []
    for _ in range(100 * count):
        if len(pairs) == count:
            break
        origin, destination = rng.sample(served, 2)
        lo, hi = timetable.footpath_offset[origin], timetable.footpath_offset[origin + 1]
        if destination in timetable.footpath_to[lo:hi]:
            continue
        pairs.append((ids[origin], ids[destination]))
        departures.append(midnight + dt.timedelta(minutes=rng.randrange(6 * 60, 22 * 60)))
    if len(pairs) < count:
        raise InvalidInput("too few stop pairs out of walking reach of each other")
    return pairs, departures


def journeys_of(timetable: Timetable, pairs: Sequence[tuple[str, str]],
                departures: Sequence[dt.datetime], max_transfers: int = MAX_TRANSFERS
                ) -> list[list[list[Any]]]:
    """Per query, the journeys the planner extracts from one kernel run (stop endpoints, the
    kernel's access and egress), each a list of legs ``[mode, departure, arrival, from stop,
    to stop, trip, board position, alight position]``: what an A/B comparison of two builds
    of the kernel compares."""
    result: list[list[list[Any]]] = []
    for (origin, destination), departure in zip(pairs, departures, strict=True):
        ends = []
        for stop_id in (origin, destination):
            stop = timetable.stop_index(stop_id)
            if stop < 0:
                raise InvalidInput(f"unknown stop {stop_id!r}")
            ends.append(Endpoint(float(timetable.stop_lat[stop]),
                                 float(timetable.stop_lon[stop]), stop_id, stop))
        day, seconds = service_time(timetable, departure)
        query = Query(ends[0], ends[1], departure, max_transfers=max_transfers,
                      min_transfer_seconds=SLACK)
        found, _ = search(timetable, raptor.day_view(timetable, day), query,
                          access_options(timetable, ends[0]),
                          egress_options(timetable, ends[1]), seconds)
        result.append([[[leg.mode, leg.departure, leg.arrival, leg.from_stop, leg.to_stop,
                         leg.trip, leg.board_pos, leg.alight_pos] for leg in journey.legs]
                       for journey in found])
    return result


def save_journeys(path: Path, feed: str, pairs: Sequence[tuple[str, str]],
                  departures: Sequence[dt.datetime], journeys: Sequence[Any]) -> None:
    """Write the queries and their journeys (:func:`journeys_of`) for a later ``--against``."""
    document = {"feed": feed, "queries": [[o, d, t.isoformat()] for (o, d), t
                                          in zip(pairs, departures, strict=True)],
                "journeys": list(journeys)}
    path.write_bytes(orjson.dumps(document))


def load_queries(path: Path) -> tuple[list[tuple[str, str]], list[dt.datetime], list[Any]]:
    """The queries and journeys :func:`save_journeys` wrote."""
    try:
        document = orjson.loads(path.read_bytes())
        pairs = [(str(o), str(d)) for o, d, _ in document["queries"]]
        departures = [dt.datetime.fromisoformat(t) for _, _, t in document["queries"]]
        journeys = list(document["journeys"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"--against: {path}: not a file --save wrote ({exc})") from None
    if len(journeys) != len(pairs):
        raise InvalidInput(f"--against: {path}: {len(pairs)} queries, "
                           f"{len(journeys)} journey lists")
    return pairs, departures, journeys


def compare_journeys(pairs: Sequence[tuple[str, str]], departures: Sequence[dt.datetime],
                     saved: Sequence[Any], current: Sequence[Any], examples: int = 5
                     ) -> dict[str, Any]:
    """How many queries got other journeys than saved, and how many of those other arrivals
    or numbers of trips (a different but equally good journey counts only in the first)."""
    differing: list[dict[str, Any]] = []
    arrivals = 0
    for index, (old, new) in enumerate(zip(saved, current, strict=True)):
        if old == new:
            continue
        if _summary(old) != _summary(new):
            arrivals += 1
        differing.append({"query": index, "origin": pairs[index][0],
                          "destination": pairs[index][1],
                          "departure": departures[index].isoformat(),
                          "saved": old, "now": new})
    return {"queries": len(saved), "differing": len(differing),
            "differing_arrivals": arrivals, "examples": differing[:examples]}


def _summary(journeys: Sequence[Any]) -> list[tuple[int, int]]:
    """(arrival, trips) of each journey."""
    return [(legs[-1][2], sum(1 for leg in legs if leg[5] >= 0)) for legs in journeys]


def _zone(timetable: Timetable) -> dt.tzinfo:
    from gtfs.planner import timezone

    return timezone(timetable)


@click.command("kernel")
@click.option("--feed", "feed_path", required=True, type=click.Path(path_type=Path),
              help="GTFS zip or folder.")
@click.option("--date", "day", required=True, help="Service date, YYYY-MM-DD.")
@click.option("--queries", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--ferrobus/--no-ferrobus", "with_ferrobus", default=True, show_default=True,
              help="Time ferrobus beside us (--no-ferrobus: ours only).")
@click.option("--save", "save_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the queries and the journeys this build finds to FILE.")
@click.option("--against", "against_path",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Run the queries of FILE (written by --save, maybe by another build) and "
                   "count those whose journeys differ; --date, --queries and --seed are then "
                   "those of FILE.")
@json_option
def kernel_command(feed_path: Path, day: str, queries: int, seed: int, with_ferrobus: bool,
                   save_path: Path | None, against_path: Path | None, as_json: bool) -> None:
    """Our RAPTOR kernel alone beside ferrobus's query alone, on the same random pairs.

    With --save and --against, an A/B of two builds of the kernel: save the journeys of one,
    then compare another's on the same queries.
    """
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"--date: {day!r} is not a date (YYYY-MM-DD)") from None
    if not feed_path.exists():
        raise InvalidInput(f"--feed: {feed_path}: no such file or folder")
    saved: list[Any] | None = None
    if against_path is not None:
        pairs, departures, saved = load_queries(against_path)
        queries = len(pairs) - 1
    with progress(queries + 1, "compiling the feed", quiet=as_json) as step:
        timetable = compile_feeds([(feed_path.stem or "feed", read_feed(feed_path))])
        if saved is None:
            pairs, departures = draw_pairs(timetable, date, queries + 1, seed)
        else:
            date = service_time(timetable, departures[0])[0]
        if with_ferrobus:
            rows = kernel_rows(feed_path, pairs, departures, timetable=timetable,
                               on_query=lambda i: step(f"query {i + 1}/{queries + 1}"))
        else:
            view = raptor.day_view(timetable, date)
            calls = [_our_call(timetable, view, KernelQuery(
                timetable.stop_index(o), timetable.stop_index(d), t), MAX_TRANSFERS)
                for (o, d), t in zip(pairs, departures, strict=True)]
            rows = [_row("ours raptor.run", _interleaved(calls, None, None)[0], 0.0)]
        found = journeys_of(timetable, pairs, departures) if (saved or save_path) else []
    if any("error" in row for row in rows[1:]) and not as_json:
        click.echo(f"ferrobus: {rows[1]['error']}", err=True)
    document: dict[str, Any] = {"feed": str(feed_path), "date": date.isoformat(),
                                "seed": None if saved is not None else seed, "rows": rows}
    if save_path is not None:
        save_journeys(save_path, str(feed_path), pairs, departures, found)
        document["saved"] = str(save_path)
    if saved is not None:
        document["against"] = {"file": str(against_path),
                               **compare_journeys(pairs, departures, saved, found)}
    emit(as_json, document, _table(document))


def _table(document: dict[str, Any]) -> str:
    lines = [f"{document['feed']} on {document['date']} (seed {document['seed']})",
             f"{'':22}{'load s':>8}{'p50 ms':>10}{'p90 ms':>10}"]
    for row in document["rows"]:
        if "error" in row:
            lines.append(f"{row['engine']:22}  {row['error']}")
            continue
        lines.append(f"{row['engine']:22}{row['load_seconds']:>8.2f}{row['p50_ms']:>10.4f}"
                     f"{row['p90_ms']:>10.4f}")
    ferro = document["rows"][-1]
    if "ratio" in ferro:
        lines.append(f"ratio ours/ferrobus (p50): {ferro['ratio']}")
    if "saved" in document:
        lines.append(f"journeys saved to {document['saved']}")
    if "against" in document:
        against = document["against"]
        lines.append(f"against {against['file']}: {against['differing']} of "
                     f"{against['queries']} queries with other journeys "
                     f"({against['differing_arrivals']} with other arrivals or trips)")
        for example in against["examples"]:
            lines.append(f"  query {example['query']}: {example['origin']} -> "
                         f"{example['destination']} at {example['departure']}")
    return "\n".join(lines)


__all__ = ["KernelQuery", "compare_journeys", "draw_pairs", "journeys_of", "kernel_command",
           "kernel_rows", "load_queries", "save_journeys"]
