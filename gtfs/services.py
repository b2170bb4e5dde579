"""Loading feeds and reading what is loaded.

A feed version is identified by the SHA-256 of its files. Loading the same content again is a
no-op; loading new content adds a version and makes it the active one in the same transaction,
so a failed load leaves the previous version serving.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gtfs.models import FEED_KINDS, Feed, Operator
from maas.clock import Clock
from maas.errors import InvalidInput

# GTFS route_type -> the mode names of the plan document
ROUTE_TYPE_MODES = {0: "tram", 1: "subway", 2: "rail", 3: "bus", 4: "ferry", 5: "tram",
                    7: "rail", 11: "bus", 12: "rail"}
REQUIRED_GTFS = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")


@dataclass(frozen=True)
class LoadResult:
    """The outcome of a load: the active feed row and whether it is new."""

    feed: Feed
    created: bool


class FeedFiles:
    """Read-only access to the files of a feed folder or zip, by base name."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise InvalidInput(f"{path}: no such file or folder")
        self.path = path
        self._files: dict[str, bytes] = {}
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and not child.name.startswith("."):
                    self._files[child.name] = child.read_bytes()
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        # some publishers nest the files one folder deep
                        self._files[Path(info.filename).name] = archive.read(info)
        else:
            raise InvalidInput(f"{path}: neither a folder nor a zip archive")

    def version(self) -> str:
        """SHA-256 over the names and contents of every file."""
        digest = hashlib.sha256()
        for name in sorted(self._files):
            digest.update(name.encode() + b"\0" + hashlib.sha256(self._files[name]).digest())
        return digest.hexdigest()

    def has(self, name: str) -> bool:
        """True when the feed contains ``name``."""
        return name in self._files

    def text(self, name: str) -> str:
        """The file decoded as UTF-8 (a byte-order mark is dropped)."""
        if name not in self._files:
            raise InvalidInput(f"{self.path}: required file {name} is missing")
        try:
            return self._files[name].decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{self.path}/{name}: not UTF-8 text ({exc.reason})") from None

    def rows(self, name: str) -> Iterator[dict[str, str]]:
        """CSV rows as dicts with stripped keys and values."""
        reader = csv.DictReader(io.StringIO(self.text(name)))
        for row in reader:
            yield {(key or "").strip(): (value or "").strip() for key, value in row.items()}

    def json(self, name: str) -> Any:
        """The file parsed as JSON (errors name file, line and column)."""
        try:
            return json.loads(self.text(name))
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{self.path}/{name}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                f"{exc.msg}"
            ) from None


def summarise_gtfs(files: FeedFiles) -> tuple[dict[str, Any], list[Operator]]:
    """Counts, service date range and operators of a GTFS feed."""
    for name in REQUIRED_GTFS:
        files.text(name)
    if not (files.has("calendar.txt") or files.has("calendar_dates.txt")):
        raise InvalidInput(f"{files.path}: needs calendar.txt or calendar_dates.txt")
    agencies = list(files.rows("agency.txt"))
    routes = list(files.rows("routes.txt"))
    dates: list[str] = []
    if files.has("calendar.txt"):
        for row in files.rows("calendar.txt"):
            dates += [row.get("start_date", ""), row.get("end_date", "")]
    if files.has("calendar_dates.txt"):
        dates += [row.get("date", "") for row in files.rows("calendar_dates.txt")]
    dates = sorted(d for d in dates if d)
    summary = {
        "agencies": len(agencies),
        "stops": sum(1 for _ in files.rows("stops.txt")),
        "routes": len(routes),
        "trips": sum(1 for _ in files.rows("trips.txt")),
        "stop_times": sum(1 for _ in files.rows("stop_times.txt")),
        "service_start": _iso_date(dates[0]) if dates else None,
        "service_end": _iso_date(dates[-1]) if dates else None,
    }
    default_agency = agencies[0].get("agency_id", "") if len(agencies) == 1 else ""
    modes: dict[str, Counter[str]] = {}
    for route in routes:
        agency = route.get("agency_id") or default_agency
        route_type = int(route.get("route_type") or 3)
        mode = ROUTE_TYPE_MODES.get(route_type, ROUTE_TYPE_MODES.get(route_type // 100, "bus"))
        modes.setdefault(agency, Counter())[mode] += 1
    translations = _english_agency_names(files)
    operators = [
        Operator(
            id=agency.get("agency_id") or agency["agency_name"],
            name=agency["agency_name"],
            name_en=translations.get(agency.get("agency_id", "")),
            modes=sorted(modes.get(agency.get("agency_id", ""), Counter())),
            url=agency.get("agency_url") or None,
        )
        for agency in agencies
    ]
    return summary, operators


def _english_agency_names(files: FeedFiles) -> dict[str, str]:
    if not files.has("translations.txt"):
        return {}
    return {
        row.get("record_id", ""): row.get("translation", "")
        for row in files.rows("translations.txt")
        if row.get("table_name") == "agency" and row.get("language") == "en"
    }


def _iso_date(yyyymmdd: str) -> str:
    try:
        return dt.datetime.strptime(yyyymmdd, "%Y%m%d").date().isoformat()  # noqa: DTZ007
    except ValueError:
        raise InvalidInput(f"{yyyymmdd!r} is not a GTFS date (YYYYMMDD)") from None


def summarise_gbfs(files: FeedFiles) -> tuple[dict[str, Any], list[Operator]]:
    """Station counts and the operator of a GBFS snapshot folder."""
    system = files.json("system_information.json").get("data", {})
    stations = files.json("station_information.json").get("data", {}).get("stations", [])
    if not system.get("system_id"):
        raise InvalidInput(f"{files.path}/system_information.json: data.system_id is missing")
    summary = {
        "system_id": system["system_id"],
        "stations": len(stations),
        "docks": sum(int(station.get("capacity") or 0) for station in stations),
    }
    operator = Operator(
        id=system["system_id"],
        name=system.get("name", system["system_id"]),
        name_en=None,
        modes=["bike"],
        url=system.get("url"),
    )
    return summary, [operator]


def summarise_ondemand(files: FeedFiles) -> tuple[dict[str, Any], list[Operator]]:
    """Services and operators of an on-demand service definition (services.json)."""
    services = files.json("services.json").get("services", [])
    operators: dict[str, Operator] = {}
    for index, service in enumerate(services):
        operator = service.get("operator") or {}
        if not operator.get("id") or not operator.get("name"):
            raise InvalidInput(
                f"{files.path}/services.json: services[{index}].operator needs id and name"
            )
        operators[operator["id"]] = Operator(
            id=operator["id"], name=operator["name"], name_en=operator.get("name_en"),
            modes=["taxi"], url=operator.get("url"),
        )
    return {"services": len(services)}, list(operators.values())


SUMMARISERS = {"gtfs": summarise_gtfs, "gbfs": summarise_gbfs, "ondemand": summarise_ondemand}


def load_feed(session: Session, kind: str, name: str, path: Path, clock: Clock) -> LoadResult:
    """Load a feed version and make it active; unchanged content returns the active row."""
    if kind not in FEED_KINDS:
        raise InvalidInput(f"unknown feed kind {kind!r} (expected one of {FEED_KINDS})")
    files = FeedFiles(path)
    version = files.version()
    existing = session.scalars(
        select(Feed).where(Feed.kind == kind, Feed.name == name, Feed.version == version)
    ).one_or_none()
    if existing is not None and existing.active:
        return LoadResult(existing, created=False)
    summary, operators = SUMMARISERS[kind](files)
    try:
        session.execute(
            update(Feed).where(Feed.kind == kind, Feed.name == name).values(active=False)
        )
        if existing is None:
            existing = Feed(kind=kind, name=name, version=version, summary=summary)
            session.add(existing)
        existing.source = str(path)
        existing.loaded_at = clock()
        existing.active = True
        for operator in operators:
            operator.feed_name = name
            session.merge(operator)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return LoadResult(existing, created=True)


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
