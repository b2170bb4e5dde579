"""HTTP interface of the place search: ``GET /places``."""

from __future__ import annotations

from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field

from gtfs.languages import choose
from gtfs.network import networks_of
from gtfs.places import services
from maas.core.http import db_session, endpoint, state

bp = Blueprint("places", __name__)


class PlaceFoundOut(BaseModel):
    """A place found: a stop or station, a bike share port, or a point of interest."""

    id: str = Field(description="use as from=place:ID / to=place:ID in GET /plan",
                    examples=["poi:kenrokuen", "stop:S0001", "bike:machinori:00089012"])
    kind: str = Field(examples=["stop", "bike_station", "poi"])
    name: str = Field(description="in the language asked for (lang= or Accept-Language)")
    lat: float
    lon: float
    stop_id: str | None = Field(default=None, description="stops: the stop or station id")
    names: dict[str, str] = Field(description="every known name by language: ja, kana, en, "
                                              "zh-Hans, zh-Hant, ko")
    match: str = Field(description="how the query matched a name: exact, prefix or substring",
                       examples=["prefix"])
    distance_m: int | None = Field(default=None, description="from near=, when given")
    system_id: str | None = Field(default=None, description="bike ports: the GBFS system")
    station_id: str | None = Field(default=None, description="bike ports: the GBFS station")
    category: str | None = Field(default=None, description="points of interest",
                                 examples=["museum"])


class PlaceQuery(BaseModel):
    """Parameters of GET /places."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=services.MAX_QUERY_CHARS, description=(
        "a name or part of one, in any script: 兼六, けんろく, ケンロク, kenroku, Kenroku-en"))
    near: str | None = Field(default=None, max_length=60, examples=["36.5781,136.6480"],
                             description="LAT,LON: equally good matches nearest first")
    lang: str | None = Field(default=None, max_length=35, description=(
        "ja, en, zh-Hans, zh-Hant or ko (default: Accept-Language, else ja)"))
    limit: int = Field(default=10, ge=1, le=services.MAX_LIMIT)
    kinds: str | None = Field(default=None, max_length=60, examples=["poi,stop"],
                              description="only these kinds: stop, bike_station, poi")


@bp.get("/places")
@endpoint(summary="Find places: stops, bike ports and points of interest",
          response=list[PlaceFoundOut], query=PlaceQuery, tags=["transit"],
          description="One search over stations and stops (platforms folded into their "
                      "station), まちのり ports and points of interest, across scripts and "
                      "spellings; best match first, then nearest to near=.")
def places(query: PlaceQuery) -> list[PlaceFoundOut]:
    """Places whose name in any language matches ``q``."""
    language = choose(query.lang, request.headers.get("Accept-Language"))
    found = services.search(
        db_session(), networks_of(state()), query.q, near=services.parse_near(query.near),
        language=language, limit=query.limit, kinds=services.parse_kinds(query.kinds))
    return [PlaceFoundOut.model_construct(**document) for document in found]
