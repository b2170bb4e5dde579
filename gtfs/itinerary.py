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
from collections.abc import Collection, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, Field

from gtfs.planner import Endpoint, Journey, Leg, to_datetime
from gtfs.timetable import Timetable


class PlaceOut(BaseModel):
    """One end of a leg."""

    name: str
    name_en: str | None = None
    lat: float
    lon: float
    stop_id: str | None = None


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
    booking: str | None = Field(default=None, description="taxi legs: how to book")

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
        "multimodal results: earliest, fewest_transfers, cheapest, no_taxi"))
    notes: list[str] = Field(default_factory=list,
                             description='such as "availability as of 08:55"')


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
    "availability": None, "wait_s": None, "service_id": None, "booking": None,
}


def _place(timetable: Timetable, stop: int, end: Endpoint, place: Endpoint | None = None
           ) -> Document:
    """A named place (a bike port), a stop of the network, or the query's own endpoint."""
    if place is not None:
        return {"name": place.name, "name_en": None, "lat": place.lat, "lon": place.lon,
                "stop_id": None}
    if stop < 0:
        return {"name": end.name, "name_en": None, "lat": end.lat, "lon": end.lon,
                "stop_id": None}
    meta = timetable.meta
    return {"name": meta["stop_names"][stop], "name_en": meta["stop_names_en"][stop],
            "lat": float(timetable.stop_lat[stop]), "lon": float(timetable.stop_lon[stop]),
            "stop_id": meta["stop_ids"][stop]}


def _fare_rules(timetable: Timetable) -> dict[tuple[int, str], list[dict[str, Any]]]:
    """Fare rules by (feed, route_id); route-less rules under (feed, "")."""
    index: dict[tuple[int, str], list[dict[str, Any]]] | None = timetable.meta.get("_fares")
    if index is None:
        index = {}
        for rule in timetable.meta["fares"]:
            index.setdefault((rule["feed"], rule["route_id"]), []).append(rule)
        timetable.meta["_fares"] = index
    return index


def leg_fare(timetable: Timetable, leg: Leg) -> int | None:
    """The cheapest matching GTFS fare for a transit leg (None when no rule matches)."""
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


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every leg of one journey is built with."""

    timetable: Timetable
    journey: Journey
    midnight: dt.datetime  # of the journey's service day
    origin: Endpoint
    destination: Endpoint
    covered: Collection[str]

    def moment(self, seconds: int) -> str:
        """ISO 8601 (seconds) of a time of the journey's service day."""
        return (self.midnight + dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _common(context: _Context, leg: Leg) -> Document:
    """The template with what every leg has: mode, times, both ends."""
    timetable = context.timetable
    return {
        **_LEG_TEMPLATE,
        "mode": leg.mode,
        "departure": context.moment(leg.departure),
        "arrival": context.moment(leg.arrival),
        "duration_s": leg.arrival - leg.departure,
        "from": _place(timetable, leg.from_stop, context.origin, leg.place_from),
        "to": _place(timetable, leg.to_stop, context.destination, leg.place_to),
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
    out = _common(context, leg)
    out.update(
        trip_id=meta["trip_ids"][leg.trip],
        route_id=meta["route_ids"][route],
        route_short_name=meta["route_short_names"][route],
        route_long_name=meta["route_long_names"][route],
        headsign=meta["trip_headsigns"][leg.trip],
        agency_id=agency,
        stops=leg.alight_pos - leg.board_pos,
        service_date=(context.journey.day + dt.timedelta(days=leg.day_shift)).isoformat(),
        fare_yen=0 if covered_leg else fare or 0,
        covered_by_pass=covered_leg,
    )
    return out, fare is not None or covered_leg


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
    built = [_leg(context, leg) for leg in journey.legs]
    legs = [out for out, _ in built]
    total = sum(out["fare_yen"] for out in legs)
    return {
        "departure": context.moment(journey.departure),
        "arrival": context.moment(journey.arrival),
        "duration_s": journey.arrival - journey.departure,
        "transfers": journey.transfers,
        "walk_m": sum(leg.walk_m for leg in journey.legs if leg.mode == "walk"),
        "service_date": next((out["service_date"] for out in legs if out["service_date"]),
                             journey.day.isoformat()),
        "fare": {
            "total_yen": total,
            "covered_by_pass": covered is not None and total == 0
            and any(out["covered_by_pass"] for out in legs),
            "complete": all(known for _, known in built),
        },
        "legs": legs,
        "tags": list(journey.tags),
        "notes": list(journey.notes),
    }


def plan_document(timetable: Timetable, journeys: Sequence[Journey], origin: Endpoint,
                  destination: Endpoint, covered: Collection[str] | None = None) -> Document:
    """The plan document (:class:`PlanOut` as plain data) for ``journeys``; ``covered``:
    operator ids of the pass asked for (None: no pass asked for)."""
    return {"itineraries": [
        _itinerary(_Context(timetable, journey, to_datetime(timetable, journey.day, 0), origin,
                            destination, covered or ()), covered)
        for journey in journeys]}


def dump(document: Document) -> bytes:
    """The document as UTF-8 JSON (Japanese unescaped, fields in order), written by orjson."""
    return orjson.dumps(document)
