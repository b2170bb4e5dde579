"""Loading feeds and reading what is loaded.

A feed version is identified by the SHA-256 of its files. Loading the same content again is a
no-op; loading new content adds a version and makes it the active one in the same transaction,
so a failed load leaves the previous version serving.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gtfs import fetch, gbfs, multimodal, ondemand, raptor
from gtfs.events import PlanAnswered
from gtfs.itinerary import Document, plan_document
from gtfs.limits import (
    CHUNK,
    DEFAULT_LIMITS,
    Budget,
    FeedLimits,
    LimitedReader,
    check_archive,
    check_folder_file,
    over,
    parse_json,
    read_bounded,
    zip_damage,
)
from gtfs.maps.geojson import add_geometry
from gtfs.maps.shapes import feed_shapes
from gtfs.mobility import Mobility
from gtfs.models import Feed, FeedSnapshot, Operator
from gtfs.network import NetworkStore
from gtfs.places.services import place_index, resolve
from gtfs.planner import (
    Endpoint,
    Journey,
    Query,
    departures_after,
    filled_at_once,
    plan,
    service_time,
    to_datetime,
)
from gtfs.realtime import services as realtime
from gtfs.timetable import Timetable, mode_of_route_type
from maas.core.clock import TOKYO, Clock
from maas.core.errors import FieldError, InvalidInput, NotFound
from maas.core.events import publish
from maas.core.geo import parse_lat_lon

if TYPE_CHECKING:  # the reader pulls in pandas; serving must not
    from gtfs.feed import FeedData

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadResult:
    """The outcome of a load: the active feed row and whether it is new."""

    feed: Feed
    created: bool


class FeedFiles:
    """Read-only access to the files of a feed folder or zip, by base name, within ``limits``.

    Sizes are checked against the folder's listing or the zip's headers first, and counted
    again while the files are streamed (for the version hash or a JSON file).
    """

    def __init__(self, path: Path, limits: FeedLimits = DEFAULT_LIMITS) -> None:
        if not path.exists():
            raise InvalidInput(f"{path}: no such file or folder")
        self.path = path
        self.limits = limits
        self._folder: dict[str, Path] = {}
        self._zip: dict[str, zipfile.ZipInfo] = {}
        if path.is_dir():
            total = 0
            for child in sorted(path.iterdir()):
                if child.is_file() and not child.name.startswith("."):
                    total += check_folder_file(child, limits)
                    self._folder[child.name] = child
            if total > limits.max_total_bytes:
                raise over(path.name, f"{total:,} bytes in all", limits.max_total_bytes,
                           "max_total_bytes")
        elif zipfile.is_zipfile(path):
            with zip_damage(self.path.name):
                for info in check_archive(path, limits):
                    # some publishers nest the files one folder deep
                    self._zip[Path(info.filename).name] = info
        else:
            raise InvalidInput(f"{path}: neither a folder nor a zip archive")
        self._budget = Budget(limits, path.name)

    @contextlib.contextmanager
    def _open(self, name: str) -> Iterator[IO[bytes]]:
        with zip_damage(self.path.name):
            if name in self._folder:
                with self._folder[name].open("rb") as stream:
                    yield stream
            else:
                with zipfile.ZipFile(self.path) as archive, archive.open(self._zip[name]) as stream:
                    yield stream

    def names(self) -> list[str]:
        """The files, by base name, sorted."""
        return sorted({*self._folder, *self._zip})

    def version(self) -> str:
        """SHA-256 over the names and contents of every file (streamed, within the limits)."""
        digest = hashlib.sha256()
        for name in self.names():
            content = hashlib.sha256()
            with self._open(name) as raw:
                # text files are measured by line too: a single-line bomb stops at once
                stream = LimitedReader(raw, name, self.limits, text=name.endswith(".txt"),
                                       budget=self._budget)
                while chunk := stream.read(CHUNK):
                    content.update(chunk)
            digest.update(name.encode() + b"\0" + content.digest())
        return digest.hexdigest()

    def has(self, name: str) -> bool:
        """True when the feed contains ``name``."""
        return name in self._folder or name in self._zip

    def json(self, name: str) -> Any:
        """The file parsed as JSON within the JSON limits (errors name file, line and column)."""
        if not self.has(name):
            raise InvalidInput(f"{self.path}: required file {name} is missing")
        where = f"{self.path}/{name}"
        with self._open(name) as stream:
            data = read_bounded(stream, where, self.limits.max_json_bytes, "max_json_bytes")
        return parse_json(data, where, self.limits)


def _source_name(source: str) -> str:
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        return parts.hostname or "gbfs"
    return Path(source).name or "gbfs"


def import_gbfs(session: Session, source: str, name: str | None, clock: Clock,
                limits: FeedLimits = DEFAULT_LIMITS) -> LoadResult:
    """Import a GBFS system from a snapshot folder or a live URL (``gbfs.json``/manifest).

    Every file is read and checked first; only then are the system's feed version (its
    stations, plans and vehicle types) and its snapshot (with station status) replaced, in one
    transaction. A bad file leaves the previous snapshot serving. ``limits`` bound what is
    read and fetched (see :mod:`gtfs.limits`, :mod:`gtfs.fetch`).
    """
    name = name or _source_name(source)
    if urlsplit(source).scheme in ("http", "https"):
        where, read = gbfs.read_url(source, limits)
    else:
        where, read = gbfs.read_folder(Path(source), limits)
    system = gbfs.read_system(where, read, default_id=name)
    return store_bikes(session, name, source, system, clock)


def store_bikes(session: Session, name: str, source: str, system: gbfs.BikeSystem,
                clock: Clock) -> LoadResult:
    """Make ``system`` the active snapshot of feed ``name``.

    The feed version hashes what changes rarely (system, ports, prices); a new status alone
    replaces the snapshot row and keeps the version.
    """
    document = system.to_document()
    static = {key: value for key, value in document.items()
              if key not in ("status", "last_updated", "ttl")}
    version = hashlib.sha256(json.dumps(static, sort_keys=True, ensure_ascii=False)
                             .encode()).hexdigest()
    snapshot = FeedSnapshot(
        kind="gbfs", name=name, source=source, version=version, fetched_at=clock(),
        last_updated=dt.datetime.fromtimestamp(system.last_updated, dt.UTC),
        ttl=system.ttl, document=document,
    )
    summary = {"system_id": system.system_id, "stations": len(system.stations),
               "docks": sum(s.capacity or 0 for s in system.stations),
               "gbfs_version": system.version, "pricing_plans": len(system.plans)}
    operator = Operator(id=system.system_id, name=system.name, name_en=None, modes=["bike"],
                        url=system.url)
    return activate(session, "gbfs", name, version, source, summary, [operator], clock,
                    snapshot=snapshot)


def load_ondemand(session: Session, name: str, path: Path, clock: Clock,
                  limits: FeedLimits = DEFAULT_LIMITS) -> LoadResult:
    """Load an on-demand service file (``services.json``) and make it active."""
    files = FeedFiles(path, limits)
    document = files.json("services.json")
    services = ondemand.read_services(document, f"{files.path}/services.json")
    operators: dict[str, Operator] = {}
    for index, service in enumerate(document["services"]):
        operator = service["operator"]
        if not operator.get("name"):
            raise InvalidInput(
                f"{files.path}/services.json: services[{index}].operator needs id and name")
        operators[operator["id"]] = Operator(
            id=operator["id"], name=operator["name"], name_en=operator.get("name_en"),
            modes=["taxi"], url=operator.get("url"),
        )
    version = files.version()
    snapshot = FeedSnapshot(kind="ondemand", name=name, source=str(path), version=version,
                            fetched_at=clock(), last_updated=None, ttl=0,
                            document={"services": ondemand.to_document(services)})
    return activate(session, "ondemand", name, version, str(path),
                    {"services": len(services)}, list(operators.values()), clock,
                    snapshot=snapshot)


def _existing(session: Session, kind: str, name: str, version: str) -> Feed | None:
    return session.scalars(
        select(Feed).where(Feed.kind == kind, Feed.name == name, Feed.version == version)
    ).one_or_none()


def load_feed(session: Session, kind: str, name: str, path: Path, clock: Clock,
              limits: FeedLimits = DEFAULT_LIMITS) -> LoadResult:
    """Load a GBFS snapshot folder or an on-demand service folder and make it active."""
    if kind == "gbfs":
        return import_gbfs(session, str(path), name, clock, limits)
    if kind == "ondemand":
        return load_ondemand(session, name, path, clock, limits)
    raise InvalidInput(f"unknown feed kind {kind!r} (expected gbfs or ondemand)")


def activate(session: Session, kind: str, name: str, version: str, source: str,
             summary: dict[str, Any], operators: list[Operator], clock: Clock,
             snapshot: FeedSnapshot | None = None) -> LoadResult:
    """Record a fully loaded version and make it the active one, in one transaction.

    ``snapshot`` (bike share, on-demand) replaces the feed's snapshot row in the same
    transaction; an unchanged version then only refreshes the snapshot.
    """
    existing = _existing(session, kind, name, version)
    created = existing is None or not existing.active
    try:
        if existing is None or not existing.active:
            session.execute(
                update(Feed).where(Feed.kind == kind, Feed.name == name).values(active=False)
            )
            if existing is None:
                existing = Feed(kind=kind, name=name, version=version, summary=summary)
                session.add(existing)
            existing.source = source
            existing.loaded_at = clock()
            existing.active = True
            for operator in operators:
                operator.feed_name = name
                session.merge(operator)
        if snapshot is not None:
            session.merge(snapshot)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return LoadResult(existing, created=created)


def active_feeds(session: Session) -> list[Feed]:
    """Active feed versions, by kind and name."""
    return list(
        session.scalars(select(Feed).where(Feed.active.is_(True)).order_by(Feed.kind, Feed.name))
    )


def list_operators(session: Session, mode: str | None = None) -> list[Operator]:
    """Operators of the consortium by id, optionally only those running ``mode``."""
    operators = session.scalars(select(Operator).order_by(Operator.id))
    # modes is a short JSON list; filtering here keeps one query for SQLite and PostgreSQL
    return [operator for operator in operators if mode is None or mode in operator.modes]


def _fetch(source: str, folder: Path, limits: FeedLimits) -> Path:
    """A local path for ``source``: a path as given, or an http(s) URL downloaded to ``folder``
    (streamed to disk within the archive size and fetch time limits)."""
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (Path(parts.path).name or "feed.zip")
        partial = target.with_name(target.name + ".part")
        try:
            with partial.open("wb") as sink:
                fetch.fetch(source, limits, limits.max_archive_bytes, "max_archive_bytes", sink)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target
    if parts.scheme not in ("", "file"):
        raise InvalidInput(f"{source}: only paths and http(s) URLs can be imported")
    return Path(parts.path if parts.scheme == "file" else source)


def import_gtfs(session: Session, store: NetworkStore, source: str, name: str | None,
                clock: Clock, limits: FeedLimits = DEFAULT_LIMITS) -> LoadResult:
    """Import a GTFS/GTFS-JP feed: read and check it, compile the network, then activate it.

    Nothing changes when reading or compiling fails: the previous version keeps serving.
    ``limits`` bound the download and every file read (see :mod:`gtfs.limits`).
    """
    path = _fetch(source, store.home / "downloads", limits)
    files = FeedFiles(path, limits)
    version = files.version()
    name = name or path.stem
    existing = _existing(session, "gtfs", name, version)
    if existing is not None and existing.active:
        store.forget_active()
        store.current(session)  # the network exists (or is rebuilt) for this process
        return LoadResult(existing, created=False)
    from gtfs.feed import feed_summary, read_feed  # pandas and gtfs-kit: imports only

    feed = read_feed(path, limits)
    store.store_source(session, path, version, clock())
    others = session.execute(
        select(Feed.name, Feed.version)
        .where(Feed.kind == "gtfs", Feed.active.is_(True), Feed.name != name)
    ).all()
    feeds = sorted([(n, v) for n, v in others] + [(name, version)])
    store.network(feeds, loaded={version: feed}, session=session)
    operators = _operators(feed)
    result = activate(session, "gtfs", name, version, source, feed_summary(feed), operators,
                      clock)
    store.forget_active()
    return result


def _operators(feed: FeedData) -> list[Operator]:
    modes: dict[int, set[str]] = {}
    for route in feed.routes:
        modes.setdefault(route.agency, set()).add(mode_of_route_type(route.route_type))
    return [
        Operator(id=agency.id or agency.name, name=agency.name, name_en=agency.name_en,
                 modes=sorted(modes.get(index, set())), url=agency.url or None)
        for index, agency in enumerate(feed.agencies)
    ]


@filled_at_once
@dataclass(frozen=True)
class PlanRequest:
    """A journey request as riders and the CLI give it (``origin``: ``LAT,LON``, ``stop:ID`` or
    ``place:ID``)."""

    origin: str
    destination: str
    time: dt.datetime
    arrive_by: bool = False
    modes: frozenset[str] | None = None
    min_transfer_seconds: int = 60
    max_transfers: int = 5
    window_minutes: int = 0
    pass_product: str | None = None  # a one-day pass: legs it covers cost ¥0
    language: str = "ja"  # names of places, stops and routes (gtfs.languages.LANGUAGES)
    geometry: bool = False  # legs' lines for a map (gtfs.maps)


TRANSIT_MODES = frozenset({"bus", "tram", "rail", "subway", "ferry"})


# operator ids a pass product covers; an unknown product is an InvalidInput naming "pass"
PassCoverage = Callable[[Session, str], frozenset[str]]


def parse_modes(text: str | None) -> frozenset[str] | None:
    """``walk,bus,...`` as a set of modes; unknown names are an error."""
    if text is None:
        return None
    modes = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = modes - ALL_MODES
    if unknown or not modes:
        message = (f"unknown mode(s) {', '.join(sorted(unknown)) or '(none)'}; "
                   f"use {', '.join(sorted(ALL_MODES))}")
        raise InvalidInput(f"modes: {message}", errors=[FieldError("modes", message)])
    return modes


ALL_MODES = frozenset({"walk", "bus", "tram", "rail", "subway", "ferry", "bike", "taxi"})


def _network(session: Session, store: NetworkStore) -> tuple[Timetable, realtime.Snapshots]:
    """The current network with the current realtime overlay attached, and the realtime
    snapshots of that same version (alerts, vehicles): the request's one call to the realtime
    cache, so its plans and alerts agree and the cache is not asked again."""
    timetable = store.current(session)
    if timetable is None:
        raise NotFound("no GTFS feed is loaded: import one with `maas gtfs import`")
    return timetable, store.realtime.current(session, timetable)


_STOP_ENDPOINTS = 4096  # stop ends remembered per network, then started afresh


def _stop_endpoint(timetable: Timetable, text: str, field: str) -> Endpoint:
    """``stop:ID`` as an end of the journey (made once per network: stops are asked for again
    and again, and an Endpoint never changes)."""
    cache: dict[str, Endpoint] = timetable.memo("_stop_endpoints", _STOP_ENDPOINTS)
    found = cache.get(text)
    if found is None:
        stop_id = text[5:]
        index = timetable.stop_index(stop_id)
        if index < 0:
            raise InvalidInput(f"{field}: unknown stop {stop_id!r}",
                               errors=[FieldError(field, f"unknown stop {stop_id!r}")])
        found = cache[text] = Endpoint(
            float(timetable.stop_lat[index]), float(timetable.stop_lon[index]),
            timetable.meta["stop_names"][index], index, text)
    return found


def _place_endpoint(session: Session, store: NetworkStore, timetable: Timetable, text: str,
                    field: str, language: str) -> Endpoint:
    """``place:ID`` (a stop, bike port or point of interest of the place search) as an end of
    the journey, named in ``language``; anything else as :func:`_endpoint` reads it."""
    text = text.strip()
    if not text.startswith("place:"):
        return _endpoint(timetable, text, field)
    place = resolve(session, store, text[6:], field)
    name = place.name(language)
    if place.stop_id is not None:
        index = timetable.stop_index(place.stop_id)
        if index >= 0:
            return Endpoint(float(timetable.stop_lat[index]), float(timetable.stop_lon[index]),
                            name, index, place.id)
    return Endpoint(place.lat, place.lon, name, place=place.id)


def _endpoint(timetable: Timetable, text: str, field: str) -> Endpoint:
    text = text.strip()
    if text.startswith("stop:"):
        return _stop_endpoint(timetable, text, field)
    point = parse_lat_lon(text)
    if point is None:
        message = f"{text[:60]!r} is neither LAT,LON, stop:STOP_ID nor place:PLACE_ID"
        raise InvalidInput(f"{field}: {message}", errors=[FieldError(field, message)])
    lat, lon = point
    return Endpoint(lat, lon, f"{lat:.6f},{lon:.6f}")


def plan_trip(session: Session, store: NetworkStore, request: PlanRequest, *,
              now: dt.datetime | None = None,
              availability: gbfs.Availability | None = None,
              coverage: PassCoverage | None = None) -> Document:
    """Journeys for ``request`` as the plan document (plain data: :func:`gtfs.itinerary.dump`
    writes it).

    With ``bike`` or ``taxi`` among the modes the multimodal planner combines them with
    transit; ``now`` (default: the request's time) dates bike availability, ``availability``
    sets the margin and freshness rule. ``coverage`` tells which operators a pass product
    covers (products belong to the passes package; the caller hands in its lookup). The
    answered request is published as :class:`PlanAnswered`.
    """
    timetable, snapshots = _network(session, store)
    origin = _place_endpoint(session, store, timetable, request.origin, "from",
                             request.language)
    destination = _place_endpoint(session, store, timetable, request.destination, "to",
                                  request.language)
    covered = None
    if request.pass_product is not None:
        if coverage is None:
            raise InvalidInput("pass: pass products are not available here",
                               errors=[FieldError("pass", "not available")])
        covered = coverage(session, request.pass_product)
    query = Query(
        origin=origin, destination=destination, time=request.time, arrive_by=request.arrive_by,
        max_transfers=request.max_transfers, min_transfer_seconds=request.min_transfer_seconds,
        window_minutes=request.window_minutes,
        # no modes= means every mode; modes= restricts
        modes=ALL_MODES if request.modes is None else request.modes,
    )
    journeys = _journeys(session, store, timetable, query, now or request.time,
                         availability or gbfs.Availability(), covered)
    alerts = realtime.alert_lookup(snapshots, request.language)
    document = plan_document(timetable, journeys, origin, destination, covered, alerts=alerts,
                             language=request.language,
                             port_names=_port_names(session, store, journeys))
    if request.geometry:
        add_geometry(document, journeys, timetable, feed_shapes(session, store))
    # subscribers keep what they note of the answer themselves (the statistics: a journal
    # line), so a plan only reads and commits nothing
    publish(session, PlanAnswered(now or request.time, (origin.lat, origin.lon),
                                  (destination.lat, destination.lon), request.modes))
    return document


def _port_names(session: Session, store: NetworkStore, journeys: Sequence[Journey]
                ) -> Callable[[str], Mapping[str, str]]:
    """Bike ports' names by language from the place search (looked up only when a journey
    rides a bike: the default path stays free of it)."""
    if not any(leg.place_from is not None or leg.place_to is not None
               for journey in journeys for leg in journey.legs):
        return lambda _name: {}
    return place_index(session, store).port_names


def _journeys(session: Session, store: NetworkStore, timetable: Timetable, query: Query,
              now: dt.datetime, availability: gbfs.Availability,
              covered: frozenset[str] | None) -> list[Journey]:
    """The planner for the query's modes: multimodal with bikes or taxis, else transit."""
    if multimodal.wants_multimodal(query):
        context = multimodal.Context(
            mobility=mobility(session, store), now=int(now.timestamp()),
            availability=availability, covered=covered or frozenset())
        return multimodal.plan(timetable, query, context)
    modes = None if query.modes is None else query.modes & TRANSIT_MODES
    return plan(timetable, dataclasses.replace(query, modes=modes))


def prepare(session: Session, store: NetworkStore, now: dt.datetime) -> Timetable | None:
    """Build what a process's first plan request would: the active network and mobility
    snapshots, the day views of the service day of ``now`` and either side, the network's lazy
    indexes (fares, stations), the planner's code paths, by planning one query with the
    default modes (nothing is published: statistics count riders' requests only), and the
    place search's index.

    gunicorn calls it in the master before forking (``maas.gunicorn_conf``), so every worker
    shares these pages copy-on-write and answers its first request at full speed.
    """
    timetable = store.current(session)
    if timetable is None:
        return None
    day, _ = service_time(timetable, now)
    for shift in (-1, 0, 1):  # after midnight riders still ask for the day before
        raptor.day_view(timetable, day + dt.timedelta(days=shift))
    first, last = (int(timetable.pattern_stops[i])
                   for i in (0, int(timetable.pattern_stop_offset[1]) - 1))
    origin, destination = (Endpoint(float(timetable.stop_lat[s]), float(timetable.stop_lon[s]),
                                    timetable.meta["stop_names"][s], s) for s in (first, last))
    query = Query(origin=origin, destination=destination, time=now, modes=ALL_MODES)
    journeys = _journeys(session, store, timetable, query, now, gbfs.Availability(), None)
    plan_document(timetable, journeys, origin, destination, frozenset())
    place_index(session, store)  # the place search's index, shared like the network
    return timetable


def mobility(session: Session, store: NetworkStore) -> Mobility:
    """The current bike share and on-demand snapshots (live feeds are kept current by the
    ``maas worker``'s pollers, never by a read)."""
    return store.mobility.current(session)


def bike_stations(session: Session, store: NetworkStore, now: dt.datetime,
                  availability: gbfs.Availability, system: str | None = None
                  ) -> list[dict[str, Any]]:
    """Every port of the active bike systems with its live availability."""
    result = []
    unix = int(now.timestamp())
    for network in mobility(session, store).bikes:
        bikes = network.system
        if system is not None and system not in (bikes.system_id, network.feed):
            continue
        pick, drop, stale = network.usable(availability, unix)
        for index, station in enumerate(bikes.stations):
            status = bikes.status.get(station.station_id)
            as_of = gbfs.as_of(bikes, station.station_id)
            result.append({
                "station_id": station.station_id, "system_id": bikes.system_id,
                "name": station.name, "lat": station.lat, "lon": station.lon,
                "capacity": station.capacity,
                "bikes_available": None if status is None else status.bikes,
                "docks_available": None if status is None else status.docks,
                "is_installed": None if status is None else status.installed,
                "is_renting": None if status is None else status.renting,
                "is_returning": None if status is None else status.returning,
                "as_of": dt.datetime.fromtimestamp(as_of, TOKYO).isoformat(timespec="seconds"),
                "stale": bool(stale[index]), "can_pick_up": bool(pick[index]),
                "can_drop_off": bool(drop[index]),
            })
    return result


def _stop_document(timetable: Timetable, index: int, distance: float | None = None
                   ) -> dict[str, Any]:
    meta = timetable.meta
    parent = int(timetable.stop_parent[index])
    document: dict[str, Any] = {
        "stop_id": meta["stop_ids"][index], "name": meta["stop_names"][index],
        "name_en": meta["stop_names_en"][index], "name_kana": meta["stop_names_kana"][index],
        "lat": float(timetable.stop_lat[index]), "lon": float(timetable.stop_lon[index]),
        "location_type": meta["stop_location_type"][index],
        "parent_station": meta["stop_ids"][parent] if parent >= 0 else None,
        "feed": meta["feeds"][int(timetable.stop_feed[index])],
    }
    if distance is not None:
        document["distance_m"] = round(distance)
    return document


def search_stops(session: Session, store: NetworkStore, text: str, limit: int
                 ) -> list[dict[str, Any]]:
    """Stops whose Japanese, English or kana name contains ``text`` (case-insensitive).

    Exact names come first, then names starting with the text, then the rest; stations
    before their platforms.
    """
    timetable, _ = _network(session, store)
    needle = text.strip().casefold()
    if not needle:
        raise InvalidInput("q: give a name to search for", errors=[FieldError("q", "empty")])
    meta = timetable.meta
    ranked: list[tuple[int, int, str, int]] = []
    for index, names in enumerate(zip(meta["stop_names"], meta["stop_names_en"],
                                      meta["stop_names_kana"], strict=True)):
        folded = [name.casefold() for name in names if name]
        if not any(needle in name for name in folded):
            continue
        rank = 0 if needle in folded else (1 if any(n.startswith(needle) for n in folded) else 2)
        has_parent = int(timetable.stop_parent[index] >= 0)
        ranked.append((rank, has_parent, meta["stop_names"][index], index))
    ranked.sort()
    return [_stop_document(timetable, index) for *_, index in ranked[:limit]]


def stops_near(session: Session, store: NetworkStore, lat: float, lon: float, radius_m: float,
               limit: int) -> list[dict[str, Any]]:
    """Boardable stops within ``radius_m`` of a point, nearest first."""
    timetable, _ = _network(session, store)
    return [_stop_document(timetable, index, distance)
            for index, distance in timetable.stops_near(lat, lon, radius_m)[:limit]]


def stop_departures(session: Session, store: NetworkStore, stop_id: str, at: dt.datetime,
                    limit: int) -> dict[str, Any]:
    """The next departures from a stop (or every platform of a station) after ``at``."""
    timetable, snapshots = _network(session, store)
    index = timetable.stop_index(stop_id)
    if index < 0:
        raise NotFound(f"no stop with id {stop_id!r}")
    meta = timetable.meta
    alerts = realtime.alert_lookup(snapshots)
    rows = []
    for trip, position, day, seconds, scheduled, estimated in departures_after(
            timetable, index, at, limit):
        pattern = int(timetable.trip_pattern[trip])
        route = int(timetable.pattern_route[pattern])
        platform = int(timetable.pattern_stops[timetable.pattern_stop_offset[pattern] + position])
        moment = int(to_datetime(timetable, day, seconds).timestamp())
        agency = meta["agency_ids"][int(timetable.route_agency[route])]
        rows.append({
            "alerts": [] if alerts is None else alerts(
                agency, meta["route_ids"][route], meta["trip_ids"][trip],
                [meta["stop_ids"][platform]], moment, moment),
            "departure": to_datetime(timetable, day, seconds).isoformat(timespec="seconds"),
            "service_date": day.isoformat(),
            "stop_id": meta["stop_ids"][platform],
            "trip_id": meta["trip_ids"][trip], "route_id": meta["route_ids"][route],
            "route_short_name": meta["route_short_names"][route],
            "route_long_name": meta["route_long_names"][route],
            "mode": meta["route_modes"][route],
            "headsign": meta["trip_headsigns"][trip],
            "headsign_en": meta["trip_headsigns_en"][trip],
            "scheduled_departure": to_datetime(timetable, day, scheduled).isoformat(
                timespec="seconds"),
            "delay_s": seconds - scheduled, "realtime": estimated,
        })
    return {"stop": _stop_document(timetable, index), "departures": rows}
