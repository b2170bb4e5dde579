"""On-demand taxi services (GTFS-Flex concepts in the project's JSON shape; pure).

A ``services.json`` lists services; each has an operator, a service area (a GeoJSON Polygon or
MultiPolygon, like a GTFS-Flex ``locations.geojson`` zone), operating hours per weekday, a
booking lead time, the expected pick-up wait by hour of day, an average speed, a fare rule
(``flat``: a community fare; ``metered``: base fare for the first metres, then a price per
step) and the transit stops it feeds. A taxi leg runs only inside the area, starts within the
hours, and is never shorter than ``min_ride_m`` (shorter trips are walked).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from gtfs.timetable import DETOUR
from maas.core.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_MIN_RIDE_M = 800


@dataclasses.dataclass(frozen=True)
class Hours:
    """Operating hours on some weekdays (seconds after midnight, ``end`` exclusive)."""

    days: frozenset[int]  # 0 = Monday
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class Fare:
    """``flat``: ``base_yen`` per ride; ``metered``: ``base_yen`` covers ``base_m``, then
    ``step_yen`` per begun ``step_m``."""

    kind: str
    base_yen: int
    base_m: int = 0
    step_m: int = 0
    step_yen: int = 0

    def price(self, metres: float) -> int:
        """The fare of a ride of ``metres`` (driven distance)."""
        if self.kind == "flat" or metres <= self.base_m:
            return self.base_yen
        return self.base_yen + math.ceil((metres - self.base_m) / self.step_m) * self.step_yen


@dataclasses.dataclass(frozen=True)
class Service:
    """One on-demand service."""

    service_id: str
    name: str
    operator_id: str
    area: tuple[tuple[tuple[float, float], ...], ...]  # rings of (lon, lat); even-odd rule
    hours: tuple[Hours, ...]
    lead_seconds: int
    wait_by_hour: Mapping[int, int]  # hour -> expected wait in seconds
    default_wait: int
    speed_mps: float
    fare: Fare
    feeds_stops: tuple[str, ...]
    min_ride_m: int = DEFAULT_MIN_RIDE_M
    booking: str = ""

    def covers(self, lat: float, lon: float) -> bool:
        """True when the point lies inside the service area."""
        inside = False
        for ring in self.area:
            for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
                if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                    inside = not inside
        return inside

    def operates(self, day: dt.date, seconds: int) -> bool:
        """True when a pick-up at ``seconds`` after midnight of ``day`` is within hours."""
        weekday = day.weekday()
        return any(weekday in h.days and h.start <= seconds < h.end for h in self.hours)

    def wait_seconds(self, seconds: int) -> int:
        """From asking to being picked up: the expected wait that hour, at least the lead."""
        hour = (seconds // 3600) % 24
        return max(self.lead_seconds, self.wait_by_hour.get(hour, self.default_wait))

    def ride_seconds(self, metres: float) -> int:
        """Driving time for a crow-fly distance (× detour at the service's speed)."""
        return math.ceil(metres * DETOUR / self.speed_mps)


def read_services(document: Any, where: str) -> tuple[Service, ...]:
    """Check and read a ``services.json`` document; errors name the field."""
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise InvalidInput(f"{where}: services: expected a list")
    result = []
    for index, item in enumerate(document["services"]):
        result.append(_service(item, f"{where}: services[{index}]"))
    return tuple(result)


def _fail(at: str, field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{at}.{field}: {message}")


def _service(item: Any, at: str) -> Service:
    if not isinstance(item, dict):
        raise InvalidInput(f"{at}: expected an object")
    for key in ("id", "name"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise _fail(at, key, "expected a non-empty string")
    operator = item.get("operator")
    if not isinstance(operator, dict) or not operator.get("id"):
        raise _fail(at, "operator.id", "expected a non-empty string")
    return Service(
        service_id=item["id"], name=item["name"], operator_id=str(operator["id"]),
        area=_area(item.get("area"), at), hours=_hours(item.get("hours"), at),
        lead_seconds=60 * _number(item, "booking_lead_minutes", at, 0, 24 * 60),
        wait_by_hour=_waits(item.get("expected_wait_minutes"), at),
        default_wait=60 * _number(item.get("expected_wait_minutes") or {}, "default",
                                  f"{at}.expected_wait_minutes", 0, 24 * 60),
        speed_mps=_number(item, "speed_kmh", at, 1, 200) / 3.6,
        fare=_fare(item.get("fare"), at),
        feeds_stops=_stops(item.get("feeds_stops", []), at),
        min_ride_m=_number(item, "min_ride_m", at, 0, 100_000, DEFAULT_MIN_RIDE_M),
        booking=str(item.get("booking_note") or
                    f"book {item['name']} at least {item.get('booking_lead_minutes')} min ahead"),
    )


def _number(item: Mapping[str, Any], key: str, at: str, low: int, high: int,
            default: int | None = None) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(at, key, f"expected an integer from {low} to {high}")
    return value


def _area(area: Any, at: str) -> tuple[tuple[tuple[float, float], ...], ...]:
    if not isinstance(area, dict) or area.get("type") not in ("Polygon", "MultiPolygon"):
        raise _fail(at, "area", "expected a GeoJSON Polygon or MultiPolygon")
    coordinates: Any = area.get("coordinates")
    polygons: Any = [coordinates] if area["type"] == "Polygon" else coordinates
    rings = []
    try:
        for polygon in polygons or []:
            for ring in polygon:
                points = tuple((float(lon), float(lat)) for lon, lat, *_ in ring)
                if len(points) < 4 or not all(-180 <= x <= 180 and -90 <= y <= 90
                                              for x, y in points):
                    raise ValueError
                rings.append(points)
    except (TypeError, ValueError):
        raise _fail(at, "area.coordinates", "expected rings of ≥ 4 [lon, lat] points") from None
    if not rings:
        raise _fail(at, "area.coordinates", "expected at least one ring")
    return tuple(rings)


def _clock(value: Any, at: str, field: str) -> int:
    hours, _, minutes = str(value).partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(minutes) < 60
            and int(hours) <= 48):
        raise _fail(at, field, f"expected HH:MM, got {value!r}")
    return int(hours) * 3600 + int(minutes) * 60


def _hours(hours: Any, at: str) -> tuple[Hours, ...]:
    if not isinstance(hours, list) or not hours:
        raise _fail(at, "hours", "expected a non-empty list")
    result = []
    for index, entry in enumerate(hours):
        where = f"hours[{index}]"
        days = entry.get("days") if isinstance(entry, dict) else None
        if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
            raise _fail(at, f"{where}.days", f"expected a list of {', '.join(DAYS)}")
        start = _clock(entry.get("start"), at, f"{where}.start")
        end = _clock(entry.get("end"), at, f"{where}.end")
        if end <= start:
            raise _fail(at, f"{where}.end", "must be after start")
        result.append(Hours(frozenset(DAYS.index(d) for d in days), start, end))
    return tuple(result)


def _waits(waits: Any, at: str) -> dict[int, int]:
    if not isinstance(waits, dict):
        raise _fail(at, "expected_wait_minutes", "expected an object of hour: minutes")
    result = {}
    for key, value in waits.items():
        if key == "default":
            continue
        if not (str(key).isdigit() and int(key) < 24) or isinstance(value, bool) \
                or not isinstance(value, int) or value < 0:
            raise _fail(at, f"expected_wait_minutes.{key}",
                        "expected hour keys 00-23 with minutes ≥ 0")
        result[int(key)] = value * 60
    return result


def _fare(fare: Any, at: str) -> Fare:
    if not isinstance(fare, dict) or fare.get("type") not in ("flat", "metered"):
        raise _fail(at, "fare.type", "expected flat or metered")
    if fare["type"] == "flat":
        return Fare("flat", _number(fare, "adult_yen", f"{at}.fare", 0, 100_000))
    return Fare("metered", _number(fare, "base_yen", f"{at}.fare", 0, 100_000),
                _number(fare, "base_m", f"{at}.fare", 0, 100_000),
                _number(fare, "step_m", f"{at}.fare", 1, 100_000),
                _number(fare, "step_yen", f"{at}.fare", 0, 100_000))


def _stops(stops: Any, at: str) -> tuple[str, ...]:
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _fail(at, "feeds_stops", "expected a list of stop ids")
    return tuple(stops)


def to_document(services: Sequence[Service]) -> list[dict[str, Any]]:
    """JSON-ready form (what the database keeps)."""
    return [dataclasses.asdict(s) | {
        "hours": [{"days": sorted(h.days), "start": h.start, "end": h.end} for h in s.hours],
        "wait_by_hour": {str(k): v for k, v in s.wait_by_hour.items()},
    } for s in services]


def from_document(document: Sequence[Mapping[str, Any]]) -> tuple[Service, ...]:
    """The inverse of :func:`to_document`."""
    return tuple(Service(**{
        **item,
        "area": tuple(tuple((float(x), float(y)) for x, y in ring) for ring in item["area"]),
        "hours": tuple(Hours(frozenset(h["days"]), h["start"], h["end"]) for h in item["hours"]),
        "wait_by_hour": {int(k): int(v) for k, v in item["wait_by_hour"].items()},
        "fare": Fare(**item["fare"]),
        "feeds_stops": tuple(item["feeds_stops"]),
    }) for item in document)
