"""GBFS bike share: reading and checking a system's files, availability and ride prices (pure).

Versions 2.x (``gbfs.json`` with feeds per language) and 3.0 (``gbfs.json`` with one feed list,
localised names, RFC 3339 times; a ``manifest.json`` names the systems' ``gbfs.json``) are read
into one normalised :class:`BikeSystem`. A snapshot comes from a folder (files by feed name) or
from a URL (discovery, then each feed by its URL). Every file is checked before anything is
kept: a bad file raises :class:`InvalidInput` naming the file and the field.

Only ``station_information`` is required; without ``station_status`` no port is planned on
(availability unknown), without ``system_information`` the system id is the feed name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from gtfs import fetch
from gtfs.limits import DEFAULT_LIMITS, FeedLimits, read_json_file
from gtfs.timetable import DETOUR
from maas.core.errors import InvalidInput

FEEDS = ("system_information", "station_information", "station_status",
         "system_pricing_plans", "vehicle_types")
REQUIRED = frozenset({"station_information"})
UNLOCK_SECONDS = 60  # taking a bike out of its dock
DOCK_SECONDS = 60  # returning it
BIKE_SPEED_MPS = 15 / 3.6


@dataclasses.dataclass(frozen=True)
class Station:
    """A port: where bikes are taken and returned."""

    station_id: str
    name: str
    lat: float
    lon: float
    capacity: int | None = None


@dataclasses.dataclass(frozen=True)
class StationStatus:
    """What a port reported last: bikes and docks available and whether it works."""

    bikes: int
    docks: int | None
    installed: bool = True
    renting: bool = True
    returning: bool = True
    last_reported: int | None = None  # unix seconds


@dataclasses.dataclass(frozen=True)
class PerMinute:
    """One segment of GBFS ``per_min_pricing``: ``rate`` at the start of each begun interval."""

    start: int
    rate: float
    interval: int
    end: int | None = None


@dataclasses.dataclass(frozen=True)
class PricingPlan:
    """A pricing plan; ``daily_cap`` is our extension (GBFS has no cap field)."""

    plan_id: str
    name: str
    currency: str
    price: float
    per_min: tuple[PerMinute, ...] = ()
    daily_cap: int | None = None


@dataclasses.dataclass(frozen=True)
class BikeSystem:
    """One bike share system as read from a snapshot."""

    system_id: str
    name: str
    version: str
    stations: tuple[Station, ...]
    status: Mapping[str, StationStatus]
    plans: tuple[PricingPlan, ...]
    vehicle_types: tuple[Mapping[str, Any], ...]
    last_updated: int  # unix seconds of station_status (or station_information without one)
    ttl: int
    url: str | None = None  # the system's web site

    def to_document(self) -> dict[str, Any]:
        """A JSON-ready document (what the database keeps)."""
        return dataclasses.asdict(self) | {"status": {
            key: dataclasses.asdict(value) for key, value in self.status.items()}}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> BikeSystem:
        """The inverse of :meth:`to_document`."""
        return cls(
            system_id=document["system_id"], name=document["name"],
            version=document["version"],
            stations=tuple(Station(**s) for s in document["stations"]),
            status={k: StationStatus(**v) for k, v in document["status"].items()},
            plans=tuple(PricingPlan(**{**p, "per_min": tuple(PerMinute(**m)
                                                              for m in p["per_min"])})
                        for p in document["plans"]),
            vehicle_types=tuple(document["vehicle_types"]),
            last_updated=int(document["last_updated"]), ttl=int(document["ttl"]),
            url=document.get("url"),
        )

    def plan(self) -> PricingPlan | None:
        """The plan a single ride is priced by: the first one (GBFS lists the default first)."""
        return self.plans[0] if self.plans else None


# --- reading -------------------------------------------------------------------------------

Reader = Callable[[str], Any]  # feed name -> parsed JSON (None when the system lacks it)


def read_folder(path: Path, limits: FeedLimits = DEFAULT_LIMITS) -> tuple[str, Reader]:
    """A reader of a snapshot folder: ``NAME.json`` files (or what ``gbfs.json`` names)."""
    if not path.is_dir():
        raise InvalidInput(f"{path}: not a folder of GBFS files")
    urls: dict[str, str] = {}
    if (path / "gbfs.json").is_file():
        urls = discover(_load(path / "gbfs.json", f"{path}/gbfs.json", limits),
                        f"{path}/gbfs.json")

    def read(name: str) -> Any:
        candidates = [path / f"{name}.json"]
        if name in urls:
            candidates.insert(0, path / Path(urlsplit(urls[name]).path).name)
        for candidate in candidates:
            if candidate.is_file():
                return _load(candidate, f"{path}/{candidate.name}", limits)
        return None

    return str(path), read


def read_url(url: str, limits: FeedLimits = DEFAULT_LIMITS) -> tuple[str, Reader]:
    """A reader of a live system: ``gbfs.json`` (or a 3.0 ``manifest.json``) first.

    Every URL, the ones the discovery file lists included, goes through :func:`gtfs.fetch.fetch`
    (public addresses only unless allowed, bounded in size and time).
    """
    document = fetch_json(url, limits)
    if "datasets" in (document.get("data") or {}):  # 3.0 manifest: the first system
        try:
            dataset = document["data"]["datasets"][0]
            url = urljoin(url, dataset["versions"][-1]["url"])
        except (KeyError, IndexError, TypeError):
            raise InvalidInput(f"{url}: data.datasets[0].versions[].url is missing") from None
        document = fetch_json(url, limits)
    urls = discover(document, url)

    def read(name: str) -> Any:
        return fetch_json(urljoin(url, urls[name]), limits) if name in urls else None

    return url, read


def fetch_json(url: str, limits: FeedLimits = DEFAULT_LIMITS) -> Any:
    """GET ``url`` and parse it as a JSON object; failures name the URL."""
    return _object(fetch.fetch_json(url, limits), url)


def _load(path: Path, where: str, limits: FeedLimits) -> Any:
    return _object(read_json_file(path, where, limits), where)


def _object(document: Any, where: str) -> Any:
    if not isinstance(document, dict):
        raise InvalidInput(f"{where}: expected a JSON object")
    return document


def discover(document: Mapping[str, Any], where: str) -> dict[str, str]:
    """Feed name -> URL from a ``gbfs.json`` (2.x: the first language, 3.0: ``data.feeds``)."""
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: data: expected an object")
    feeds = data.get("feeds")
    if feeds is None and data:
        language = next(iter(data.values()))
        feeds = language.get("feeds") if isinstance(language, dict) else None
    if not isinstance(feeds, list):
        raise InvalidInput(f"{where}: data.feeds (or data.<language>.feeds): expected a list")
    urls = {}
    for index, feed in enumerate(feeds):
        if not isinstance(feed, dict) or not isinstance(feed.get("name"), str) \
                or not isinstance(feed.get("url"), str):
            raise InvalidInput(f"{where}: feeds[{index}]: needs name and url")
        urls[feed["name"]] = feed["url"]
    return urls


def read_system(source: str, read: Reader, default_id: str) -> BikeSystem:
    """Read and check every feed of a system; raises :class:`InvalidInput` on the first fault."""
    documents = {name: read(name) for name in FEEDS}
    for name in REQUIRED:
        if documents[name] is None:
            raise InvalidInput(f"{source}: required file {name}.json is missing")
    check = _Checker(source)
    info = documents["system_information"]
    system = check.data(info, "system_information") if info is not None else {}
    system_id = (check.text(system, "system_information", "data.system_id")
                 if info is not None else default_id)
    name = (check.localised(system.get("name"), "system_information", "data.name")
            if system.get("name") is not None else system_id)
    stations = _stations(check, documents["station_information"])
    status_document = documents["station_status"]
    status = _status(check, status_document, {s.station_id for s in stations})
    stamp = (status_document or documents["station_information"]).get("last_updated")
    last_updated = check.moment(stamp, "station_status" if status_document else
                                "station_information", "last_updated")
    ttl = status_document.get("ttl", 60) if status_document else 60
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0:
        raise InvalidInput(f"{source}/station_status.json: ttl: expected an integer ≥ 0")
    version = str((status_document or documents["station_information"]).get("version", "2.x"))
    return BikeSystem(
        system_id=system_id, name=name, version=version, stations=stations, status=status,
        plans=_plans(check, documents["system_pricing_plans"]),
        vehicle_types=_vehicle_types(check, documents["vehicle_types"]),
        last_updated=last_updated if last_updated is not None else 0, ttl=ttl,
        url=system.get("url") if isinstance(system.get("url"), str) else None,
    )


class _Checker:
    """Field checks whose errors read ``SOURCE/FILE.json: FIELD: what is wrong``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, file: str, field: str, message: str) -> InvalidInput:
        return InvalidInput(f"{self.source}/{file}.json: {field}: {message}")

    def data(self, document: Mapping[str, Any], file: str) -> dict[str, Any]:
        data = document.get("data")
        if not isinstance(data, dict):
            raise self.fail(file, "data", "expected an object")
        return data

    def items(self, document: Mapping[str, Any], file: str, key: str) -> list[dict[str, Any]]:
        items = self.data(document, file).get(key)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self.fail(file, f"data.{key}", "expected a list of objects")
        return items

    def text(self, item: Mapping[str, Any], file: str, field: str) -> str:
        value = item.get(field.rpartition(".")[2])
        if not isinstance(value, str) or not value.strip():
            raise self.fail(file, field, "expected a non-empty string")
        return value

    def localised(self, value: Any, file: str, field: str) -> str:
        """A 2.x string, or the Japanese (else first) text of a 3.0 localised list."""
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(
                isinstance(v, dict) and isinstance(v.get("text"), str) for v in value):
            chosen = next((v for v in value if v.get("language") == "ja"), value[0])
            return str(chosen["text"])
        raise self.fail(file, field, "expected a string or a list of {text, language}")

    def number(self, item: Mapping[str, Any], file: str, field: str, low: float,
               high: float) -> float:
        value = item.get(field.rpartition(".")[2])
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not low <= value <= high:
            raise self.fail(file, field, f"expected a number from {low} to {high}")
        return float(value)

    def count(self, item: Mapping[str, Any], file: str, field: str, *,
              required: bool = True) -> int | None:
        value = item.get(field.rpartition(".")[2])
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(file, field, "expected an integer ≥ 0")
        return value

    def flag(self, item: Mapping[str, Any], file: str, field: str) -> bool:
        value = item.get(field.rpartition(".")[2], True)
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)  # GBFS 1.x wrote 0/1
        if not isinstance(value, bool):
            raise self.fail(file, field, "expected true or false")
        return value

    def moment(self, value: Any, file: str, field: str) -> int | None:
        """Unix seconds from a POSIX number (2.x) or an RFC 3339 string (3.0)."""
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return int(value)
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if moment.tzinfo is not None:
                    return int(moment.timestamp())
        raise self.fail(file, field, "expected POSIX seconds or an RFC 3339 time with offset")


def _stations(check: _Checker, document: Mapping[str, Any]) -> tuple[Station, ...]:
    file = "station_information"
    stations = []
    seen: set[str] = set()
    for index, item in enumerate(check.items(document, file, "stations")):
        at = f"data.stations[{index}]"
        station_id = check.text(item, file, f"{at}.station_id")
        if station_id in seen:
            raise check.fail(file, f"{at}.station_id", f"duplicate id {station_id!r}")
        seen.add(station_id)
        stations.append(Station(
            station_id=station_id,
            name=check.localised(item.get("name"), file, f"{at}.name"),
            lat=check.number(item, file, f"{at}.lat", -90, 90),
            lon=check.number(item, file, f"{at}.lon", -180, 180),
            capacity=check.count(item, file, f"{at}.capacity", required=False),
        ))
    return tuple(stations)


def _status(check: _Checker, document: Mapping[str, Any] | None, known: set[str]
            ) -> dict[str, StationStatus]:
    if document is None:
        return {}
    file = "station_status"
    status = {}
    for index, item in enumerate(check.items(document, file, "stations")):
        at = f"data.stations[{index}]"
        station_id = check.text(item, file, f"{at}.station_id")
        if station_id not in known:
            raise check.fail(file, f"{at}.station_id",
                             f"{station_id!r} is not in station_information")
        key = "num_vehicles_available" if "num_vehicles_available" in item \
            and "num_bikes_available" not in item else "num_bikes_available"
        bikes = check.count(item, file, f"{at}.{key}")
        status[station_id] = StationStatus(
            bikes=bikes or 0,
            docks=check.count(item, file, f"{at}.num_docks_available", required=False),
            installed=check.flag(item, file, f"{at}.is_installed"),
            renting=check.flag(item, file, f"{at}.is_renting"),
            returning=check.flag(item, file, f"{at}.is_returning"),
            last_reported=check.moment(item.get("last_reported"), file, f"{at}.last_reported"),
        )
    return status


def _plans(check: _Checker, document: Mapping[str, Any] | None) -> tuple[PricingPlan, ...]:
    if document is None:
        return ()
    file = "system_pricing_plans"
    plans = []
    for index, item in enumerate(check.items(document, file, "plans")):
        at = f"data.plans[{index}]"
        segments = item.get("per_min_pricing") or []
        if not isinstance(segments, list):
            raise check.fail(file, f"{at}.per_min_pricing", "expected a list")
        per_min = []
        for j, segment in enumerate(segments):
            where = f"{at}.per_min_pricing[{j}]"
            if not isinstance(segment, dict):
                raise check.fail(file, where, "expected an object")
            interval = int(check.number(segment, file, f"{where}.interval", 1, 1e6))
            end = segment.get("end")
            per_min.append(PerMinute(
                start=int(check.number(segment, file, f"{where}.start", 0, 1e6)),
                rate=check.number(segment, file, f"{where}.rate", -1e9, 1e9),
                interval=interval,
                end=None if end is None else int(check.number(segment, file, f"{where}.end",
                                                              0, 1e6)),
            ))
        cap = item.get("daily_cap")
        plans.append(PricingPlan(
            plan_id=check.text(item, file, f"{at}.plan_id"),
            name=check.localised(item.get("name"), file, f"{at}.name"),
            currency=check.text(item, file, f"{at}.currency"),
            price=check.number(item, file, f"{at}.price", 0, 1e9),
            per_min=tuple(per_min),
            daily_cap=None if cap is None else int(check.number(item, file, f"{at}.daily_cap",
                                                                0, 1e9)),
        ))
    return tuple(plans)


def _vehicle_types(check: _Checker, document: Mapping[str, Any] | None
                   ) -> tuple[dict[str, Any], ...]:
    if document is None:
        return ()
    file = "vehicle_types"
    types = []
    for index, item in enumerate(check.items(document, file, "vehicle_types")):
        at = f"data.vehicle_types[{index}]"
        types.append({
            "vehicle_type_id": check.text(item, file, f"{at}.vehicle_type_id"),
            "form_factor": check.text(item, file, f"{at}.form_factor"),
            "propulsion_type": check.text(item, file, f"{at}.propulsion_type"),
        })
    return tuple(types)


# --- availability and price ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Availability:
    """How a port's availability is judged: the margin, and how old status may be."""

    margin: int = 1  # bikes at pick-up, docks at drop-off, at least
    max_age_seconds: int = 600  # older status is stale: the margin doubles and it is said

    def stale(self, system: BikeSystem, station_id: str, now: int) -> bool:
        """True when the port's status is older than ``max_age_seconds`` at ``now``."""
        return now - as_of(system, station_id) > self.max_age_seconds

    def needed(self, stale: bool) -> int:
        """Bikes (or docks) a port must have: the margin, doubled when status is stale."""
        return self.margin * 2 if stale else self.margin

    def can_pick_up(self, system: BikeSystem, station_id: str, now: int) -> bool:
        """A working port that rents, with enough bikes (unknown status: no)."""
        status = system.status.get(station_id)
        return (status is not None and status.installed and status.renting
                and status.bikes >= self.needed(self.stale(system, station_id, now)))

    def can_drop_off(self, system: BikeSystem, station_id: str, now: int) -> bool:
        """A working port that takes bikes back, with enough free docks."""
        status = system.status.get(station_id)
        return (status is not None and status.installed and status.returning
                and (status.docks or 0) >= self.needed(self.stale(system, station_id, now)))


def as_of(system: BikeSystem, station_id: str) -> int:
    """When the port's status was reported (its own time, else the file's)."""
    status = system.status.get(station_id)
    reported = status.last_reported if status is not None else None
    return reported if reported is not None else system.last_updated


def ride_seconds(metres: float) -> int:
    """Riding time for a crow-fly distance: × detour at 15 km/h, rounded up."""
    return math.ceil(metres * DETOUR / BIKE_SPEED_MPS)


def ride_price(plan: PricingPlan, seconds: int) -> int:
    """Price in whole yen of one ride of ``seconds`` (each begun interval is charged).

    まちのり: ``per_min_pricing`` start 0, rate 165, interval 30 → ¥165 up to 30 min, ¥330
    up to 60 min ...; ``daily_cap`` (our extension) caps it (¥2,200).
    """
    minutes = seconds / 60
    total = plan.price
    for segment in plan.per_min:
        if segment.start > 0 and minutes <= segment.start:
            continue
        span = (minutes if segment.end is None else min(minutes, segment.end)) - segment.start
        total += max(1, math.ceil(span / segment.interval)) * segment.rate
    price = math.ceil(total)
    return min(price, plan.daily_cap) if plan.daily_cap is not None else price
