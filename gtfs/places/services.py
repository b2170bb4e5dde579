"""The place search, resolving ``place:`` ids for the planner, and importing operators' places.

The index (see :mod:`gtfs.places.sources`) joins the loaded network's stops, the active bike
share ports, the curated list and the ``places`` table.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gtfs.languages import NAME_FIELDS
from gtfs.network import NetworkStore
from gtfs.places.curated import curated_places
from gtfs.places.index import Hit, Place, PlaceIndex
from gtfs.places.models import PlaceRow
from gtfs.places.sources import glossary_of, poi_place, port_place, stop_places
from gtfs.places.text import fold_text
from maas.core.clock import Clock
from maas.core.errors import FieldError, InvalidInput
from maas.core.geo import parse_lat_lon

MAX_QUERY_CHARS = 100
MAX_LIMIT = 50
MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_PLACES = 20_000
MAX_NAME_CHARS = 200
PLACE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
KINDS = frozenset({"stop", "bike_station", "poi"})


def _db_places(session: Session) -> list[Place]:
    return [poi_place(row.id, row.names, row.lat, row.lon, row.category)
            for row in session.scalars(select(PlaceRow).order_by(PlaceRow.id))]


def place_index(session: Session, store: NetworkStore) -> PlaceIndex:
    """The current index of this process (rebuilt when its sources change)."""
    timetable = store.current(session)
    bikes = store.mobility.current(session).bikes

    def signature() -> tuple[Any, ...]:
        rows = session.execute(select(func.count(), func.max(PlaceRow.imported_at))).one()
        return (id(timetable), None if timetable is None else len(timetable.meta["stop_ids"]),
                tuple((n.feed, n.system.system_id, n.system.stations) for n in bikes),
                tuple(rows))

    def build() -> list[Place]:
        points = [*curated_places(), *_db_places(session)]
        glossary = glossary_of(points)
        places = [] if timetable is None else stop_places(timetable)
        for network in bikes:
            system = network.system
            places.extend(port_place(system.system_id, station.station_id, station.name,
                                     station.lat, station.lon, glossary)
                          for station in system.stations)
        return [*places, *points]

    return store.places.current(signature, build)


def parse_near(text: str | None) -> tuple[float, float] | None:
    """``LAT,LON`` as a pair (None for none); anything else is a 422 naming ``near``."""
    if text is None or not text.strip():
        return None
    point = parse_lat_lon(text)
    if point is None:
        message = f"{text[:40]!r} is not LAT,LON"
        raise InvalidInput(f"near: {message}", errors=[FieldError("near", message)])
    return point


def parse_kinds(text: str | None) -> frozenset[str] | None:
    """``stop,poi`` as a set of place kinds; unknown names are a 422 naming ``kinds``."""
    if text is None or not text.strip():
        return None
    kinds = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = kinds - KINDS
    if unknown:
        message = (f"unknown kind(s) {', '.join(sorted(unknown))[:80]}; "
                   f"use {', '.join(sorted(KINDS))}")
        raise InvalidInput(f"kinds: {message}", errors=[FieldError("kinds", message)])
    return kinds


def place_document(hit: Hit, language: str) -> dict[str, Any]:
    """A found place as the API serves it."""
    place = hit.place
    document: dict[str, Any] = {
        "id": place.id, "kind": place.kind, "name": place.name(language),
        "lat": place.lat, "lon": place.lon,
        "names": dict(place.names),
        "match": ("exact", "prefix", "substring")[hit.quality],
    }
    if place.stop_id is not None:
        document["stop_id"] = place.stop_id
    if hit.distance_m is not None:
        document["distance_m"] = round(hit.distance_m)
    for key in ("system_id", "station_id", "category"):
        if place.extra.get(key) is not None:
            document[key] = place.extra[key]
    return document


def search(session: Session, store: NetworkStore, q: str, *, near: tuple[float, float] | None,
           language: str, limit: int = 10, kinds: frozenset[str] | None = None
           ) -> list[dict[str, Any]]:
    """Places matching ``q`` in any script or spelling, best first (see
    :mod:`gtfs.places.index`)."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q: at most {MAX_QUERY_CHARS} characters",
                           errors=[FieldError("q", f"at most {MAX_QUERY_CHARS} characters")])
    if not fold_text(q):
        raise InvalidInput("q: give a name to search for (letters or digits)",
                           errors=[FieldError("q", "no letters or digits")])
    index = place_index(session, store)
    hits = index.search(q, near=near, limit=min(limit, MAX_LIMIT),
                        kinds=None if kinds is None else sorted(kinds))
    return [place_document(hit, language) for hit in hits]


def resolve(session: Session, store: NetworkStore, place_id: str, field: str) -> Place:
    """The place of a ``place:`` id; an unknown id is a 422 naming ``field``."""
    place = place_index(session, store).get(place_id)
    if place is None:
        message = f"unknown place {place_id[:80]!r} (find one with GET /api/v1/places?q=)"
        raise InvalidInput(f"{field}: {message}", errors=[FieldError(field, message)])
    return place


# ---- import ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    file: str
    places: int
    created: int
    updated: int
    removed: int


@dataclasses.dataclass(frozen=True)
class _Parsed:
    id: str
    names: dict[str, str]
    lat: float
    lon: float
    category: str | None
    where: str


def _bad(where: str, field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where}: {field}: {message}", errors=[FieldError(field, message)])


def _number(value: Any, where: str, field: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(where, field, f"expected a number, got {str(value)[:40]!r}") from None
    if not low <= number <= high:
        raise _bad(where, field, f"{number} is outside {low}…{high}")
    return number


def _entry(values: dict[str, Any], where: str) -> _Parsed:
    place_id = str(values.get("id") or "").strip()
    if not PLACE_ID.match(place_id):
        raise _bad(where, "id", f"{place_id[:70]!r} is not 1–64 of a-z 0-9 _ . - "
                                "(starting with a letter or digit)")
    names: dict[str, str] = {}
    for code in NAME_FIELDS:
        value = values.get(f"name_{code}")
        if value is None:
            value = values.get(f"name_{code.replace('-', '_').lower()}")
        if value is None and code == "ja":
            value = values.get("name")
        if value is None or not str(value).strip():
            continue
        text = str(value).strip()
        if len(text) > MAX_NAME_CHARS or any(ord(char) < 32 for char in text):
            raise _bad(where, f"name_{code}", f"at most {MAX_NAME_CHARS} printable characters")
        names[code] = text
    if "ja" not in names:
        raise _bad(where, "name", "a name (name or name_ja) is required")
    if not fold_text(" ".join(names.values())):
        raise _bad(where, "name", "has no letters or digits")
    category = str(values.get("category") or "").strip() or None
    if category is not None and len(category) > 40:
        raise _bad(where, "category", "at most 40 characters")
    return _Parsed(place_id, names, _number(values.get("lat"), where, "lat", -90, 90),
                   _number(values.get("lon"), where, "lon", -180, 180), category, where)


def _csv_entries(path: Path, text: str) -> Iterator[_Parsed]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [column.strip() for column in reader.fieldnames or []]
    missing = {"id", "lat", "lon"} - set(header)
    if missing or not ({"name", "name_ja"} & set(header)):
        need = sorted(missing) or ["name or name_ja"]
        raise InvalidInput(f"{path}: line 1: missing column(s) {', '.join(need)} (columns: "
                           "id, name or name_ja, lat, lon, optional name_kana, name_en, "
                           "name_zh_hans, name_zh_hant, name_ko, category)")
    reader.fieldnames = header
    for row in reader:
        if None in row:
            raise InvalidInput(f"{path}: line {reader.line_num}: more values than columns")
        yield _entry(row, f"{path}: line {reader.line_num}")


def _geojson_entries(path: Path, text: str) -> Iterator[_Parsed]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: line {exc.lineno} column {exc.colno}: not JSON "
                           f"({exc.msg})") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection" \
            or not isinstance(document.get("features"), list):
        raise InvalidInput(f"{path}: expected a GeoJSON FeatureCollection with features")
    for number, feature in enumerate(document["features"]):
        where = f"{path}: features[{number}]"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InvalidInput(f"{where}: expected a Feature")
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") != "Point" \
                or not isinstance(geometry.get("coordinates"), list) \
                or len(geometry["coordinates"]) < 2:
            raise _bad(where, "geometry", "expected a Point with [lon, lat]")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise _bad(where, "properties", "expected an object")
        if "id" not in properties and isinstance(feature.get("id"), str | int):
            properties = {**properties, "id": feature["id"]}
        lon, lat = geometry["coordinates"][:2]
        yield _entry({**properties, "lat": lat, "lon": lon}, where)


def read_places_file(path: Path) -> list[_Parsed]:
    """Every place of a GeoJSON FeatureCollection (``.geojson``/``.json``) or CSV file, all
    checked; the first fault is an :class:`InvalidInput` naming the file, the line or feature
    and the field."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_IMPORT_BYTES:
        raise InvalidInput(f"{path}: {size:,} bytes; at most {MAX_IMPORT_BYTES:,}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: byte {exc.start}: not UTF-8") from None
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        entries = _geojson_entries(path, text)
    elif suffix == ".csv":
        entries = _csv_entries(path, text)
    else:
        raise InvalidInput(f"{path}: expected a .geojson, .json or .csv file")
    parsed: dict[str, _Parsed] = {}
    for entry in entries:
        if entry.id in parsed:
            raise _bad(entry.where, "id", f"{entry.id!r} is also at {parsed[entry.id].where}")
        parsed[entry.id] = entry
        if len(parsed) > MAX_IMPORT_PLACES:
            raise InvalidInput(f"{path}: more than {MAX_IMPORT_PLACES:,} places")
    if not parsed:
        raise InvalidInput(f"{path}: no places in the file")
    return list(parsed.values())


def import_places(session: Session, path: Path, clock: Clock, *, replace: bool = False
                  ) -> ImportResult:
    """Add or update the places of a file in one transaction (every place is checked first;
    nothing is written when one is bad). ``replace`` also removes places not in the file."""
    entries = read_places_file(path)
    now = clock()
    existing = set(session.scalars(select(PlaceRow.id)))
    try:
        removed = 0
        if replace:
            keep = {entry.id for entry in entries}
            removed = len(existing - keep)
            session.execute(delete(PlaceRow).where(PlaceRow.id.not_in(keep)))
        for entry in entries:
            session.merge(PlaceRow(id=entry.id, names=entry.names, lat=entry.lat,
                                   lon=entry.lon, category=entry.category,
                                   source=f"{path.name}: {entry.where.split(': ', 1)[1]}"[:500],
                                   imported_at=now))
        session.commit()
    except Exception:
        session.rollback()
        raise
    created = sum(1 for entry in entries if entry.id not in existing)
    return ImportResult(str(path), len(entries), created, len(entries) - created, removed)
