"""The plan document of CONTRACT.md, built from planner journeys (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

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
    covered_by_pass: bool = False
    complete: bool = Field(description="false when a leg has no known fare (counted as 0)")


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


class PlanOut(BaseModel):
    """The plan document: itineraries, earliest departure first."""

    itineraries: list[ItineraryOut]


# The document is built from trusted planner output with ``model_construct`` (no validation):
# building it is most of a query's time otherwise.


def _place(timetable: Timetable, stop: int, end: Endpoint) -> PlaceOut:
    """A stop of the network, or (``stop`` -1) the query's own endpoint."""
    if stop < 0:
        return PlaceOut.model_construct(name=end.name, lat=end.lat, lon=end.lon)
    meta = timetable.meta
    return PlaceOut.model_construct(
        name=meta["stop_names"][stop], name_en=meta["stop_names_en"][stop],
        lat=float(timetable.stop_lat[stop]), lon=float(timetable.stop_lon[stop]),
        stop_id=meta["stop_ids"][stop],
    )


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


def _leg(timetable: Timetable, journey: Journey, leg: Leg, origin: Endpoint,
         destination: Endpoint) -> tuple[LegOut, bool]:
    meta = timetable.meta
    fields: dict[str, Any] = {
        "mode": leg.mode,
        "departure": to_datetime(timetable, journey.day, leg.departure).isoformat(
            timespec="seconds"),
        "arrival": to_datetime(timetable, journey.day, leg.arrival).isoformat(
            timespec="seconds"),
        "duration_s": leg.arrival - leg.departure,
        "from_": _place(timetable, leg.from_stop, origin),
        "to": _place(timetable, leg.to_stop, destination),
    }
    if leg.trip < 0:
        return LegOut.model_construct(distance_m=leg.walk_m, **fields), True
    route = int(timetable.pattern_route[timetable.trip_pattern[leg.trip]])
    fare = leg_fare(timetable, leg)
    out = LegOut.model_construct(
        trip_id=meta["trip_ids"][leg.trip],
        route_id=meta["route_ids"][route],
        route_short_name=meta["route_short_names"][route],
        route_long_name=meta["route_long_names"][route],
        headsign=meta["trip_headsigns"][leg.trip],
        agency_id=meta["agency_ids"][int(timetable.route_agency[route])],
        stops=leg.alight_pos - leg.board_pos,
        service_date=(journey.day + dt.timedelta(days=leg.day_shift)).isoformat(),
        fare_yen=fare or 0,
        **fields,
    )
    return out, fare is not None


def plan_document(timetable: Timetable, journeys: Sequence[Journey], origin: Endpoint,
                  destination: Endpoint) -> PlanOut:
    """The plan document for ``journeys``."""
    itineraries = []
    for journey in journeys:
        legs = [_leg(timetable, journey, leg, origin, destination) for leg in journey.legs]
        start = to_datetime(timetable, journey.day, journey.departure)
        end = to_datetime(timetable, journey.day, journey.arrival)
        itineraries.append(ItineraryOut.model_construct(
            departure=start.isoformat(timespec="seconds"),
            arrival=end.isoformat(timespec="seconds"),
            duration_s=journey.arrival - journey.departure,
            transfers=journey.transfers,
            walk_m=sum(leg.walk_m for leg in journey.legs if leg.trip < 0),
            service_date=next((out.service_date for out, _ in legs if out.service_date),
                              journey.day.isoformat()),
            fare=FareOut.model_construct(total_yen=sum(out.fare_yen for out, _ in legs),
                                         covered_by_pass=False,
                                         complete=all(known for _, known in legs)),
            legs=[out for out, _ in legs],
        ))
    return PlanOut.model_construct(itineraries=itineraries)
