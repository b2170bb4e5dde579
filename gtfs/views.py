"""HTTP interface of the transit data package."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from gtfs import services
from maas.http import db_session, endpoint

bp = Blueprint("gtfs", __name__)


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
