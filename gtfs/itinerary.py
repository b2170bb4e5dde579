"""The plan document of CONTRACT.md, built from planner journeys (pure).

The pydantic models describe the document (the OpenAPI schema is generated from them); the
request path never builds them. :func:`plan_document` assembles plain dicts in the models'
field order with every field present, exactly as the models would dump them, and :func:`dump`
writes it with orjson. ``tests/test_plan_document.py`` validates generated documents against
the models and the OpenAPI schema, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from gtfs.languages import FALLBACKS, localised
from gtfs.planner import DAY, Endpoint, Journey, Leg, filled_at_once, to_datetime
from gtfs.timetable import Timetable


class AlertRefOut(BaseModel):
    """A service alert touching a leg or a departure (full text: GET /alerts)."""

    id: str
    header: str
    description: str
    effect: str = Field(examples=["SIGNIFICANT_DELAYS", "NO_SERVICE", "DETOUR"])


# the alerts touching a transit ride: (agency_id, route_id, trip_id, stop ids, start and end
# as unix seconds) -> alert documents as AlertRefOut (gtfs.realtime provides it)
AlertLookup = Callable[[str, str, str, Sequence[str], int, int], list[dict[str, str]]]


class PlaceOut(BaseModel):
    """One end of a leg: a stop, a bike port, or the place the rider chose (named in the
    language asked for, never raw coordinates when the rider chose a place)."""

    name: str
    name_en: str | None = None
    lat: float
    lon: float
    stop_id: str | None = None
    place_id: str | None = Field(default=None, description=(
        "the first leg's from and the last leg's to: the place the rider chose (poi:…, "
        "stop:…, bike:…), as GET /places gives it"))


class FareOut(BaseModel):
    """The fare of an itinerary in yen."""

    total_yen: int
    covered_by_pass: bool = Field(default=False, description=(
        "true when the pass asked for (pass=) covers every leg that costs money"))
    complete: bool = Field(description="false when a leg has no known fare (counted as 0)")


class AvailabilityOut(BaseModel):
    """Bike availability at the ports of a bike leg, when it was planned."""

    bikes_at_pickup: int
    docks_at_dropoff: int | None
    as_of: str = Field(description="when the ports reported it (ISO 8601)")
    stale: bool = Field(description="older than the freshness threshold: planned with a "
                                    "doubled margin")


class LineStringOut(BaseModel):
    """A GeoJSON LineString: ``[lon, lat]`` positions."""

    type: Literal["LineString"]
    coordinates: list[list[float]]


class LegOut(BaseModel):
    """A walk, ride or bike leg; transit legs carry the trip as in the feed."""

    mode: str = Field(examples=["walk", "bus", "tram", "rail", "subway", "ferry", "bike",
                                "taxi"])
    departure: str
    arrival: str
    duration_s: int
    from_: PlaceOut = Field(alias="from")
    to: PlaceOut
    distance_m: int | None = None
    trip_id: str | None = None
    route_id: str | None = None
    route_short_name: str | None = None
    route_long_name: str | None = None
    headsign: str | None = None
    agency_id: str | None = None
    stops: int | None = Field(default=None, description="stops ridden past, for transit")
    service_date: str | None = Field(default=None, description="the trip's service day")
    fare_yen: int = 0
    operator_id: str | None = Field(default=None, description="bike and taxi legs")
    covered_by_pass: bool = False
    pickup_station_id: str | None = Field(default=None, description="bike legs: GBFS port")
    dropoff_station_id: str | None = Field(default=None, description="bike legs: GBFS port")
    availability: AvailabilityOut | None = Field(default=None, description="bike legs")
    wait_s: int | None = Field(default=None, description="taxi legs: expected pick-up wait")
    service_id: str | None = Field(default=None, description="taxi legs: on-demand service")
    scheduled_departure: str | None = Field(default=None, description=(
        "transit legs: the timetable's departure (departure is the realtime estimate)"))
    scheduled_arrival: str | None = Field(default=None, description="transit legs")
    delay_s: int | None = Field(default=None, description=(
        "transit legs: estimated minus scheduled departure, seconds"))
    realtime: bool | None = Field(default=None, description=(
        "transit legs: the times are estimates from a GTFS-Realtime feed"))
    alerts: list[AlertRefOut] = Field(default_factory=list, description=(
        "service alerts touching this leg (its agency, route, trip or stops)"))
    booking: str | None = Field(default=None, description="taxi legs: how to book")
    geometry: LineStringOut | None = Field(default=None, description=(
        "with geometry=1: the leg's line, along the GTFS shape between its stops for a ride "
        "(through the stops when the feed has no shapes), straight otherwise"))

    model_config = {"populate_by_name": True}


class ItineraryOut(BaseModel):
    """One journey; ``service_date`` is its first trip's (what a one-day pass must cover)."""

    departure: str
    arrival: str
    duration_s: int
    transfers: int
    walk_m: int
    service_date: str
    fare: FareOut
    legs: list[LegOut]
    tags: list[str] = Field(default_factory=list, description=(
        "why it is offered (never empty): earliest, fewest_transfers, cheapest, no_taxi, "
        "least_walking, alternative"))
    notes: list[str] = Field(default_factory=list,
                             description='such as "availability as of 08:55"')
    reason: str = Field(default="", description=(
        "why this itinerary is offered, in the language asked for (from its tags)"))


class PlanOut(BaseModel):
    """The plan document: itineraries, earliest departure first."""

    itineraries: list[ItineraryOut]


# One function per leg kind: a walk, a transit ride, a bike or taxi ride. Each starts from
# the same template (every LegOut field, in order, at its default) and fills in its own fields.

Document = dict[str, Any]

_LEG_TEMPLATE: Document = {
    "mode": None, "departure": None, "arrival": None, "duration_s": None, "from": None,
    "to": None, "distance_m": None, "trip_id": None, "route_id": None,
    "route_short_name": None, "route_long_name": None, "headsign": None, "agency_id": None,
    "stops": None, "service_date": None, "fare_yen": 0, "operator_id": None,
    "covered_by_pass": False, "pickup_station_id": None, "dropoff_station_id": None,
    "availability": None, "wait_s": None, "service_id": None, "scheduled_departure": None,
    "scheduled_arrival": None, "delay_s": None, "realtime": None, "alerts": (),
    "booking": None, "geometry": None,
}


def _names(meta: dict[str, Any], field: str, index: int, language: str) -> str:
    """``meta[field][index]`` in ``language``, along its fallbacks: English from
    ``<field>_en``, other languages from ``<field>_i18n`` (translations.txt)."""
    base: str = meta[field][index]
    if language == "ja":
        return base
    for code in FALLBACKS[language]:
        if code == "ja":
            return base
        column = (meta.get(f"{field}_en") if code == "en"
                  else meta.get(f"{field}_i18n", {}).get(code))
        if column is not None and column[index]:
            found: str = column[index]
            return found
    return base


def _stop(context: _Context, stop: int, place_id: str | None = None) -> Document:
    """A stop of the network as a leg's end, named in the context's language (built once per
    network and language, then copied)."""
    timetable, language = context.timetable, context.language
    cache: dict[str, list[Document | None]] = timetable.meta.setdefault("_places", {})
    places = cache.get(language)
    if places is None:
        places = cache[language] = [None] * timetable.n_stops
    found = places[stop]
    if found is None:
        meta = timetable.meta
        found = places[stop] = {
            "name": _names(meta, "stop_names", stop, language),
            "name_en": meta["stop_names_en"][stop],
            "lat": float(timetable.stop_lat[stop]), "lon": float(timetable.stop_lon[stop]),
            "stop_id": meta["stop_ids"][stop], "place_id": None}
    out = dict(found)
    if place_id is not None:
        out["place_id"] = place_id
    return out


def _place(context: _Context, stop: int, end: Endpoint, place: Endpoint | None = None
           ) -> Document:
    """A named place (a bike port), a stop of the network, or the query's own end (the stop
    or place the rider chose, else the coordinate)."""
    if place is not None:
        names = context.port_names(place.name)
        return {"name": localised(names, context.language) or place.name,
                "name_en": names.get("en"), "lat": place.lat, "lon": place.lon,
                "stop_id": None, "place_id": None}
    if stop >= 0:
        return _stop(context, stop)
    if end.stop >= 0:
        return _stop(context, end.stop, end.place)
    return {"name": end.name, "name_en": None, "lat": end.lat, "lon": end.lon,
            "stop_id": None, "place_id": end.place}


def _fare_rules(timetable: Timetable) -> dict[tuple[int, str], list[dict[str, Any]]]:
    """Fare rules by (feed, route_id); route-less rules under (feed, "")."""
    index: dict[tuple[int, str], list[dict[str, Any]]] | None = timetable.meta.get("_fares")
    if index is None:
        index = {}
        for rule in timetable.meta["fares"]:
            index.setdefault((rule["feed"], rule["route_id"]), []).append(rule)
        timetable.meta["_fares"] = index
    return index


_FARE_CACHE = 100_000  # remembered (trip, from, to) fares per network, then started afresh


def leg_fare(timetable: Timetable, leg: Leg) -> int | None:
    """The cheapest matching GTFS fare for a transit leg (None when no rule matches).

    Remembered per network by trip and ends: the planner prices each candidate and the
    document prices the legs kept, so most legs are priced twice per request.
    """
    cache: dict[tuple[int, int, int], int | None] = timetable.memo("_leg_fares", _FARE_CACHE)
    key = (leg.trip, leg.from_stop, leg.to_stop)
    if key in cache:
        return cache[key]
    fare = cache[key] = _leg_fare(timetable, leg)
    return fare


def _leg_fare(timetable: Timetable, leg: Leg) -> int | None:
    meta = timetable.meta
    route = int(timetable.pattern_route[timetable.trip_pattern[leg.trip]])
    route_id = meta["route_ids"][route]
    feed = int(timetable.stop_feed[leg.from_stop])
    origin, destination = meta["stop_zones"][leg.from_stop], meta["stop_zones"][leg.to_stop]
    index = _fare_rules(timetable)
    agency = int(timetable.route_agency[route])
    prices = [
        int(rule["price_yen"])
        for rule in (*index.get((feed, route_id), ()), *index.get((feed, ""), ()))
        if rule["origin"] in ("", origin)
        and rule["destination"] in ("", destination)
        and (rule["route_id"] or rule["origin"] or rule["destination"]
             or rule["agency"] == agency)
    ]
    return min(prices) if prices else None


def agency_of(timetable: Timetable, trip: int) -> str:
    """The agency (operator) id of a trip."""
    route = int(timetable.pattern_route[timetable.trip_pattern[trip]])
    return str(timetable.meta["agency_ids"][int(timetable.route_agency[route])])


class _Clock:
    """ISO 8601 strings of the times of one service day (seconds after its midnight).

    ``datetime.isoformat`` of a ``ZoneInfo`` time looks the offset up on every call (most of
    the document's cost); a network keeps one clock per recent service day. When the zone's
    offset is the same at the day's midnight and two days later, as on every day without a
    clock change, the text is written directly with that offset. Otherwise each time goes
    through ``datetime``, as :func:`to_datetime` does.
    """

    def __init__(self, timetable: Timetable, day: dt.date) -> None:
        self.day = day
        self.midnight = to_datetime(timetable, day, 0)
        later = to_datetime(timetable, day, 2 * DAY_SECONDS)
        text = self.midnight.isoformat(timespec="seconds")
        same = self.midnight.utcoffset() == later.utcoffset()
        self.offset = text[19:] if same else None  # after YYYY-MM-DDTHH:MM:SS
        self.dates = {0: text[:10]}
        self.texts: dict[int, str] = {}

    def __call__(self, seconds: int) -> str:
        """The moment ``seconds`` after the day's midnight (remembered: timetable times
        recur from request to request)."""
        text = self.texts.get(seconds)
        if text is None:
            if len(self.texts) >= _CLOCK_TEXTS:
                self.texts = {}
            text = self.texts[seconds] = self._write(seconds)
        return text

    def date(self, days: int = 0) -> str:
        """The ISO 8601 date ``days`` after the clock's day."""
        text = self.dates.get(days)
        if text is None:
            text = self.dates[days] = (self.day + dt.timedelta(days=days)).isoformat()
        return text

    def _write(self, seconds: int) -> str:
        if self.offset is None:
            return (self.midnight + dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")
        days, rest = divmod(seconds, DAY_SECONDS)
        date = self.date(days)
        hours, rest = divmod(rest, 3600)
        minutes, rest = divmod(rest, 60)
        return f"{date}T{hours:02d}:{minutes:02d}:{rest:02d}{self.offset}"


DAY_SECONDS = 86_400
_CLOCK_TEXTS = 8192  # times remembered per service day's clock, then started afresh


def _no_names(_name: str) -> Mapping[str, str]:
    return {}


@filled_at_once
@dataclasses.dataclass(frozen=True)
class _Context:
    """What every leg of one journey is built with."""

    timetable: Timetable
    journey: Journey
    moment: _Clock  # ISO 8601 of a time of the journey's service day
    origin: Endpoint
    destination: Endpoint
    covered: Collection[str]
    language: str = "ja"
    # a bike port's names by language, from its Japanese name (the place search's glossary)
    port_names: Callable[[str], Mapping[str, str]] = _no_names
    # the service alerts in force (gtfs.realtime), None when there are none
    alerts: AlertLookup | None = None


def _common(context: _Context, leg: Leg) -> Document:
    """The template with what every leg has: mode, times, both ends."""
    return {
        **_LEG_TEMPLATE,
        "mode": leg.mode,
        "departure": context.moment(leg.departure),
        "arrival": context.moment(leg.arrival),
        "duration_s": leg.arrival - leg.departure,
        "from": _place(context, leg.from_stop, context.origin, leg.place_from),
        "to": _place(context, leg.to_stop, context.destination, leg.place_to),
    }


def _walk_leg(context: _Context, leg: Leg) -> tuple[Document, bool]:
    """A walk: its distance (free, so its fare is known)."""
    out = _common(context, leg)
    out["distance_m"] = leg.walk_m
    return out, True


def _transit_leg(context: _Context, leg: Leg) -> tuple[Document, bool]:
    """A ride on a trip of the feed: trip, route, agency, stops ridden past, fare."""
    timetable, meta = context.timetable, context.timetable.meta
    route = int(timetable.pattern_route[timetable.trip_pattern[leg.trip]])
    fare = leg_fare(timetable, leg)
    agency = meta["agency_ids"][int(timetable.route_agency[route])]
    covered_leg = agency in context.covered
    offset = int(timetable.trip_time_offset[leg.trip])
    # the timetable's times (departure and arrival are realtime estimates where there are any)
    scheduled_departure = int(timetable.departure[offset + leg.board_pos]) + leg.day_shift * DAY
    scheduled_arrival = int(timetable.arrival[offset + leg.alight_pos]) + leg.day_shift * DAY
    out = _common(context, leg)
    out.update(
        scheduled_departure=context.moment(scheduled_departure),
        scheduled_arrival=context.moment(scheduled_arrival),
        delay_s=leg.departure - scheduled_departure, realtime=leg.realtime,
        alerts=_alerts(context, leg, agency, route),
        trip_id=meta["trip_ids"][leg.trip],
        route_id=meta["route_ids"][route],
        route_short_name=meta["route_short_names"][route],
        route_long_name=_names(meta, "route_long_names", route, context.language),
        headsign=_names(meta, "trip_headsigns", leg.trip, context.language),
        agency_id=agency,
        stops=leg.alight_pos - leg.board_pos,
        service_date=context.moment.date(leg.day_shift),
        fare_yen=0 if covered_leg else fare or 0,
        covered_by_pass=covered_leg,
    )
    return out, fare is not None or covered_leg


def _alerts(context: _Context, leg: Leg, agency: str, route: int) -> list[dict[str, str]]:
    """The service alerts touching a ride: its agency, route, trip or the stops it passes,
    while it runs."""
    if context.alerts is None:
        return []
    timetable, meta = context.timetable, context.timetable.meta
    base = int(timetable.pattern_stop_offset[timetable.trip_pattern[leg.trip]])
    stops = [meta["stop_ids"][s] for s in timetable.pattern_stops[
        base + leg.board_pos:base + leg.alight_pos + 1].tolist()]
    start = int(to_datetime(timetable, context.journey.day, leg.departure).timestamp())
    return context.alerts(agency, meta["route_ids"][route], meta["trip_ids"][leg.trip], stops,
                          start, start + leg.arrival - leg.departure)


def _vehicle_leg(context: _Context, leg: Leg) -> tuple[Document, bool]:
    """A bike or taxi leg: its operator, price, ports or wait."""
    info = leg.info or {}
    covered_leg = leg.operator in context.covered
    availability = info.get("availability")
    out = _common(context, leg)
    out.update(
        distance_m=leg.walk_m, operator_id=leg.operator,
        fare_yen=0 if covered_leg else leg.fare_yen or 0, covered_by_pass=covered_leg,
        pickup_station_id=info.get("pickup_station_id"),
        dropoff_station_id=info.get("dropoff_station_id"),
        availability=None if availability is None else {
            "bikes_at_pickup": availability["bikes_at_pickup"],
            "docks_at_dropoff": availability["docks_at_dropoff"],
            "as_of": availability["as_of"], "stale": availability["stale"]},
        wait_s=info.get("wait_s"), service_id=info.get("service_id"),
        booking=info.get("booking"),
    )
    return out, leg.fare_yen is not None or covered_leg


def _leg(context: _Context, leg: Leg) -> tuple[Document, bool]:
    """The leg's document and whether its fare is known."""
    if leg.trip >= 0:
        return _transit_leg(context, leg)
    if leg.mode == "walk":
        return _walk_leg(context, leg)
    return _vehicle_leg(context, leg)


def _itinerary(context: _Context, covered: Collection[str] | None) -> Document:
    """One journey with its legs, fare and tags."""
    journey = context.journey
    legs: list[Document] = []
    total = walk_m = 0
    complete, any_covered = True, False
    service_date = None
    for leg in journey.legs:
        out, known = _leg(context, leg)
        legs.append(out)
        total += out["fare_yen"]
        complete = complete and known
        any_covered = any_covered or out["covered_by_pass"]
        service_date = service_date or out["service_date"]
        if leg.mode == "walk":
            walk_m += leg.walk_m
    if legs:  # the ends the rider chose
        legs[0]["from"]["place_id"] = context.origin.place
        legs[-1]["to"]["place_id"] = context.destination.place
    return {
        "departure": context.moment(journey.departure),
        "arrival": context.moment(journey.arrival),
        "duration_s": journey.arrival - journey.departure,
        "transfers": journey.transfers,
        "walk_m": walk_m,
        "service_date": service_date or context.moment.date(),
        "fare": {
            "total_yen": total,
            "covered_by_pass": covered is not None and total == 0 and any_covered,
            "complete": complete,
        },
        "legs": legs,
        "tags": list(journey.tags),
        "notes": list(journey.notes),
        "reason": "",
    }


def plan_document(timetable: Timetable, journeys: Sequence[Journey], origin: Endpoint,
                  destination: Endpoint, covered: Collection[str] | None = None, *,
                  language: str = "ja",
                  port_names: Callable[[str], Mapping[str, str]] = _no_names,
                  alerts: AlertLookup | None = None) -> Document:
    """The plan document (:class:`PlanOut` as plain data) for ``journeys``; ``covered``:
    operator ids of the pass asked for (None: no pass asked for). Names of stops, routes,
    headsigns and bike ports (``port_names``) are in ``language`` where the feeds have them;
    every itinerary gets tags and a reason (:func:`explain`); ``alerts``: the service alerts
    in force (see :data:`AlertLookup`; None: there are none)."""
    clocks: dict[dt.date, _Clock] = timetable.meta.setdefault("_clocks", {})
    if len(clocks) > 8:  # a few service days are asked for at a time
        clocks.clear()
    itineraries = [
        _itinerary(_Context(timetable, journey, clocks.get(journey.day)
                            or clocks.setdefault(journey.day, _Clock(timetable, journey.day)),
                            origin, destination, covered or (), language, port_names, alerts),
                   covered)
        for journey in journeys]
    explain(itineraries, language)
    return {"itineraries": itineraries}


# why an itinerary is offered, by tag, in each language
REASONS: dict[str, dict[str, str]] = {
    "earliest": {"ja": "最も早く着く", "en": "Arrives earliest", "zh-Hans": "最早到达",
                 "zh-Hant": "最早抵達", "ko": "가장 빨리 도착"},
    "fewest_transfers": {"ja": "乗り換えが最も少ない", "en": "Fewest transfers",
                         "zh-Hans": "换乘最少", "zh-Hant": "轉乘最少", "ko": "환승 최소"},
    "cheapest": {"ja": "最も安い", "en": "Cheapest", "zh-Hans": "最便宜", "zh-Hant": "最便宜",
                 "ko": "가장 저렴"},
    "no_taxi": {"ja": "タクシーを使わない", "en": "Without a taxi", "zh-Hans": "不乘出租车",
                "zh-Hant": "不搭計程車", "ko": "택시 없이"},
    "least_walking": {"ja": "歩く距離が最も短い", "en": "Least walking", "zh-Hans": "步行最少",
                      "zh-Hant": "步行最少", "ko": "도보 최소"},
    "alternative": {"ja": "別の出発時刻・経路", "en": "Another departure or route",
                    "zh-Hans": "其他班次或路线", "zh-Hant": "其他班次或路線",
                    "ko": "다른 출발·경로"},
}
SEPARATORS = {"ja": "・", "zh-Hans": "、", "zh-Hant": "、"}


def explain(itineraries: list[Document], language: str) -> None:
    """Give every itinerary without tags the ones that hold among these itineraries
    (earliest, fewest_transfers, cheapest, least_walking — those the planner did not already
    give another; else alternative), and every itinerary its ``reason`` in ``language``."""
    if not itineraries:
        return
    best = {
        "earliest": min(i["arrival"] for i in itineraries),
        "fewest_transfers": min(i["transfers"] for i in itineraries),
        "cheapest": min(i["fare"]["total_yen"] for i in itineraries),
        "least_walking": min(i["walk_m"] for i in itineraries),
    }
    separator = SEPARATORS.get(language, ", ")
    # the planner's own designations (multimodal results) are not given twice
    given = {tag for itinerary in itineraries for tag in itinerary["tags"]}
    for itinerary in itineraries:
        if not itinerary["tags"]:
            values = {"earliest": itinerary["arrival"],
                      "fewest_transfers": itinerary["transfers"],
                      "cheapest": itinerary["fare"]["total_yen"],
                      "least_walking": itinerary["walk_m"]}
            itinerary["tags"] = [tag for tag, value in values.items()
                                 if value == best[tag] and tag not in given] or ["alternative"]
        itinerary["reason"] = separator.join(
            [REASONS[tag][language] for tag in itinerary["tags"] if tag in REASONS])


def dump(document: Document) -> bytes:
    """The document as UTF-8 JSON (Japanese unescaped, fields in order), written by orjson."""
    return orjson.dumps(document)
