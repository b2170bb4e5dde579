"""HTTP interface of the map: ``GET /map/network``."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field

from gtfs.gbfs import Availability
from gtfs.languages import choose
from gtfs.maps import services
from gtfs.network import networks_of
from maas.core.http import clock, db_session, endpoint, settings, state

bp = Blueprint("maps", __name__)


class FeatureOut(BaseModel):
    """A GeoJSON Feature; ``properties.kind`` is route, stop, bike_station or ondemand_area."""

    type: Literal["Feature"]
    geometry: dict[str, Any] = Field(description="LineString (route), Point (stop, "
                                                 "bike_station) or Polygon (ondemand_area)")
    properties: dict[str, Any] = Field(description=(
        "route: route_id, route_short_name, route_long_name, mode, colour, text_colour, "
        "along_shape; stop: stop_id, place_id, name, name_en; bike_station: station_id, "
        "system_id, place_id, name, name_en, bikes, docks, capacity, as_of, stale, "
        "can_pick_up, can_drop_off; ondemand_area: service_id, name, operator_id, booking"))


class NetworkOut(BaseModel):
    """The network as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"]
    features: list[FeatureOut]
    truncated: bool = Field(description=f"more than {services.MAX_FEATURES} features: "
                                        "ask for a smaller bbox")


class NetworkQuery(BaseModel):
    """Parameters of GET /map/network."""

    model_config = ConfigDict(extra="forbid")

    lang: str | None = Field(default=None, max_length=35, description=(
        "names in ja, en, zh-Hans, zh-Hant or ko (default: Accept-Language, else ja)"))
    bbox: str | None = Field(default=None, max_length=100, examples=["136.60,36.53,136.70,36.62"],
                             description="west,south,east,north: only features in this box")


@bp.get("/map/network")
@endpoint(summary="The network as GeoJSON for a map", response=NetworkOut, query=NetworkQuery,
          tags=["transit"],
          description="Route lines along GTFS shapes (stop to stop without them), stops, bike "
                      "ports with bikes and docks, and on-demand service areas. Cacheable: "
                      "send If-None-Match with the ETag to get 304.")
def network(query: NetworkQuery) -> Response:
    """Every feature a rider's map draws."""
    config = settings()
    etag, document = services.network_geojson(
        db_session(), networks_of(state()), clock()(),
        Availability(margin=config.bike_margin, max_age_seconds=config.bike_status_max_age),
        choose(query.lang, request.headers.get("Accept-Language")),
        services.parse_bbox(query.bbox))
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=60",
               "Vary": "Accept-Language"}
    if etag in request.if_none_match:
        return Response(status=304, headers=headers)
    # GeoJSON (RFC 7946) served as application/json, as the OpenAPI document declares it
    return Response(document, mimetype="application/json", headers=headers)
