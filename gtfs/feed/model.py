"""The normalised feed: what every reader produces and the timetable compiler consumes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Int32Array = npt.NDArray[np.int32]
Int8Array = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Agency:
    """agency.txt (+ English and kana names from translations.txt)."""

    id: str
    name: str
    url: str
    timezone: str
    name_en: str | None = None
    name_kana: str | None = None


@dataclass(frozen=True)
class Stop:
    """stops.txt; ``parent`` is the index of the parent station in ``FeedData.stops`` or -1."""

    id: str
    name: str
    lat: float
    lon: float
    location_type: int = 0
    parent: int = -1
    platform_code: str = ""
    zone_id: str = ""
    name_en: str | None = None
    name_kana: str | None = None
    names: dict[str, str] = field(default_factory=dict)  # zh-Hans, zh-Hant, ko


@dataclass(frozen=True)
class Route:
    """routes.txt; ``agency`` indexes ``FeedData.agencies``."""

    id: str
    agency: int
    short_name: str
    long_name: str
    route_type: int
    color: str = ""
    long_name_en: str | None = None
    long_names: dict[str, str] = field(default_factory=dict)  # zh-Hans, zh-Hant, ko


@dataclass(frozen=True)
class Trip:
    """trips.txt; ``route`` and ``service`` index ``FeedData.routes`` / ``FeedData.services``."""

    id: str
    route: int
    service: int
    headsign: str = ""
    direction_id: int = -1
    headsign_en: str | None = None
    headsigns: dict[str, str] = field(default_factory=dict)  # zh-Hans, zh-Hant, ko


@dataclass(frozen=True)
class Transfer:
    """transfers.txt between two stops (indices); ``min_seconds`` -1 when not given."""

    from_stop: int
    to_stop: int
    transfer_type: int
    min_seconds: int = -1


@dataclass(frozen=True)
class FareRule:
    """fare_attributes.txt joined with fare_rules.txt (empty strings where a rule is open)."""

    fare_id: str
    price_yen: int
    agency: int
    route_id: str = ""
    origin_zone: str = ""
    destination_zone: str = ""


@dataclass(frozen=True)
class FeedData:
    """A whole feed, normalised.

    Stop times are parallel arrays sorted by (trip, stop_sequence); times are seconds after the
    service day's midnight (noon minus 12 h), and may exceed 86,400. ``frequencies.txt`` has
    already been expanded into ordinary trips (ids ``<trip_id>#<hh:mm:ss>``).

    Service days are a boolean matrix ``service_days[service, day]`` over the dates
    ``first_date + day`` (calendar.txt and calendar_dates.txt applied).
    """

    agencies: list[Agency]
    stops: list[Stop]
    routes: list[Route]
    trips: list[Trip]
    services: list[str]
    first_date: dt.date
    service_days: BoolArray  # shape (len(services), n_days)
    st_trip: Int32Array
    st_stop: Int32Array
    st_arrival: Int32Array
    st_departure: Int32Array
    st_pickup: Int8Array  # pickup_type: 0 regular, 1 none, 2/3 arrange
    st_dropoff: Int8Array  # drop_off_type
    transfers: list[Transfer] = field(default_factory=list)
    fares: list[FareRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # stop_times.txt's stop_sequence (GTFS-Realtime matches stop-time updates by it); None
    # (feeds built in code): each stop's position in its trip, from 1
    st_sequence: Int32Array | None = None

    @property
    def last_date(self) -> dt.date:
        """The last date the service matrix covers."""
        return self.first_date + dt.timedelta(days=int(self.service_days.shape[1]) - 1)



def feed_summary(feed: FeedData) -> dict[str, object]:
    """Counts, the service date range (ISO dates) and the number of warnings of a feed."""
    return {
        "agencies": len(feed.agencies),
        "stops": len(feed.stops),
        "routes": len(feed.routes),
        "trips": len(feed.trips),
        "stop_times": int(feed.st_trip.size),
        "service_start": feed.first_date.isoformat(),
        "service_end": feed.last_date.isoformat(),
        "warnings": len(feed.warnings),
    }
