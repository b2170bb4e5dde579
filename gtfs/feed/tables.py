"""The small tables: agency, stops, routes, calendars, trips, transfers and fares."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import numpy.typing as npt

from gtfs.feed.kit import Table
from gtfs.feed.model import Agency, BoolArray, FareRule, Route, Stop, Transfer, Trip
from gtfs.feed.translations import Translations
from maas.core.errors import InvalidInput

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def read_agencies(table: Table, translations: Translations) -> tuple[list[Agency], dict[str, int]]:
    ids = table.strings("agency_id")
    if table.rows > 1:
        for row, agency_id in enumerate(ids):
            if not agency_id:
                table.fail(row, "agency_id", "empty (required when there are several agencies)")
    table.first_duplicate(ids, "agency_id")
    names = table.strings("agency_name")
    agencies = [
        Agency(
            id=agency_id,
            name=name,
            url=url,
            timezone=timezone,
            name_en=translations.get("agency", "agency_name", "en", agency_id, name),
            name_kana=translations.get("agency", "agency_name", "kana", agency_id, name),
        )
        for agency_id, name, url, timezone in zip(
            ids, names, table.strings("agency_url"), table.strings("agency_timezone"), strict=True
        )
    ]
    return agencies, {agency.id: index for index, agency in enumerate(agencies)}


def read_stops(table: Table, translations: Translations) -> tuple[list[Stop], dict[str, int]]:
    ids = table.required_strings("stop_id")
    table.first_duplicate(ids, "stop_id")
    index = {stop_id: row for row, stop_id in enumerate(ids)}
    kinds = table.ints("location_type", 0, range(5))
    parents = []
    for row, parent_id in enumerate(table.strings("parent_station")):
        if parent_id and parent_id not in index:
            table.fail(row, "parent_station", f"unknown stop_id {parent_id!r} (not in stops.txt)")
        parents.append(index.get(parent_id, -1))
    lat, lon = table.floats("stop_lat"), table.floats("stop_lon")
    for row in np.flatnonzero(np.isnan(lat) | np.isnan(lon)).tolist():
        parent = parents[row]
        # generic nodes and boarding areas may leave out coordinates: they are where the parent is
        if kinds[row] >= 3 and parent >= 0 and not np.isnan(lat[parent] + lon[parent]):
            lat[row], lon[row] = lat[parent], lon[parent]
        else:
            column = "stop_lat" if np.isnan(lat[row]) else "stop_lon"
            table.fail(row, column, f"empty (required for location_type {kinds[row]})")
    for column, values, limit, what in (
        ("stop_lat", lat, 90, "latitude"), ("stop_lon", lon, 180, "longitude")
    ):
        bad = np.flatnonzero(~(np.abs(values) <= limit))
        if bad.size:
            value = values[bad[0]]
            table.fail(int(bad[0]), column, f"{value} is not a {what} (-{limit} to {limit})")
    names = table.strings("stop_name")
    stops = [
        Stop(
            id=stop_id,
            name=name,
            lat=float(lat[row]),
            lon=float(lon[row]),
            location_type=int(kinds[row]),
            parent=parents[row],
            platform_code=platform_code,
            zone_id=zone_id,
            name_en=translations.get("stops", "stop_name", "en", stop_id, name),
            name_kana=translations.get("stops", "stop_name", "kana", stop_id, name),
            names=translations.others("stops", "stop_name", stop_id, name),
        )
        for row, (stop_id, name, platform_code, zone_id) in enumerate(
            zip(ids, names, table.strings("platform_code"), table.strings("zone_id"), strict=True)
        )
    ]
    return stops, index


def read_routes(
    table: Table, agency_index: dict[str, int], translations: Translations
) -> tuple[list[Route], dict[str, int]]:
    ids = table.required_strings("route_id")
    table.first_duplicate(ids, "route_id")
    route_types = table.ints("route_type", 0, required=True)
    agencies = []
    for row, agency_id in enumerate(table.strings("agency_id")):
        if agency_id in agency_index:
            agencies.append(agency_index[agency_id])
        elif len(agency_index) == 1 and (not agency_id or "" in agency_index):
            agencies.append(0)  # the only agency (agency.txt may not even give it an id)
        elif not agency_id:
            table.fail(row, "agency_id", "empty (required when there are several agencies)")
        else:
            table.fail(row, "agency_id", f"unknown agency_id {agency_id!r} (not in agency.txt)")
    long_names = table.strings("route_long_name")
    routes = [
        Route(
            id=route_id,
            agency=agencies[row],
            short_name=short_name,
            long_name=long_name,
            route_type=int(route_types[row]),
            color=color,
            long_name_en=translations.get("routes", "route_long_name", "en", route_id, long_name),
            long_names=translations.others("routes", "route_long_name", route_id, long_name),
        )
        for row, (route_id, short_name, long_name, color) in enumerate(
            zip(ids, table.strings("route_short_name"), long_names, table.strings("route_color"),
                strict=True)
        )
    ]
    return routes, {route.id: index for index, route in enumerate(routes)}


def read_calendar(
    calendar: Table | None, calendar_dates: Table | None
) -> tuple[list[str], dt.date, BoolArray]:
    """Service ids and the service-day matrix from the earliest to the latest date given."""
    ids: list[str] = []
    weeks: list[npt.NDArray[np.int64]] = []
    starts: list[dt.date] = []
    ends: list[dt.date] = []
    if calendar is not None:
        ids = calendar.required_strings("service_id")
        calendar.first_duplicate(ids, "service_id")
        flags = [calendar.ints(day, 0, (0, 1), required=True) for day in WEEKDAYS]
        weeks = list(np.stack(flags, axis=1))
        starts, ends = calendar.dates("start_date"), calendar.dates("end_date")
        for row, (start, end) in enumerate(zip(starts, ends, strict=True)):
            if end < start:
                calendar.fail(row, "end_date", f"{end:%Y%m%d} is before start_date {start:%Y%m%d}")
    extra_ids: list[str] = []
    extra_dates: list[dt.date] = []
    kinds = np.zeros(0, dtype=np.int64)
    if calendar_dates is not None:
        extra_ids = calendar_dates.required_strings("service_id")
        extra_dates = calendar_dates.dates("date")
        kinds = calendar_dates.ints("exception_type", 0, (1, 2), required=True)
    every_date = starts + ends + extra_dates
    if not every_date:
        raise InvalidInput("calendar.txt: no service dates in calendar.txt or calendar_dates.txt")
    first, last = min(every_date), max(every_date)
    services = list(dict.fromkeys(ids + extra_ids))
    index = {service: row for row, service in enumerate(services)}
    days = np.zeros((len(services), (last - first).days + 1), dtype=np.bool_)
    weekday = (first.weekday() + np.arange(days.shape[1])) % 7
    for service, week, start, end in zip(ids, weeks, starts, ends, strict=True):
        span = slice((start - first).days, (end - first).days + 1)
        days[index[service], span] = (week[weekday] == 1)[span]
    for service, date, kind in zip(extra_ids, extra_dates, kinds, strict=True):
        days[index[service], (date - first).days] = kind == 1
    return services, first, days


def read_trips(
    table: Table,
    route_index: dict[str, int],
    services: list[str],
    translations: Translations,
    notes: list[str],
) -> list[Trip]:
    """trips.txt; service ids found in no calendar are appended to ``services`` (no days)."""
    ids = table.required_strings("trip_id")
    table.first_duplicate(ids, "trip_id")
    routes = []
    for row, route_id in enumerate(table.required_strings("route_id")):
        if route_id not in route_index:
            table.fail(row, "route_id", f"unknown route_id {route_id!r} (not in routes.txt)")
        routes.append(route_index[route_id])
    service_index = {service: row for row, service in enumerate(services)}
    unknown: list[str] = []
    service_rows = []
    for service in table.required_strings("service_id"):
        if service not in service_index:
            unknown.append(service)
            service_index[service] = len(services)
            services.append(service)
        service_rows.append(service_index[service])
    if unknown:
        notes.append(
            f"trips.txt: service_id {', '.join(map(repr, unknown))} is in neither calendar.txt "
            "nor calendar_dates.txt; those trips never run"
        )
    directions = table.ints("direction_id", -1, (-1, 0, 1))
    headsigns = table.strings("trip_headsign")
    return [
        Trip(
            id=trip_id,
            route=routes[row],
            service=service_rows[row],
            headsign=headsign,
            direction_id=int(directions[row]),
            headsign_en=translations.get("trips", "trip_headsign", "en", trip_id, headsign),
            headsigns=translations.others("trips", "trip_headsign", trip_id, headsign),
        )
        for row, (trip_id, headsign) in enumerate(zip(ids, headsigns, strict=True))
    ]



def read_transfers(
    table: Table | None, stop_index: dict[str, int], notes: list[str]
) -> list[Transfer]:
    if table is None:
        return []
    specific = np.zeros(table.rows, dtype=np.bool_)
    for column in ("from_trip_id", "to_trip_id", "from_route_id", "to_route_id"):
        specific |= ~table.missing(column)
    kinds = table.ints("transfer_type", 0, range(6))
    minimum = table.ints("min_transfer_time", -1)
    transfers = []
    without_stops = 0
    for row, (origin, destination) in enumerate(
        zip(table.strings("from_stop_id"), table.strings("to_stop_id"), strict=True)
    ):
        if specific[row]:
            continue
        if not origin or not destination:
            without_stops += 1
            continue
        for column, stop_id in (("from_stop_id", origin), ("to_stop_id", destination)):
            if stop_id not in stop_index:
                table.fail(row, column, f"unknown stop_id {stop_id!r} (not in stops.txt)")
        transfers.append(
            Transfer(stop_index[origin], stop_index[destination], int(kinds[row]),
                     int(minimum[row]))
        )
    if specific.any():
        notes.append(
            f"transfers.txt: {int(specific.sum())} rows for particular trips or routes "
            f"(first on line {table.first_line(np.flatnonzero(specific))}) were ignored"
        )
    if without_stops:
        notes.append(f"transfers.txt: {without_stops} rows without both stops were ignored")
    return transfers


def read_fares(
    attributes: Table | None,
    rules: Table | None,
    agency_index: dict[str, int],
    route_agency: dict[str, int],
    notes: list[str],
) -> list[FareRule]:
    if attributes is None:
        if rules is not None:
            notes.append("fare_rules.txt: no fare_attributes.txt to give prices; ignored")
        return []
    fare_ids = attributes.required_strings("fare_id")
    attributes.first_duplicate(fare_ids, "fare_id")
    prices = attributes.floats("price")
    for row in np.flatnonzero(~(prices >= 0)).tolist():
        problem = "empty" if np.isnan(prices[row]) else f"{prices[row]} is not a price"
        attributes.fail(row, "price", problem)
    currencies = {c for c in attributes.strings("currency_type") if c and c != "JPY"}
    if currencies:
        notes.append(
            f"fare_attributes.txt: currency {', '.join(sorted(currencies))} is not JPY; "
            "prices were kept as given"
        )
    fare_agency: dict[str, int] = {}
    for row, agency_id in enumerate(attributes.strings("agency_id")):
        if agency_id and agency_id not in agency_index:
            attributes.fail(
                row, "agency_id", f"unknown agency_id {agency_id!r} (not in agency.txt)"
            )
        if agency_id or len(agency_index) == 1:
            fare_agency[fare_ids[row]] = agency_index.get(agency_id, 0)
    matched: dict[str, list[tuple[str, str, str]]] = {fare_id: [] for fare_id in fare_ids}
    if rules is not None:
        contains = 0
        for row, (fare_id, route_id, origin, destination, zone) in enumerate(
            zip(
                rules.required_strings("fare_id"), rules.strings("route_id"),
                rules.strings("origin_id"), rules.strings("destination_id"),
                rules.strings("contains_id"), strict=True,
            )
        ):
            if fare_id not in matched:
                rules.fail(
                    row, "fare_id", f"unknown fare_id {fare_id!r} (not in fare_attributes.txt)"
                )
            if zone:
                contains += 1
                continue
            matched[fare_id].append((route_id, origin, destination))
        if contains:
            notes.append(f"fare_rules.txt: {contains} rules with contains_id were ignored")
    fares = []
    for fare_id, price in zip(fare_ids, prices, strict=True):
        yen = math.floor(float(price) + 0.5)
        for route_id, origin, destination in matched[fare_id] or [("", "", "")]:
            agency = fare_agency.get(fare_id, route_agency.get(route_id, 0))
            fares.append(FareRule(fare_id, yen, agency, route_id, origin, destination))
    return fares

