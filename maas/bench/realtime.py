"""``maas bench realtime``: applying GTFS-Realtime trip updates, and plans with and without them.

One run compiles a GTFS feed, writes a synthetic trip-update feed for one service day (real
protobuf, gtfs-realtime-bindings) of ``--updates`` stop-time updates spread over trips of the
whole day (per stop: an arrival and a departure, as a delay or an absolute time; about 1 % of
the trips canceled and 1 % of the stops skipped), and times

- what the worker does per poll: decoding the protobuf (:func:`gtfs.realtime.core.decode`) and
  matching it into the overlay (:func:`gtfs.realtime.core.trip_updates`) — the "apply";
  storing it (:meth:`TripOverlay.to_document`) is timed apart;
- what a web worker does once per new version: reading the stored document
  (:meth:`TripOverlay.from_document`) and laying the estimates into the day view
  (:func:`gtfs.realtime.core.overlay_view`);
- the plan a rider gets (``plan()`` and the plan document, as ``GET /plan`` answers it
  in-process), on the same random stop pairs and departure minutes, interleaved query by
  query: once without the overlay (the peer) and once with it.

Timings are :func:`maas.bench.timing.timed`; p50 and p90 :func:`maas.bench.timing.percentiles`.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from pathlib import Path
from typing import Any

import click
import numpy as np
from google.transit import gtfs_realtime_pb2 as rt

from gtfs import raptor
from gtfs.itinerary import plan_document
from gtfs.planner import Endpoint, Query, plan, timezone
from gtfs.realtime import core
from gtfs.timetable import Timetable, compile_feeds
from maas.bench.plan import _draw_pairs, _endpoint, feed_options, parse_day
from maas.bench.timing import percentiles, timed
from maas.core.cli import emit, progress

FEED = "bench"
REPEATS = 3  # each query, each side; the fastest counts (other sessions share the machine)


def synthetic_updates(timetable: Timetable, day: dt.date, updates: int, now: int,
                      rng: random.Random, overtaking: bool = False) -> tuple[bytes, int]:
    """A trip-update feed of about ``updates`` stop-time updates on ``day``; (bytes, count).

    Delays are a route's congestion (0-10 min) plus a trip's jitter, growing along the trip;
    with ``overtaking`` every trip draws its own delay (-1 to +15 min), so many trips overtake
    the trip before them (a worst case for the FIFO lanes)."""
    congestion: dict[int, int] = {}
    view = raptor.day_view(timetable, day)
    trips = sorted(set(view.trip[view.shift == 0].tolist()))
    rng.shuffle(trips)
    midnight = int(dt.datetime.combine(day, dt.time(12), tzinfo=timezone(timetable))
                   .timestamp()) - 12 * 3600
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = now
    stop_ids = timetable.meta["stop_ids"]
    count = 0
    for trip in trips:
        if count >= updates:
            break
        entity = message.entity.add()
        entity.id = f"e{trip}"
        update = entity.trip_update
        update.trip.trip_id = timetable.meta["trip_ids"][trip]
        update.trip.start_date = f"{day:%Y%m%d}"
        update.timestamp = now
        if rng.random() < 0.01:
            update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
            continue
        pattern = int(timetable.trip_pattern[trip])
        base = int(timetable.pattern_stop_offset[pattern])
        n = int(timetable.pattern_stop_offset[pattern + 1]) - base
        offset = int(timetable.trip_time_offset[trip])
        # congestion per route, a little jitter per trip, growing along the trip: buses of a
        # line run late together (with --overtaking, each trip on its own, up to 15 min)
        route = int(timetable.pattern_route[pattern])
        delay = (rng.randrange(-60, 900) if overtaking
                 else congestion.setdefault(route, rng.randrange(0, 600)) + rng.randrange(-60, 90))
        for i in range(min(n, updates - count)):
            stu = update.stop_time_update.add()
            stu.stop_id = stop_ids[int(timetable.pattern_stops[base + i])]
            if rng.random() < 0.01:
                stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED
            elif i % 2:
                stu.arrival.time = midnight + int(timetable.arrival[offset + i]) + delay
                stu.departure.time = midnight + int(timetable.departure[offset + i]) + delay
            else:
                stu.arrival.delay = delay
                stu.departure.delay = delay
            delay = max(-60, delay + (rng.randrange(-30, 60) if overtaking
                                      else rng.randrange(0, 20)))
            count += 1
    return message.SerializeToString(), count


def run(feed_path: Path, day: dt.date, updates: int, queries: int, seed: int,
        step: Any, overtaking: bool = False) -> dict[str, Any]:
    """The benchmark (see the module notes); returns the figures."""
    from gtfs.feed import read_feed

    load_ms, timetable = timed(lambda: compile_feeds([(FEED, read_feed(feed_path))]))
    rng = random.Random(seed)  # noqa: S311 - reproducible benchmark draws, not secrets
    moment = dt.datetime.combine(day, dt.time(12), tzinfo=timezone(timetable))
    now = int(moment.timestamp())
    data, count = synthetic_updates(timetable, day, updates, now, rng, overtaking)
    decode_ms, message = timed(lambda: core.decode(data, "bench", now))
    core.trip_updates(timetable, FEED, message, now, 3600, data)  # compiled, lookups built
    apply_ms, (overlay, outcome) = timed(lambda: core.trip_updates(timetable, FEED, message,
                                                                   now, 3600, data))
    store_ms, document = timed(overlay.to_document)
    read_ms, loaded = timed(lambda: core.TripOverlay.from_document(document, timetable, FEED))
    base_view = raptor.day_view(timetable, day)
    core.overlay_view(timetable, base_view, loaded)  # numba compiles (or loads) its kernels
    view_ms, _ = timed(lambda: core.overlay_view(timetable, base_view, loaded))
    pairs = _draw_pairs(timetable, day, queries, rng)
    without: list[float] = []
    with_rt: list[float] = []

    def answer(origin: Endpoint, destination: Endpoint, departure: dt.datetime) -> None:
        journeys = plan(timetable, Query(origin, destination, departure))
        plan_document(timetable, journeys, origin, destination)

    timetable.meta["_realtime"] = loaded
    raptor.day_view(timetable, day)  # built once per version, timed above as view_ms
    for index, pair in enumerate(pairs):
        origin, destination = _endpoint(timetable, pair.origin), _endpoint(
            timetable, pair.destination)
        query = functools.partial(answer, origin, destination, pair.departure)
        alone: list[float] = []
        overlaid: list[float] = []
        for _ in range(REPEATS):  # interleaved; the best of each side (a shared machine)
            timetable.meta.pop("_realtime")
            alone.append(timed(query)[0])
            timetable.meta["_realtime"] = loaded
            overlaid.append(timed(query)[0])
        without.append(min(alone))
        with_rt.append(min(overlaid))
        step(f"query {index + 1}/{queries}")
    p50, p90 = percentiles(without, 50, 90, digits=4, empty=0.0)
    rt50, rt90 = percentiles(with_rt, 50, 90, digits=4, empty=0.0)
    lanes, _ = raptor.lanes_of(raptor.day_view(timetable, day))
    split = int(np.sum(np.diff(lanes) > 1))
    return {
        "feed": feed_path.name, "date": day.isoformat(), "seed": seed,
        "delays": "per trip (overtaking)" if overtaking else "per route (congestion)",
        "load_seconds": round(load_ms / 1000, 2), "protobuf_bytes": len(data),
        "stop_time_updates": count, "trip_updates": outcome.entities,
        "matched": outcome.matched, "unmatched": outcome.unmatched,
        "canceled": int(loaded.canceled.sum()),
        "decode_ms": round(decode_ms, 2), "apply_ms": round(apply_ms, 2),
        "decode_and_apply_ms": round(decode_ms + apply_ms, 2),
        "store_document_ms": round(store_ms, 2), "read_document_ms": round(read_ms, 2),
        "overlay_view_ms": round(view_ms, 2), "patterns_split_into_lanes": split,
        "queries": queries, "plan_p50_ms": p50, "plan_p90_ms": p90,
        "plan_realtime_p50_ms": rt50, "plan_realtime_p90_ms": rt90,
        "ratio_p50": round(rt50 / p50, 3) if p50 else None,
    }


@click.command("realtime")
@feed_options(queries=200)
@click.option("--updates", type=click.IntRange(1, 1_000_000), default=50_000,
              show_default=True, help="Stop-time updates in the synthetic feed.")
@click.option("--overtaking", is_flag=True,
              help="Draw each trip's delay on its own (many trips overtake: a worst case).")
def realtime_command(feed_path: Path, day: str, queries: int, seed: int, as_json: bool,
                     updates: int, overtaking: bool) -> None:
    """Time applying GTFS-Realtime trip updates, and plans with them beside plans without."""
    date = parse_day(day)
    with progress(queries, "compiling the feed and applying the updates",
                  quiet=as_json) as step:
        document = run(feed_path, date, updates, queries, seed, step, overtaking)
    emit(as_json, document, "\n".join([
        f"{document['feed']} on {document['date']} (load {document['load_seconds']} s), "
        f"delays {document['delays']}",
        f"{document['stop_time_updates']:,} stop-time updates in {document['trip_updates']:,} "
        f"trip updates ({document['protobuf_bytes']:,} bytes; {document['matched']} matched, "
        f"{document['canceled']} canceled)",
        f"worker: decode {document['decode_ms']} ms + apply {document['apply_ms']} ms = "
        f"{document['decode_and_apply_ms']} ms; store {document['store_document_ms']} ms",
        f"web worker, once per version: read {document['read_document_ms']} ms, day view "
        f"{document['overlay_view_ms']} ms ({document['patterns_split_into_lanes']} patterns "
        "split into FIFO lanes)",
        f"plan p50/p90 without realtime {document['plan_p50_ms']}/{document['plan_p90_ms']} "
        f"ms, with {document['plan_realtime_p50_ms']}/{document['plan_realtime_p90_ms']} ms "
        f"(p50 ratio {document['ratio_p50']}, {queries} queries, best of {REPEATS} each)",
    ]))
