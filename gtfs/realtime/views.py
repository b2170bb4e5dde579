"""``GET /alerts`` and ``GET /vehicles``: what the realtime feeds say now (public)."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from gtfs.network import networks_of
from gtfs.realtime import services
from maas.core.http import clock, db_session, endpoint, state

bp = Blueprint("realtime", __name__)


class AlertsQuery(BaseModel):
    """Parameters of GET /alerts."""

    model_config = ConfigDict(extra="forbid")

    lang: Literal["ja", "en"] = Field(default="ja", description="language of header and "
                                      "description (others fall back to Japanese)")


class PeriodOut(BaseModel):
    """When an alert is in force; null: open-ended."""

    start: str | None
    end: str | None


class AlertOut(BaseModel):
    """A service alert (GTFS-Realtime Alert)."""

    id: str
    feed: str = Field(description="the GTFS feed it is about")
    cause: str = Field(examples=["WEATHER"])
    effect: str = Field(examples=["SIGNIFICANT_DELAYS"])
    header: str
    description: str
    header_translations: dict[str, str]
    description_translations: dict[str, str]
    url: str | None
    active_periods: list[PeriodOut]
    informed: list[dict[str, str]] = Field(
        description="agency_id, route_id, stop_id, trip_id (empty: any)")


@bp.get("/alerts")
@endpoint(summary="Service alerts in force", response=list[AlertOut], query=AlertsQuery,
          tags=["transit"], errors=[404])
def alerts(query: AlertsQuery) -> list[AlertOut]:
    """Alerts of the GTFS-Realtime feeds, active now or announced for later."""
    return [AlertOut.model_validate(alert) for alert in services.current_alerts(
        db_session(), networks_of(state()), clock()(), query.lang)]


class VehiclesQuery(BaseModel):
    """Parameters of GET /vehicles."""

    model_config = ConfigDict(extra="forbid")

    route: str | None = Field(default=None, max_length=200, description="a GTFS route_id")


class VehicleOut(BaseModel):
    """A vehicle's last reported position."""

    id: str
    label: str
    feed: str
    trip_id: str
    route_id: str | None
    lat: float
    lon: float
    bearing: float | None
    speed: float | None = Field(description="metres per second")
    stop_id: str | None
    status: str = Field(examples=["IN_TRANSIT_TO", "STOPPED_AT"])
    as_of: str | None


@bp.get("/vehicles")
@endpoint(summary="Vehicle positions", response=list[VehicleOut], query=VehiclesQuery,
          tags=["transit"], errors=[404])
def vehicles(query: VehiclesQuery) -> list[VehicleOut]:
    """The latest positions of the vehicles-positions feeds, on one route when asked."""
    return [VehicleOut.model_validate(vehicle) for vehicle in services.current_vehicles(
        db_session(), networks_of(state()), query.route)]
