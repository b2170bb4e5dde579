"""The plan document of CONTRACT.md, built from planner journeys (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Any

from pydantic import BaseModel, Field

from gtfs.planner import DAY, Endpoint, Journey, Leg, to_datetime
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


# The document is built from trusted planner output with ``model_construct`` (no validation):
# building it is most of a query's time otherwise.


def _place(timetable: Timetable, stop: int, end: Endpoint, place: Endpoint | None = None
           ) -> PlaceOut:
    """A named place (a bike port), a stop of the network, or the query's own endpoint."""
    if place is not None:
        return PlaceOut.model_construct(name=place.name, lat=place.lat, lon=place.lon)
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


def agency_of(timetable: Timetable, trip: int) -> str:
    """The agency (operator) id of a trip."""
    route = int(timetable.pattern_route[timetable.trip_pattern[trip]])
    return str(timetable.meta["agency_ids"][int(timetable.route_agency[route])])


def _leg(timetable: Timetable, journey: Journey, leg: Leg, origin: Endpoint,
         destination: Endpoint, covered: Collection[str], alerts: AlertLookup | None = None
         ) -> tuple[LegOut, bool]:
    """The leg's document and whether its fare is known."""
    meta = timetable.meta
    fields: dict[str, Any] = {
        "mode": leg.mode,
        "departure": to_datetime(timetable, journey.day, leg.departure).isoformat(
            timespec="seconds"),
        "arrival": to_datetime(timetable, journey.day, leg.arrival).isoformat(
            timespec="seconds"),
        "duration_s": leg.arrival - leg.departure,
        "from_": _place(timetable, leg.from_stop, origin, leg.place_from),
        "to": _place(timetable, leg.to_stop, destination, leg.place_to),
    }
    if leg.trip < 0:
        if leg.mode == "walk":
            return LegOut.model_construct(distance_m=leg.walk_m, **fields), True
        return _vehicle_leg(leg, fields, covered)
    route = int(timetable.pattern_route[timetable.trip_pattern[leg.trip]])
    fare = leg_fare(timetable, leg)
    agency = meta["agency_ids"][int(timetable.route_agency[route])]
    covered_leg = agency in covered
    offset = int(timetable.trip_time_offset[leg.trip])
    scheduled_departure = int(timetable.departure[offset + leg.board_pos]) + leg.day_shift * DAY
    scheduled_arrival = int(timetable.arrival[offset + leg.alight_pos]) + leg.day_shift * DAY
    touching: list[AlertRefOut] = []
    if alerts is not None:
        base = int(timetable.pattern_stop_offset[timetable.trip_pattern[leg.trip]])
        stops = [meta["stop_ids"][s] for s in timetable.pattern_stops[
            base + leg.board_pos:base + leg.alight_pos + 1].tolist()]
        start = int(to_datetime(timetable, journey.day, leg.departure).timestamp())
        touching = [AlertRefOut.model_construct(None, **found) for found in alerts(
            agency, meta["route_ids"][route], meta["trip_ids"][leg.trip], stops, start,
            start + leg.arrival - leg.departure)]
    out = LegOut.model_construct(
        scheduled_departure=to_datetime(timetable, journey.day, scheduled_departure).isoformat(
            timespec="seconds"),
        scheduled_arrival=to_datetime(timetable, journey.day, scheduled_arrival).isoformat(
            timespec="seconds"),
        delay_s=leg.departure - scheduled_departure, realtime=leg.realtime, alerts=touching,
        trip_id=meta["trip_ids"][leg.trip],
        route_id=meta["route_ids"][route],
        route_short_name=meta["route_short_names"][route],
        route_long_name=meta["route_long_names"][route],
        headsign=meta["trip_headsigns"][leg.trip],
        agency_id=agency,
        stops=leg.alight_pos - leg.board_pos,
        service_date=(journey.day + dt.timedelta(days=leg.day_shift)).isoformat(),
        fare_yen=0 if covered_leg else fare or 0,
        covered_by_pass=covered_leg,
        **fields,
    )
    return out, fare is not None or covered_leg


def _vehicle_leg(leg: Leg, fields: dict[str, Any], covered: Collection[str]
                 ) -> tuple[LegOut, bool]:
    """A bike or taxi leg: its operator, price, ports or wait."""
    info = dict(leg.info or {})
    covered_leg = leg.operator in covered
    availability = info.get("availability")
    out = LegOut.model_construct(
        distance_m=leg.walk_m, operator_id=leg.operator,
        fare_yen=0 if covered_leg else leg.fare_yen or 0, covered_by_pass=covered_leg,
        pickup_station_id=info.get("pickup_station_id"),
        dropoff_station_id=info.get("dropoff_station_id"),
        availability=None if availability is None else AvailabilityOut.model_construct(
            **availability),
        wait_s=info.get("wait_s"), service_id=info.get("service_id"),
        booking=info.get("booking"), **fields,
    )
    return out, leg.fare_yen is not None or covered_leg


def plan_document(timetable: Timetable, journeys: Sequence[Journey], origin: Endpoint,
                  destination: Endpoint, covered: Collection[str] | None = None,
                  alerts: AlertLookup | None = None) -> PlanOut:
    """The plan document for ``journeys``; ``covered``: operator ids of the pass asked for;
    ``alerts``: the service alerts in force (see :data:`AlertLookup`)."""
    itineraries = []
    for journey in journeys:
        legs = [_leg(timetable, journey, leg, origin, destination, covered or (), alerts)
                for leg in journey.legs]
        total = sum(out.fare_yen for out, _ in legs)
        start = to_datetime(timetable, journey.day, journey.departure)
        end = to_datetime(timetable, journey.day, journey.arrival)
        itineraries.append(ItineraryOut.model_construct(
            departure=start.isoformat(timespec="seconds"),
            arrival=end.isoformat(timespec="seconds"),
            duration_s=journey.arrival - journey.departure,
            transfers=journey.transfers,
            walk_m=sum(leg.walk_m for leg in journey.legs if leg.mode == "walk"),
            service_date=next((out.service_date for out, _ in legs if out.service_date),
                              journey.day.isoformat()),
            fare=FareOut.model_construct(
                total_yen=total,
                covered_by_pass=covered is not None and total == 0
                and any(out.covered_by_pass for out, _ in legs),
                complete=all(known for _, known in legs)),
            legs=[out for out, _ in legs],
            tags=list(journey.tags), notes=list(journey.notes),
        ))
    return PlanOut.model_construct(itineraries=itineraries)
