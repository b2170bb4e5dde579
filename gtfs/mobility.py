"""What the planner knows besides the timetable: bike share systems and on-demand services.

:class:`MobilityStore` keeps, per process, the parsed snapshots of the active GBFS systems and
on-demand service files, re-reading which snapshots are current from the database at most every
``REFRESH_SECONDS`` (a plan request then rarely touches the database, and a poll or an import
reaches every worker within that time). Arrays for the planner are built once per snapshot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from gtfs import gbfs, ondemand
from gtfs.models import Feed, FeedSnapshot
from gtfs.timetable import DETOUR, Timetable, haversine_many, walk_seconds

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
PORT_TO_STOP_M = 300.0  # a port serves the stops within this walk
METRES_PER_DEGREE = 6_371_000 * np.pi / 180


@dataclasses.dataclass
class BikeNetwork:
    """A bike system with its ports as arrays (index = position in ``system.stations``)."""

    feed: str
    system: gbfs.BikeSystem
    lat: F64
    lon: F64
    bikes: I64
    docks: I64
    renting: npt.NDArray[np.bool_]  # installed, renting and with a status
    returning: npt.NDArray[np.bool_]
    as_of: I64
    _links: dict[int, tuple[I64, I64, I64, I64]] = dataclasses.field(default_factory=dict)
    _rides: I64 | None = None
    _projection: tuple[float, F64, F64] | None = None
    _usable: dict[gbfs.Availability, tuple[npt.NDArray[np.bool_], ...]] = dataclasses.field(
        default_factory=dict)

    @classmethod
    def build(cls, feed: str, system: gbfs.BikeSystem) -> BikeNetwork:
        """Arrays of ``system``'s ports."""
        stations = system.stations
        status = [system.status.get(s.station_id) for s in stations]
        return cls(
            feed=feed, system=system,
            lat=np.asarray([s.lat for s in stations], dtype=np.float64),
            lon=np.asarray([s.lon for s in stations], dtype=np.float64),
            bikes=np.asarray([x.bikes if x else 0 for x in status], dtype=np.int64),
            docks=np.asarray([(x.docks or 0) if x else 0 for x in status], dtype=np.int64),
            renting=np.asarray([bool(x and x.installed and x.renting) for x in status]),
            returning=np.asarray([bool(x and x.installed and x.returning) for x in status]),
            as_of=np.asarray([gbfs.as_of(system, s.station_id) for s in stations],
                             dtype=np.int64),
        )

    def usable(self, availability: gbfs.Availability, now: int
               ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Per port: can pick up, can drop off, status stale (the rule of gbfs.Availability)."""
        pick_fresh, pick_stale, drop_fresh, drop_stale = self._masks(availability)
        stale = self.as_of < now - availability.max_age_seconds
        return np.where(stale, pick_stale, pick_fresh), np.where(stale, drop_stale,
                                                                 drop_fresh), stale

    def can(self, port: int, pick_up: bool, availability: gbfs.Availability, now: int) -> bool:
        """:meth:`usable` for one port (cheaper when only a few ports matter)."""
        stale = int(self.as_of[port]) < now - availability.max_age_seconds
        have = int(self.bikes[port]) if pick_up else int(self.docks[port])
        works = bool(self.renting[port] if pick_up else self.returning[port])
        return works and have >= availability.needed(stale)

    def _masks(self, availability: gbfs.Availability) -> tuple[npt.NDArray[np.bool_], ...]:
        masks = self._usable.get(availability)
        if masks is None:
            fresh, stale = availability.needed(False), availability.needed(True)
            masks = self._usable[availability] = (
                self.renting & (self.bikes >= fresh), self.renting & (self.bikes >= stale),
                self.returning & (self.docks >= fresh), self.returning & (self.docks >= stale))
        return masks

    def distances(self, lat: float, lon: float) -> F64:
        """Metres from a point to every port (equirectangular: exact enough within a city)."""
        if self._projection is None:
            scale = np.cos(np.radians(float(self.lat.mean()))) if len(self.lat) else 1.0
            self._projection = (float(scale), self.lat * METRES_PER_DEGREE,
                                self.lon * (METRES_PER_DEGREE * float(scale)))
        scale, y, x = self._projection
        result: F64 = np.hypot(y - lat * METRES_PER_DEGREE,
                               x - lon * (METRES_PER_DEGREE * scale))
        return result

    def rides(self) -> I64:
        """Riding seconds between every two ports (built on first use)."""
        if self._rides is None:
            rows = [np.ceil(haversine_many(float(self.lat[p]), float(self.lon[p]), self.lat,
                                           self.lon) * DETOUR / gbfs.BIKE_SPEED_MPS)
                    for p in range(len(self.lat))]
            self._rides = (np.vstack(rows) if rows else np.zeros((0, 0))).astype(np.int64)
        return self._rides

    def links(self, timetable: Timetable) -> tuple[I64, I64, I64, I64]:
        """(port, stop, walk seconds, walk metres) for every stop within reach of a port."""
        key = id(timetable)
        if key not in self._links:
            ports: list[int] = []
            stops: list[int] = []
            distances: list[float] = []
            for port in range(len(self.system.stations)):
                for stop, metres in timetable.stops_near(float(self.lat[port]),
                                                         float(self.lon[port]), PORT_TO_STOP_M):
                    ports.append(port)
                    stops.append(stop)
                    distances.append(metres)
            self._links = {key: (
                np.asarray(ports, dtype=np.int64), np.asarray(stops, dtype=np.int64),
                np.asarray([walk_seconds(d) for d in distances], dtype=np.int64),
                np.asarray([round(d * 1.3) for d in distances], dtype=np.int64))}
        return self._links[key]


@numba.njit(cache=True)
def fastest_links(end_ports: I64, end_walks: I64, link_ports: I64, link_stops: I64,
                  link_walks: I64, usable: npt.NDArray[np.bool_], rides: I64, handling: int,
                  max_ride: int, n_stops: int
                  ) -> tuple[I64, I64, I64, I64]:  # pragma: no cover - compiled
    """Per stop, the fastest walk + ride + walk between a journey's end and the stop.

    ``end_ports`` (with their walks from or to the end) are the ports near the end; a link is
    a port with a stop within reach of it (``usable`` says which ports can serve the other
    side of the ride). Returns the stops reached (ascending), their seconds, and which end
    port and which link make them. Riding times are symmetric, so one kernel serves access
    and egress.
    """
    never = 2**40
    best = np.full(n_stops, never, dtype=np.int64)
    best_end = np.full(n_stops, -1, dtype=np.int64)
    best_link = np.full(n_stops, -1, dtype=np.int64)
    for link in range(link_ports.shape[0]):
        other = link_ports[link]
        if not usable[other]:
            continue
        stop = link_stops[link]
        for end in range(end_ports.shape[0]):
            port = end_ports[end]
            ride = rides[port, other]
            if port == other or ride > max_ride:
                continue
            seconds = end_walks[end] + handling + ride + link_walks[link]
            if seconds < best[stop]:
                best[stop] = seconds
                best_end[stop] = end
                best_link[stop] = link
    stops = np.flatnonzero(best_link >= 0)
    return stops, best[stops], best_end[stops], best_link[stops]


def warm_up() -> None:
    """Compile (or load from numba's cache) :func:`fastest_links` on empty input."""
    none = np.zeros(0, dtype=np.int64)
    fastest_links(none, none, none, none, none, np.zeros(0, dtype=np.bool_),
                  np.zeros((0, 0), dtype=np.int64), 0, 0, 0)


@dataclasses.dataclass(frozen=True)
class Mobility:
    """Bike systems and on-demand services, as of one refresh."""

    bikes: tuple[BikeNetwork, ...] = ()
    taxis: tuple[ondemand.Service, ...] = ()


class MobilityStore:
    """Per-process cache of the current snapshots (see the module notes)."""

    REFRESH_SECONDS = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked = -1e9
        self._keys: tuple[tuple[str, str, dt.datetime], ...] = ()
        self._current = Mobility()

    def current(self, session: Session) -> Mobility:
        """The snapshots of active feeds (re-read when one changed, checked every few s)."""
        now = time.monotonic()
        if now - self._checked < self.REFRESH_SECONDS:
            return self._current
        with self._lock:
            rows = session.execute(
                select(FeedSnapshot.kind, FeedSnapshot.name, FeedSnapshot.fetched_at)
                .join(Feed, (Feed.kind == FeedSnapshot.kind) & (Feed.name == FeedSnapshot.name)
                      & (Feed.active.is_(True)))
                .order_by(FeedSnapshot.kind, FeedSnapshot.name)
            ).all()
            keys = tuple((kind, name, fetched) for kind, name, fetched in rows)
            if keys != self._keys:
                snapshots = list(session.scalars(
                    select(FeedSnapshot).join(Feed, (Feed.kind == FeedSnapshot.kind)
                                              & (Feed.name == FeedSnapshot.name)
                                              & (Feed.active.is_(True)))
                    .order_by(FeedSnapshot.kind, FeedSnapshot.name)))
                self._current = build(snapshots)
                self._keys = keys
            self._checked = time.monotonic()
            return self._current

    def forget(self) -> None:
        """Re-read on the next request (this process just loaded something)."""
        self._checked = -1e9


def build(snapshots: list[FeedSnapshot]) -> Mobility:
    """Parse snapshot rows into the planner's structures."""
    bikes: list[BikeNetwork] = []
    taxis: list[ondemand.Service] = []
    for snapshot in snapshots:
        document: dict[str, Any] = snapshot.document
        if snapshot.kind == "gbfs":
            bikes.append(BikeNetwork.build(snapshot.name,
                                           gbfs.BikeSystem.from_document(document)))
        elif snapshot.kind == "ondemand":
            taxis.extend(ondemand.from_document(document["services"]))
    return Mobility(bikes=tuple(bikes), taxis=tuple(taxis))
