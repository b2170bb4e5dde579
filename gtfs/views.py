"""HTTP interface of the transit data package."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask import Blueprint, Response
from flask import request as http_request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gtfs import services
from gtfs.gbfs import Availability
from gtfs.itinerary import AlertRefOut, PlanOut, dump
from gtfs.languages import choose
from gtfs.network import PASS_COVERAGE, NetworkStore, networks_of
from maas.core.clock import TOKYO
from maas.core.config import Settings
from maas.core.dates import Moment
from maas.core.http import clock, db_session, db_session_on_demand, endpoint, settings, state

bp = Blueprint("gtfs", __name__)


def networks() -> NetworkStore:
    """The compiled transit networks of this process."""
    return networks_of(state())


class OperatorOut(BaseModel):
    """An operator of the consortium."""

    id: str
    name: str
    name_en: str | None
    modes: list[str]
    url: str | None


Mode = Literal["bus", "tram", "rail", "subway", "ferry", "bike", "taxi"]


class OperatorQuery(BaseModel):
    """Filters of the operator list."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = Field(default=None, description="only operators running this mode")


@bp.get("/operators")
@endpoint(
    summary="Operators of the consortium",
    response=list[OperatorOut],
    query=OperatorQuery,
    tags=["transit"],
)
def list_operators(query: OperatorQuery) -> list[OperatorOut]:
    """GTFS agencies, the bike share and taxi services; their ids key products and partners."""
    return [
        OperatorOut(id=o.id, name=o.name, name_en=o.name_en, modes=o.modes, url=o.url)
        for o in services.list_operators(db_session(), mode=query.mode)
    ]


class PlanQuery(BaseModel):
    """Parameters of GET /plan."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", max_length=200, description=(
        "LAT,LON, stop:STOP_ID or place:PLACE_ID (an id of GET /places)"),
        examples=["place:poi:kenrokuen", "stop:S0001", "36.5781,136.6480"])
    to: str = Field(max_length=200, description=(
        "LAT,LON, stop:STOP_ID or place:PLACE_ID (an id of GET /places)"))
    depart: Moment | None = Field(default=None, description="ISO 8601; default now")
    arrive: Moment | None = Field(default=None, description="arrive by, ISO 8601")
    modes: str | None = Field(
        default=None, examples=["walk,bus"],
        description="comma-separated modes to use (default: every mode, bikes and taxis too)")
    min_transfer_seconds: int = Field(default=60, ge=0, le=1800)
    max_transfers: int = Field(default=5, ge=0, le=10)
    window: int = Field(default=0, ge=0, le=240, description="minutes of departures")
    pass_: str | None = Field(default=None, alias="pass", description=(
        "a one-day pass product code: legs it covers cost ¥0 and say covered_by_pass"))
    geometry: bool = Field(default=False, description=(
        "1: every leg gets its GeoJSON LineString (along GTFS shapes) for a map"))
    lang: str | None = Field(default=None, max_length=35, description=(
        "names of places, stops, routes and headsigns, and each itinerary's reason: ja, en, "
        "zh-Hans, zh-Hant or ko (default: Accept-Language, else ja)"))

    @model_validator(mode="after")
    def _one_time(self) -> PlanQuery:
        if self.depart is not None and self.arrive is not None:
            raise ValueError("give depart or arrive, not both")
        return self


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=TOKYO)


@bp.get("/plan")
@endpoint(summary="Plan a journey", response=PlanOut, query=PlanQuery, tags=["transit"],
          errors=[404],
          description="Pareto-optimal journeys over arrival time and transfers (RAPTOR).")
def plan(query: PlanQuery) -> Response:
    """Journeys between two places, departing at or arriving by a time.

    The document is plain data written by orjson (see :mod:`gtfs.itinerary`); ``PlanOut``
    declares it for the OpenAPI document.
    """
    now = clock()()
    request = plan_request(query, now, http_request.headers.get("Accept-Language"))
    # opened only if the caches must be refreshed or a place looked up
    document = services.plan_trip(db_session_on_demand(), networks(), request, now=now,
                                  availability=_availability(),
                                  coverage=state().domains.get(PASS_COVERAGE))
    return Response(dump(document), mimetype="application/json")


def plan_request(query: PlanQuery, now: dt.datetime, accept_language: str | None = None
                 ) -> services.PlanRequest:
    """The service's request for a parsed query (``now``: when no time is given;
    ``accept_language``: the header, when ``lang=`` is not given)."""
    moment = _aware(query.arrive or query.depart or now)
    return services.PlanRequest(
        origin=query.from_, destination=query.to, time=moment,
        arrive_by=query.arrive is not None, modes=services.parse_modes(query.modes),
        min_transfer_seconds=query.min_transfer_seconds, max_transfers=query.max_transfers,
        window_minutes=query.window, pass_product=query.pass_,
        language=choose(query.lang, accept_language), geometry=query.geometry,
    )


def availability_of(config: Settings) -> Availability:
    """The bike availability rule the settings give (margin, freshness)."""
    return Availability(margin=config.bike_margin, max_age_seconds=config.bike_status_max_age)


def _availability() -> Availability:
    return availability_of(settings())


class BikeStationOut(BaseModel):
    """A bike share port with its live availability (null: no status reported)."""

    station_id: str
    system_id: str
    name: str
    lat: float
    lon: float
    capacity: int | None
    bikes_available: int | None
    docks_available: int | None
    is_installed: bool | None
    is_renting: bool | None
    is_returning: bool | None
    as_of: str = Field(description="when the port reported its status (ISO 8601)")
    stale: bool = Field(description="status older than MAAS_BIKE_STATUS_MAX_AGE")
    can_pick_up: bool = Field(description="the planner would start a ride here now")
    can_drop_off: bool = Field(description="the planner would end a ride here now")


class BikeStationsOut(BaseModel):
    """Ports of the loaded bike share systems."""

    stations: list[BikeStationOut]


class BikeStationsQuery(BaseModel):
    """Parameters of GET /bikes/stations."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = Field(default=None, description="a system id or feed name")


@bp.get("/bikes/stations")
@endpoint(summary="Bike share ports with live availability", response=BikeStationsOut,
          query=BikeStationsQuery, tags=["transit"],
          description="まちのり ports (GBFS): bikes and docks available, as of when, and "
                      "whether the planner would use each port now.")
def bike_stations(query: BikeStationsQuery) -> BikeStationsOut:
    """Every port of the active GBFS systems."""
    return BikeStationsOut.model_validate({"stations": services.bike_stations(
        db_session(), networks(), clock()(), _availability(), query.system)})


class StopOut(BaseModel):
    """A stop or station of the loaded feeds."""

    stop_id: str
    name: str
    name_en: str | None
    name_kana: str | None
    lat: float
    lon: float
    location_type: int
    parent_station: str | None
    feed: str
    distance_m: int | None = None


class StopSearch(BaseModel):
    """Parameters of GET /stops."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, description="part of a Japanese, English or kana name")
    limit: int = Field(default=20, ge=1, le=100)


@bp.get("/stops")
@endpoint(summary="Find stops by name", response=list[StopOut], query=StopSearch,
          tags=["transit"], errors=[404])
def search_stops(query: StopSearch) -> list[StopOut]:
    """Stops matching a name in Japanese, English or kana."""
    return [StopOut.model_validate(stop)
            for stop in services.search_stops(db_session(), networks(), query.q, query.limit)]


class NearQuery(BaseModel):
    """Parameters of GET /stops/near."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius: float = Field(default=500, gt=0, le=5000, description="metres")
    limit: int = Field(default=20, ge=1, le=100)


@bp.get("/stops/near")
@endpoint(summary="Stops near a point", response=list[StopOut], query=NearQuery,
          tags=["transit"], errors=[404])
def stops_near(query: NearQuery) -> list[StopOut]:
    """Boardable stops within a radius, nearest first."""
    return [StopOut.model_validate(stop) for stop in services.stops_near(
        db_session(), networks(), query.lat, query.lon, query.radius, query.limit)]


class DepartureOut(BaseModel):
    """A departure from a stop."""

    departure: str
    service_date: str
    stop_id: str
    trip_id: str
    route_id: str
    route_short_name: str
    route_long_name: str
    mode: str
    headsign: str
    headsign_en: str | None
    scheduled_departure: str | None = Field(default=None, description="the timetable's time")
    delay_s: int = Field(default=0, description="estimated minus scheduled departure")
    realtime: bool = Field(default=False, description="departure is a realtime estimate")
    alerts: list[AlertRefOut] = Field(default_factory=list,
                                      description="service alerts touching this departure")


class DeparturesOut(BaseModel):
    """The next departures from a stop or station."""

    stop: StopOut
    departures: list[DepartureOut]


class DeparturesQuery(BaseModel):
    """Parameters of GET /stops/{stop_id}/departures."""

    model_config = ConfigDict(extra="forbid")

    at: Moment | None = Field(default=None, description="ISO 8601; default now")
    limit: int = Field(default=10, ge=1, le=100)


@bp.get("/stops/<stop_id>/departures")
@endpoint(summary="Next departures from a stop", response=DeparturesOut,
          query=DeparturesQuery, tags=["transit"], errors=[404])
def departures(stop_id: str, query: DeparturesQuery) -> DeparturesOut:
    """Next departures across routes, with headsigns, after ``at``."""
    moment = _aware(query.at or clock()())
    return DeparturesOut.model_validate(services.stop_departures(
        db_session(), networks(), stop_id, moment, query.limit))
