"""shapes.txt, trips' ``shape_id`` and route colours of a stored GTFS feed (stdlib only).

Read from the feed copy :class:`gtfs.network.NetworkStore` keeps (a zip), with the standard
``csv`` module, once per network and process. A feed over :data:`MAX_SHAPE_POINTS` points keeps
no shapes (its legs are drawn stop to stop) and says so in the log.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gtfs.network import NetworkStore

log = logging.getLogger(__name__)

MAX_SHAPE_POINTS = 2_000_000
Point = tuple[float, float]  # (lon, lat), GeoJSON order


@dataclasses.dataclass(frozen=True)
class FeedShapes:
    """What a map needs of one feed beyond the compiled timetable."""

    shapes: dict[str, list[Point]] = dataclasses.field(default_factory=dict)
    trip_shape: dict[str, str] = dataclasses.field(default_factory=dict)
    route_colour: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)


def _rows(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, str]]:
    members = {Path(info.filename).name: info for info in archive.infolist()}
    if name not in members:
        return
    with archive.open(members[name]) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        reader.fieldnames = [field.strip() for field in reader.fieldnames or []]
        yield from reader


def _colour(value: str | None) -> str:
    value = (value or "").strip().lstrip("#")
    valid = len(value) == 6 and all(c in "0123456789abcdefABCDEF" for c in value)
    return f"#{value.upper()}" if valid else ""


def read_shapes(path: Path) -> FeedShapes:
    """The shapes, trips' shape ids and route colours of a stored feed zip (empty parts when
    the feed has none, or when it cannot be read: a map is never worth a failed request)."""
    result = FeedShapes()
    try:
        with zipfile.ZipFile(path) as archive:
            for row in _rows(archive, "routes.txt"):
                route_id = (row.get("route_id") or "").strip()
                colour = _colour(row.get("route_color"))
                if route_id and colour:
                    result.route_colour[route_id] = (colour,
                                                     _colour(row.get("route_text_color")))
            for row in _rows(archive, "trips.txt"):
                shape_id = (row.get("shape_id") or "").strip()
                if shape_id:
                    result.trip_shape[(row.get("trip_id") or "").strip()] = shape_id
            points: dict[str, list[tuple[int, float, float]]] = {}
            count = 0
            for row in _rows(archive, "shapes.txt"):
                count += 1
                if count > MAX_SHAPE_POINTS:
                    log.warning("%s: more than %d shape points; legs are drawn stop to stop",
                                path, MAX_SHAPE_POINTS)
                    result.shapes.clear()
                    return result
                try:
                    point = (int(float(row["shape_pt_sequence"])), float(row["shape_pt_lon"]),
                             float(row["shape_pt_lat"]))
                except (KeyError, TypeError, ValueError):
                    continue
                points.setdefault(row.get("shape_id", "").strip(), []).append(point)
    except (OSError, zipfile.BadZipFile, csv.Error, UnicodeDecodeError) as exc:
        log.warning("%s: shapes not read (%s); legs are drawn stop to stop", path, exc)
        return FeedShapes()
    for shape_id, rows in points.items():
        rows.sort()
        result.shapes[shape_id] = [(lon, lat) for _, lon, lat in rows]
    return result


class ShapeCache:
    """Per-process :class:`FeedShapes` by feed version (read once; a few versions kept)."""

    KEEP = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_version: dict[str, FeedShapes] = {}

    def get(self, version: str, path: Path) -> FeedShapes:
        """The shapes of the stored feed ``path`` of ``version``."""
        with self._lock:
            found = self._by_version.get(version)
            if found is None:
                found = read_shapes(path) if path.exists() else FeedShapes()
                if len(self._by_version) >= self.KEEP:
                    self._by_version.pop(next(iter(self._by_version)))
                self._by_version[version] = found
            return found


def feed_shapes(session: Session, store: NetworkStore) -> list[FeedShapes]:
    """Shapes and route colours of the active feeds, in the network's feed order."""
    # this host's copy of each feed (taken out of the database when the host has none yet)
    return [store.shapes.get(version, store.local_source(session, version))
            for _, version in store.active_feeds(session)]
