"""The compiled timetable: one or more feeds as integer arrays, built once, memory-mapped.

Layout (all CSR-style, int32 unless noted), in the vocabulary of the RAPTOR paper:

- stops ``p``: coordinates, parent station, feed;
- route patterns ``r``: trips with the same stop sequence and pickup/drop-off flags, split so
  that no trip overtakes another (FIFO at every stop, arrival and departure), their stops
  (``pattern_stops``) and the trips sorted by departure;
- stop times: each trip's arrival/departure seconds, stored contiguously per trip;
- ``stop_patterns``: for each stop the (pattern, position) pairs serving it — a loop lists the
  stop twice;
- footpaths: links between stops within ``max_transfer_walk_m`` (crow-fly × 1.3 at 4.8 km/h),
  between platforms of one station, and from transfers.txt, then closed transitively: a chain
  of links is one footpath (with the chain's time and distance) while its walk takes at most
  ``walk_seconds(max_walk_chain_m)``; a single link longer than that still stands alone, and a
  transfers.txt type 3 pair is never reached by a chain either. ``stop_slack`` holds same-stop
  minimum transfer times from transfers.txt (``-1`` default, ``FORBIDDEN`` forbidden);
- lower bounds for the kernel (``gtfs.bounds``): ``pattern_least`` (least seconds per hop of a
  pattern) and ``least_to`` (least seconds between any two stops, for networks of at most
  3,000 stops).

Arrays are written as ``.npy`` files under a folder named by the content hash of the feeds and
the build parameters, and opened with ``mmap_mode='r'`` so every worker shares one copy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import heapq
import json
import math
import os
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from maas.core.geo import EARTH_RADIUS_M
from maas.core.geo import haversine_m as haversine_m  # re-exported: the planner and the demo use it

if TYPE_CHECKING:  # the reader pulls in pandas; serving a compiled network must not
    from gtfs.feed import FeedData

# 3: footpaths closed transitively; 4: names in zh-Hans, zh-Hant and ko (meta *_i18n);
# 5: stop_sequence per trip and position (GTFS-Realtime matching);
# 6: the kernel's lower bounds (pattern_least, least_to; gtfs.bounds)
FORMAT_VERSION = 6
WALK_SPEED_MPS = 4.8 / 3.6
DETOUR = 1.3
FORBIDDEN = -2
ROUTE_TYPE_MODES = {0: "tram", 1: "subway", 2: "rail", 3: "bus", 4: "ferry", 5: "tram",
                    6: "tram", 7: "rail", 11: "bus", 12: "rail"}
I32 = npt.NDArray[np.int32]

ARRAY_FIELDS: dict[str, Any] = {
    "stop_lat": np.float64,
    "stop_lon": np.float64,
    "stop_parent": np.int32,
    "stop_feed": np.int32,
    "pattern_stop_offset": np.int32,
    "pattern_stops": np.int32,
    "pattern_board": np.bool_,
    "pattern_alight": np.bool_,
    "pattern_route": np.int32,
    "pattern_trip_offset": np.int32,
    "pattern_trips": np.int32,
    "trip_pattern": np.int32,
    "trip_time_offset": np.int32,
    "trip_service": np.int32,
    "arrival": np.int32,
    "departure": np.int32,
    "stop_sequence": np.int32,
    "stop_pattern_offset": np.int32,
    "stop_pattern_ids": np.int32,
    "stop_pattern_pos": np.int32,
    "footpath_offset": np.int32,
    "footpath_to": np.int32,
    "footpath_seconds": np.int32,
    "footpath_metres": np.int32,
    "stop_slack": np.int32,
    "service_days": np.bool_,
    "route_agency": np.int32,
    "route_type": np.int32,
    "pattern_least": np.int32,
    "least_to": np.uint16,
}


def walk_seconds(metres: float) -> int:
    """Walking time for a crow-fly distance: × detour factor at 4.8 km/h, rounded up."""
    return math.ceil(metres * DETOUR / WALK_SPEED_MPS)


def haversine_many(lat: float, lon: float, lats: npt.NDArray[np.float64],
                   lons: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Distances in metres from one point to many."""
    p1, p2 = math.radians(lat), np.radians(lats)
    a = (np.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * np.cos(p2) * np.sin(np.radians(lons - lon) / 2) ** 2)
    result: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))
    return result


@dataclasses.dataclass
class Timetable:
    """The compiled network. Arrays as documented in the module; strings in ``meta``."""

    stop_lat: npt.NDArray[np.float64]
    stop_lon: npt.NDArray[np.float64]
    stop_parent: I32
    stop_feed: I32
    pattern_stop_offset: I32
    pattern_stops: I32
    pattern_board: npt.NDArray[np.bool_]
    pattern_alight: npt.NDArray[np.bool_]
    pattern_route: I32
    pattern_trip_offset: I32
    pattern_trips: I32
    trip_pattern: I32
    trip_time_offset: I32
    trip_service: I32
    arrival: I32
    departure: I32
    stop_sequence: I32  # GTFS stop_sequence, laid out as arrival/departure
    stop_pattern_offset: I32
    stop_pattern_ids: I32
    stop_pattern_pos: I32
    footpath_offset: I32
    footpath_to: I32
    footpath_seconds: I32
    footpath_metres: I32  # walked distance (crow-fly × detour), for the plan document
    stop_slack: I32
    service_days: npt.NDArray[np.bool_]
    route_agency: I32
    route_type: I32
    # lower bounds for the kernel's pruning (gtfs.bounds): least seconds per pattern hop, and
    # least seconds between stops (least_to[d, p]: from p to d; (0, 0) when not built)
    pattern_least: I32
    least_to: npt.NDArray[np.uint16]
    meta: dict[str, Any]

    @property
    def n_stops(self) -> int:
        """Number of stops (all feeds)."""
        return int(self.stop_lat.shape[0])

    @property
    def n_patterns(self) -> int:
        """Number of route patterns."""
        return int(self.pattern_route.shape[0])

    @property
    def first_date(self) -> dt.date:
        """The date of column 0 of ``service_days``."""
        return dt.date.fromisoformat(self.meta["first_date"])

    def day_index(self, day: dt.date) -> int:
        """Column of ``day`` in ``service_days`` (may be out of range)."""
        return (day - self.first_date).days

    def memo(self, name: str, limit: int) -> dict[Any, Any]:
        """A dictionary this network keeps for a cache of what never changes while it lives
        (``name`` starts with ``_``, so :func:`save` leaves it out), started afresh once it
        holds ``limit`` entries."""
        found: dict[Any, Any] | None = self.meta.get(name)
        if found is None or len(found) >= limit:
            found = self.meta[name] = {}
        return found

    def stop_index(self, stop_id: str) -> int:
        """Index of a stop by its feed id (``FEED:ID`` picks a feed); -1 when unknown."""
        lookup: dict[str, int] | None = self.meta.get("_stop_lookup")
        if lookup is None:
            lookup = _stop_lookup(self.meta["stop_ids"], self.meta["feeds"], self.stop_feed)
            self.meta["_stop_lookup"] = lookup
        return lookup.get(stop_id, -1)

    def stops_near(self, lat: float, lon: float, radius_m: float) -> list[tuple[int, float]]:
        """Stops (not stations) within ``radius_m``, nearest first, with distances."""
        distances = haversine_many(lat, lon, self.stop_lat, self.stop_lon)
        boardable = self.meta.get("_boardable")
        if boardable is None:
            boardable = np.asarray(self.meta["stop_location_type"]) == 0
            self.meta["_boardable"] = boardable
        hits = np.flatnonzero((distances <= radius_m) & boardable)
        order = hits[np.argsort(distances[hits], kind="stable")]
        return [(int(i), float(distances[i])) for i in order]


def _stop_lookup(stop_ids: Sequence[str], feeds: Sequence[str], stop_feed: I32) -> dict[str, int]:
    lookup: dict[str, int] = {}
    for index, stop_id in enumerate(stop_ids):
        lookup.setdefault(stop_id, index)
        lookup[f"{feeds[int(stop_feed[index])]}:{stop_id}"] = index
    return lookup


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """Parameters that change the compiled network (part of its cache key)."""

    max_transfer_walk_m: float = 400.0
    # chains of footpath links are closed up to this walk: the access radius a rider already
    # walks from a coordinate to a stop (gtfs.planner.ACCESS_RADIUS_M)
    max_walk_chain_m: float = 800.0


def compile_feeds(feeds: Sequence[tuple[str, FeedData]],
                  options: BuildOptions | None = None) -> Timetable:
    """Merge feeds (name, data) into one network and compile it."""
    options = options or BuildOptions()
    if not feeds:
        raise ValueError("no feeds to compile")
    first = min(feed.first_date for _, feed in feeds)
    last = max(feed.last_date for _, feed in feeds)
    n_days = (last - first).days + 1

    zones = [agency.timezone for _, feed in feeds for agency in feed.agencies if agency.timezone]
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION, "feeds": [name for name, _ in feeds],
        "timezone": zones[0] if zones else "Asia/Tokyo",
        "first_date": first.isoformat(), "stop_ids": [], "stop_names": [], "stop_names_en": [],
        "stop_names_kana": [], "stop_location_type": [], "route_ids": [],
        "route_short_names": [], "route_long_names": [], "route_long_names_en": [],
        "route_modes": [], "agency_ids": [], "agency_names": [], "trip_ids": [],
        "trip_headsigns": [], "trip_headsigns_en": [], "service_ids": [], "fares": [],
        "stop_zones": [],
    }
    others: dict[str, list[dict[str, str]]] = {
        "stop_names": [], "route_long_names": [], "trip_headsigns": []}
    lats: list[float] = []
    lons: list[float] = []
    parents: list[int] = []
    stop_feed: list[int] = []
    route_agency: list[int] = []
    route_type: list[int] = []
    service_rows: list[npt.NDArray[np.bool_]] = []
    trip_route: list[int] = []
    trip_service: list[int] = []
    st_trip: list[I32] = []
    st_stop: list[I32] = []
    st_arr: list[I32] = []
    st_dep: list[I32] = []
    st_seq: list[I32] = []
    st_board: list[npt.NDArray[np.bool_]] = []
    st_alight: list[npt.NDArray[np.bool_]] = []
    transfers: list[tuple[int, int, int, int]] = []

    stop_base = route_base = trip_base = service_base = agency_base = 0
    for feed_index, (_, feed) in enumerate(feeds):
        for stop in feed.stops:
            meta["stop_ids"].append(stop.id)
            meta["stop_names"].append(stop.name)
            meta["stop_names_en"].append(stop.name_en)
            meta["stop_names_kana"].append(stop.name_kana)
            meta["stop_location_type"].append(stop.location_type)
            meta["stop_zones"].append(stop.zone_id)
            others["stop_names"].append(stop.names)
            lats.append(stop.lat)
            lons.append(stop.lon)
            parents.append(stop.parent + stop_base if stop.parent >= 0 else -1)
            stop_feed.append(feed_index)
        for agency in feed.agencies:
            meta["agency_ids"].append(agency.id)
            meta["agency_names"].append(agency.name)
        for route in feed.routes:
            meta["route_ids"].append(route.id)
            meta["route_short_names"].append(route.short_name)
            meta["route_long_names"].append(route.long_name)
            meta["route_long_names_en"].append(route.long_name_en)
            others["route_long_names"].append(route.long_names)
            meta["route_modes"].append(mode_of_route_type(route.route_type))
            route_agency.append(route.agency + agency_base)
            route_type.append(route.route_type)
        offset = (feed.first_date - first).days
        for service_index, service_id in enumerate(feed.services):
            meta["service_ids"].append(service_id)
            row = np.zeros(n_days, dtype=np.bool_)
            days = feed.service_days[service_index]
            row[offset:offset + days.shape[0]] = days
            service_rows.append(row)
        for trip in feed.trips:
            meta["trip_ids"].append(trip.id)
            meta["trip_headsigns"].append(trip.headsign)
            meta["trip_headsigns_en"].append(trip.headsign_en)
            others["trip_headsigns"].append(trip.headsigns)
            trip_route.append(trip.route + route_base)
            trip_service.append(trip.service + service_base)
        st_trip.append(feed.st_trip.astype(np.int32) + trip_base)
        st_stop.append(feed.st_stop.astype(np.int32) + stop_base)
        st_arr.append(feed.st_arrival.astype(np.int32))
        st_dep.append(feed.st_departure.astype(np.int32))
        st_seq.append(_sequence(feed))
        st_board.append(feed.st_pickup != 1)
        st_alight.append(feed.st_dropoff != 1)
        for transfer in feed.transfers:
            transfers.append((transfer.from_stop + stop_base, transfer.to_stop + stop_base,
                              transfer.transfer_type, transfer.min_seconds))
        for fare in feed.fares:
            meta["fares"].append({"fare_id": fare.fare_id, "price_yen": fare.price_yen,
                                  "agency": fare.agency + agency_base,
                                  "route_id": fare.route_id, "origin": fare.origin_zone,
                                  "destination": fare.destination_zone, "feed": feed_index})
        stop_base += len(feed.stops)
        route_base += len(feed.routes)
        trip_base += len(feed.trips)
        service_base += len(feed.services)
        agency_base += len(feed.agencies)

    for field, names in others.items():  # names from translations.txt beyond en and kana
        languages = sorted({language for entry in names for language in entry})
        meta[f"{field}_i18n"] = {language: [entry.get(language) for entry in names]
                                 for language in languages}
    stop_lat = np.asarray(lats, dtype=np.float64)
    stop_lon = np.asarray(lons, dtype=np.float64)
    stop_parent = np.asarray(parents, dtype=np.int32)
    arrays = _compile_patterns(
        np.concatenate(st_trip), np.concatenate(st_stop), np.concatenate(st_arr),
        np.concatenate(st_dep), np.concatenate(st_board), np.concatenate(st_alight),
        np.asarray(trip_route, dtype=np.int32), len(meta["trip_ids"]), len(lats),
        np.concatenate(st_seq),
    )
    footpath_offset, footpath_to, footpath_seconds, footpath_metres, slack = _footpaths(
        stop_lat, stop_lon, stop_parent, transfers, options.max_transfer_walk_m,
        walk_seconds(options.max_walk_chain_m))
    meta["options"] = dataclasses.asdict(options)
    from gtfs import bounds  # numba: loaded to compile a network, not to import this module

    least = bounds.pattern_least(arrays["pattern_stop_offset"], arrays["pattern_trip_offset"],
                                 arrays["pattern_trips"], arrays["trip_time_offset"],
                                 arrays["arrival"], arrays["departure"])
    least_to = bounds.least_table(len(lats), arrays["pattern_stop_offset"],
                                  arrays["pattern_stops"], least, footpath_offset,
                                  footpath_to, footpath_seconds)
    return Timetable(
        pattern_least=least, least_to=least_to,
        stop_lat=stop_lat, stop_lon=stop_lon, stop_parent=stop_parent,
        stop_feed=np.asarray(stop_feed, dtype=np.int32),
        trip_service=np.asarray(trip_service, dtype=np.int32),
        service_days=(np.vstack(service_rows) if service_rows
                      else np.zeros((0, n_days), dtype=np.bool_)),
        route_agency=np.asarray(route_agency, dtype=np.int32),
        route_type=np.asarray(route_type, dtype=np.int32),
        stop_slack=slack, footpath_offset=footpath_offset, footpath_to=footpath_to,
        footpath_seconds=footpath_seconds, footpath_metres=footpath_metres, meta=meta,
        **arrays,
    )


def mode_of_route_type(route_type: int) -> str:
    """The plan document's mode for a GTFS route_type (basic or extended)."""
    if route_type in ROUTE_TYPE_MODES:
        return ROUTE_TYPE_MODES[route_type]
    extended = {1: "rail", 2: "rail", 4: "bus", 7: "bus", 8: "bus", 9: "tram", 10: "tram",
                11: "tram", 12: "ferry", 13: "ferry"}
    return extended.get(route_type // 100, "bus")


def _sequence(feed: FeedData) -> I32:
    """The feed's stop_sequence values, or each stop's position in its trip from 1."""
    if feed.st_sequence is not None:
        return feed.st_sequence.astype(np.int32)
    order = np.argsort(feed.st_trip, kind="stable")
    trips = feed.st_trip[order]
    sequence = np.empty(trips.shape[0], dtype=np.int32)
    sequence[order] = np.arange(trips.shape[0]) - np.searchsorted(trips, trips) + 1
    return sequence


def _compile_patterns(st_trip: I32, st_stop: I32, st_arr: I32, st_dep: I32,
                      st_board: npt.NDArray[np.bool_], st_alight: npt.NDArray[np.bool_],
                      trip_route: I32, n_trips: int, n_stops: int, st_seq: I32
                      ) -> dict[str, Any]:
    """Group trips into FIFO route patterns and lay out the RAPTOR arrays."""
    order = np.argsort(st_trip, kind="stable")  # the reader sorts; this keeps us safe
    st_trip, st_stop = st_trip[order], st_stop[order]
    st_arr, st_dep, st_seq = st_arr[order], st_dep[order], st_seq[order]
    st_board, st_alight = st_board[order], st_alight[order]
    starts = np.searchsorted(st_trip, np.arange(n_trips + 1)).astype(np.int64)

    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for trip in range(n_trips):
        a, b = int(starts[trip]), int(starts[trip + 1])
        if b - a < 2:
            continue  # a trip serving fewer than two stops carries nobody anywhere
        key = (int(trip_route[trip]), st_stop[a:b].tobytes(), st_board[a:b].tobytes(),
               st_alight[a:b].tobytes())
        groups[key].append(trip)

    pattern_stop_offset = [0]
    pattern_stops: list[I32] = []
    pattern_board: list[npt.NDArray[np.bool_]] = []
    pattern_alight: list[npt.NDArray[np.bool_]] = []
    pattern_route: list[int] = []
    pattern_trip_offset = [0]
    pattern_trips: list[int] = []
    trip_pattern = np.full(n_trips, -1, dtype=np.int32)
    for key, trips in groups.items():
        a0 = int(starts[trips[0]])
        n = int(starts[trips[0] + 1]) - a0
        trips.sort(key=lambda t: (int(st_dep[starts[t]]), int(st_arr[starts[t + 1] - 1])))
        lanes: list[list[int]] = []  # sub-patterns in which no trip overtakes another
        for trip in trips:
            a = int(starts[trip])
            for lane in lanes:
                b = int(starts[lane[-1]])
                if (np.all(st_dep[a:a + n] >= st_dep[b:b + n])
                        and np.all(st_arr[a:a + n] >= st_arr[b:b + n])):
                    lane.append(trip)
                    break
            else:
                lanes.append([trip])
        for lane in lanes:
            pattern = len(pattern_route)
            pattern_route.append(key[0])
            pattern_stops.append(st_stop[a0:a0 + n])
            pattern_board.append(st_board[a0:a0 + n])
            pattern_alight.append(st_alight[a0:a0 + n])
            pattern_stop_offset.append(pattern_stop_offset[-1] + n)
            pattern_trips.extend(lane)
            pattern_trip_offset.append(len(pattern_trips))
            trip_pattern[lane] = pattern

    flat_stops = (np.concatenate(pattern_stops).astype(np.int32) if pattern_stops
                  else np.zeros(0, dtype=np.int32))
    offsets = np.asarray(pattern_stop_offset, dtype=np.int32)
    # stop -> (pattern, position) pairs
    positions = np.arange(flat_stops.shape[0], dtype=np.int32)
    pattern_of_position = np.repeat(np.arange(len(pattern_route), dtype=np.int32),
                                    np.diff(offsets))
    by_stop = np.lexsort((positions, flat_stops))
    stop_pattern_offset = np.searchsorted(flat_stops[by_stop], np.arange(n_stops + 1))
    return {
        "pattern_stop_offset": offsets,
        "pattern_stops": flat_stops,
        "pattern_board": (np.concatenate(pattern_board) if pattern_board
                          else np.zeros(0, dtype=np.bool_)),
        "pattern_alight": (np.concatenate(pattern_alight) if pattern_alight
                           else np.zeros(0, dtype=np.bool_)),
        "pattern_route": np.asarray(pattern_route, dtype=np.int32),
        "pattern_trip_offset": np.asarray(pattern_trip_offset, dtype=np.int32),
        "pattern_trips": np.asarray(pattern_trips, dtype=np.int32),
        "trip_pattern": trip_pattern,
        "trip_time_offset": starts[:-1].astype(np.int32),
        "arrival": st_arr.astype(np.int32),
        "departure": st_dep.astype(np.int32),
        "stop_sequence": st_seq.astype(np.int32),
        "stop_pattern_offset": stop_pattern_offset.astype(np.int32),
        "stop_pattern_ids": pattern_of_position[by_stop],
        "stop_pattern_pos": (positions[by_stop] - offsets[pattern_of_position[by_stop]]
                             ).astype(np.int32),
    }


def _footpaths(lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64], parent: I32,
               transfers: Sequence[tuple[int, int, int, int]], radius_m: float,
               chain_seconds: int) -> tuple[I32, I32, I32, I32, I32]:
    """Walking links between nearby stops and station siblings, with transfers.txt applied,
    closed transitively up to ``chain_seconds`` of walking."""
    n = lat.shape[0]
    links: dict[tuple[int, int], int] = {}
    if n:
        # bucket stops into cells about radius_m wide; compare only neighbouring cells
        cell_lat = radius_m / 111_000
        cell_lon = cell_lat / max(math.cos(math.radians(float(np.mean(lat)))), 0.1)
        cells: dict[tuple[int, int], list[int]] = defaultdict(list)
        keys = list(zip((lat / cell_lat).astype(np.int64).tolist(),
                        (lon / cell_lon).astype(np.int64).tolist(), strict=True))
        for index, key in enumerate(keys):
            cells[key].append(index)
        for (cy, cx), members in cells.items():
            near = [j for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                    for j in cells.get((cy + dy, cx + dx), ())]
            near_arr = np.asarray(near, dtype=np.int64)
            for i in members:
                d = haversine_many(float(lat[i]), float(lon[i]), lat[near_arr], lon[near_arr])
                for j, metres in zip(near_arr.tolist(), d.tolist(), strict=True):
                    if j != i and metres <= radius_m:
                        links[(i, j)] = walk_seconds(metres)
        children: dict[int, list[int]] = defaultdict(list)
        for index, p in enumerate(parent.tolist()):
            if p >= 0:
                children[p].append(index)
        for siblings in children.values():
            for i in siblings:
                for j in siblings:
                    if i != j and (i, j) not in links:
                        links[(i, j)] = walk_seconds(
                            haversine_m(float(lat[i]), float(lon[i]), float(lat[j]),
                                        float(lon[j])))
    slack = np.full(n, -1, dtype=np.int32)
    forbidden: set[tuple[int, int]] = set()
    for from_stop, to_stop, kind, min_seconds in transfers:
        if from_stop == to_stop:
            if kind == 3:
                slack[from_stop] = FORBIDDEN
            elif kind == 2 and min_seconds >= 0:
                slack[from_stop] = min_seconds
            continue
        if kind == 3:
            links.pop((from_stop, to_stop), None)
            forbidden.add((from_stop, to_stop))
        else:
            walk = links.get((from_stop, to_stop)) or walk_seconds(haversine_m(
                float(lat[from_stop]), float(lon[from_stop]), float(lat[to_stop]),
                float(lon[to_stop])))
            links[(from_stop, to_stop)] = max(walk, min_seconds if kind == 2 else 0)
    pairs = sorted(links)
    source = np.asarray([p[0] for p in pairs], dtype=np.int32)
    target = np.asarray([p[1] for p in pairs], dtype=np.int32)
    p1, p2 = np.radians(lat[source]), np.radians(lat[target])
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon[target] - lon[source]) / 2) ** 2)
    metres = np.rint(2 * 6_371_000 * np.arcsin(np.sqrt(a)) * DETOUR).astype(np.int32)
    closed = _close(n, source, target, np.asarray([links[p] for p in pairs], dtype=np.int32),
                    metres, chain_seconds, forbidden)
    return (*closed, slack)


def _close(n: int, source: I32, target: I32, seconds: I32, metres: I32, chain_seconds: int,
           forbidden: set[tuple[int, int]]) -> tuple[I32, I32, I32, I32]:
    """Transitive closure of the links (sorted by source): from every stop, the quickest walk
    to each stop reached by one link of any length, or by a chain of links within
    ``chain_seconds``; forbidden pairs are left out. CSR arrays, each stop's footpaths
    quickest first (the kernel stops relaxing them at the first that is too slow)."""
    offset = np.searchsorted(source, np.arange(n + 1))
    out_to: list[int] = []
    out_seconds: list[int] = []
    out_metres: list[int] = []
    counts = np.zeros(n + 1, dtype=np.int64)
    to_list, seconds_list, metres_list = target.tolist(), seconds.tolist(), metres.tolist()
    for start in range(n):
        best: dict[int, tuple[int, int]] = {start: (0, 0)}
        heap: list[tuple[int, int, int]] = []
        for f in range(int(offset[start]), int(offset[start + 1])):  # one link, any length
            w, t, m = to_list[f], seconds_list[f], metres_list[f]
            if w not in best or (t, m) < best[w]:
                best[w] = (t, m)
                heapq.heappush(heap, (t, m, w))
        while heap:  # chains: Dijkstra on walking time, bounded by chain_seconds
            t, m, u = heapq.heappop(heap)
            if (t, m) > best[u] or t > chain_seconds:
                continue
            for f in range(int(offset[u]), int(offset[u + 1])):
                w = to_list[f]
                tw, mw = t + seconds_list[f], m + metres_list[f]
                if tw <= chain_seconds and (w not in best or (tw, mw) < best[w]):
                    best[w] = (tw, mw)
                    heapq.heappush(heap, (tw, mw, w))
        del best[start]
        for w in sorted(best, key=lambda stop: (best[stop], stop)):
            if (start, w) not in forbidden:
                out_to.append(w)
                out_seconds.append(best[w][0])
                out_metres.append(best[w][1])
                counts[start + 1] += 1
    return (np.cumsum(counts).astype(np.int32), np.asarray(out_to, dtype=np.int32),
            np.asarray(out_seconds, dtype=np.int32), np.asarray(out_metres, dtype=np.int32))


def network_key(versions: Sequence[str], options: BuildOptions | None = None) -> str:
    """Cache key of a network: the feed versions (in order), build options and format."""
    options = options or BuildOptions()
    text = json.dumps([FORMAT_VERSION, list(versions), dataclasses.asdict(options)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def save(timetable: Timetable, folder: Path) -> None:
    """Write arrays and metadata into ``folder`` atomically (a sibling temp dir, then rename)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    for name in ARRAY_FIELDS:
        np.save(temporary / f"{name}.npy", getattr(timetable, name), allow_pickle=False)
    meta = {k: v for k, v in timetable.meta.items() if not k.startswith("_")}
    (temporary / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    try:
        temporary.rename(folder)
    except OSError:
        if not (folder / "meta.json").exists():
            raise
        shutil.rmtree(temporary, ignore_errors=True)  # another process won the race


def load(folder: Path) -> Timetable:
    """Open a saved timetable; arrays are memory-mapped read-only."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{folder}: timetable format {meta.get('format')}, "
                         f"need {FORMAT_VERSION}")
    # plain ndarray views of the maps: np.memmap's Python-level __getitem__ is slow
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False
                            ).view(np.ndarray)
              for name in ARRAY_FIELDS}
    return Timetable(meta=meta, **arrays)
