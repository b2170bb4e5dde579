"""read_feed: the one entry point from a zip or folder to :class:`FeedData`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gtfs.feed.kit import read_tables
from gtfs.feed.model import FeedData
from gtfs.feed.source import REQUIRED_FILES, Source
from gtfs.feed.stop_times import expand_frequencies, read_stop_times
from gtfs.feed.tables import (
    WEEKDAYS,
    read_agencies,
    read_calendar,
    read_fares,
    read_routes,
    read_stops,
    read_transfers,
    read_trips,
)
from gtfs.feed.translations import Translations
from gtfs.limits import DEFAULT_LIMITS, FeedLimits
from maas.core.errors import InvalidInput

_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency": ("agency_name", "agency_url", "agency_timezone"),
    "stops": ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    "routes": ("route_id", "route_type"),
    "trips": ("route_id", "service_id", "trip_id"),
    "stop_times": ("trip_id", "stop_id", "stop_sequence"),
    "calendar": ("service_id", *WEEKDAYS, "start_date", "end_date"),
    "calendar_dates": ("service_id", "date", "exception_type"),
    "frequencies": ("trip_id", "start_time", "end_time", "headway_secs"),
    "transfers": ("from_stop_id", "to_stop_id", "transfer_type"),
    "fare_attributes": ("fare_id", "price"),
    "fare_rules": ("fare_id",),
}


def read_feed(path: Path, limits: FeedLimits = DEFAULT_LIMITS) -> FeedData:
    """Read a GTFS / GTFS-JP zip or folder into :class:`FeedData`.

    Raises :class:`maas.core.errors.InvalidInput` naming file, line and column for what is broken;
    what real feeds do and is merely untidy is tolerated and reported in ``FeedData.warnings``.
    ``limits`` bound what may be read (sizes, lines, rows): see :mod:`gtfs.limits`.
    """
    source = Source(path, limits)
    for name in REQUIRED_FILES:
        if not source.has(name):
            raise InvalidInput(f"{name}: required file is missing")
    if not (source.has("calendar.txt") or source.has("calendar_dates.txt")):
        raise InvalidInput(
            "calendar.txt: required file is missing (a feed needs calendar.txt or "
            "calendar_dates.txt)"
        )
    tables = read_tables(source)
    for name in REQUIRED_FILES:
        if name.removesuffix(".txt") not in tables:
            raise InvalidInput(f"{name}: the file has no data rows")
    for table, columns in _REQUIRED_COLUMNS.items():
        if table in tables:
            tables[table].require(columns)
    if not (tables["stop_times"].has("arrival_time") or tables["stop_times"].has("departure_time")):
        tables["stop_times"].require(["arrival_time"])
    notes: list[str] = []
    translations = Translations(source, notes)
    agencies, agency_index = read_agencies(tables["agency"], translations)
    stops, stop_index = read_stops(tables["stops"], translations)
    routes, route_index = read_routes(tables["routes"], agency_index, translations)
    services, first_date, days = read_calendar(tables.get("calendar"), tables.get("calendar_dates"))
    trips = read_trips(tables["trips"], route_index, services, translations, notes)
    if len(services) > days.shape[0]:  # trips named services no calendar defines
        missing = np.zeros((len(services) - days.shape[0], days.shape[1]), dtype=np.bool_)
        days = np.vstack([days, missing])
    trip_index = {trip.id: index for index, trip in enumerate(trips)}
    times = read_stop_times(tables["stop_times"], trip_index, stop_index, notes)
    if "frequencies" in tables:
        trips, times = expand_frequencies(tables["frequencies"], trips, times, notes)
    without = len(trips) - int(np.unique(times.trip).size)
    if without:
        notes.append(f"trips.txt: {without} trips have no stop_times")
    transfers = read_transfers(tables.get("transfers"), stop_index, notes)
    fares = read_fares(tables.get("fare_attributes"), tables.get("fare_rules"), agency_index,
                        route_agency={route.id: route.agency for route in routes}, notes=notes)
    return FeedData(
        agencies=agencies,
        stops=stops,
        routes=routes,
        trips=trips,
        services=services,
        first_date=first_date,
        service_days=days,
        st_trip=times.trip.astype(np.int32),
        st_stop=times.stop.astype(np.int32),
        st_arrival=times.arrival.astype(np.int32),
        st_departure=times.departure.astype(np.int32),
        st_pickup=times.pickup.astype(np.int8),
        st_dropoff=times.dropoff.astype(np.int8),
        st_sequence=np.minimum(times.sequence, 2**31 - 1).astype(np.int32),
        transfers=transfers,
        fares=fares,
        warnings=notes,
    )

