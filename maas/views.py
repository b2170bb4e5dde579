"""System endpoints: health and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, current_app
from pydantic import BaseModel, Field, TypeAdapter

from maas import services
from maas.core.http import clock, endpoint, state
from maas.openapi import build_openapi

bp = Blueprint("system", __name__)


class FeedStatus(BaseModel):
    """An active feed version."""

    kind: str = Field(description="gtfs, gbfs or ondemand")
    name: str
    version: str = Field(description="first 12 hex digits of the content SHA-256")
    loaded_at: str
    service_start: str | None = None
    service_end: str | None = None


class RealtimeStatus(BaseModel):
    """The last poll of a GTFS-Realtime feed (by ``maas worker``)."""

    name: str
    kind: str = Field(description="trip-updates, vehicle-positions or alerts")
    feed: str = Field(description="the GTFS feed it describes")
    polled_at: str | None
    entities: int
    matched: int
    unmatched: int
    stale: int = Field(description="updates older than MAAS_REALTIME_MAX_AGE, dropped")
    error_count: int
    errors: list[str] = Field(description="the first few errors of the last poll")


class HealthOut(BaseModel):
    """Liveness and readiness of this instance."""

    status: str = Field(examples=["ok"])
    time: str
    database: dict[str, Any]
    feeds: list[FeedStatus]
    realtime: list[RealtimeStatus] = Field(default_factory=list)


class HealthQuery(BaseModel):
    """Parameters of GET /health."""

    deep: bool = Field(default=False, description=(
        "ping the database and read the schema revision and the active feeds now; without "
        "it the schema check of the process's first health check is reused (it passed) and "
        f"the feeds are at most {services.HealthCache.FEEDS_TTL:g} s old"))


@bp.get("/health")
@endpoint(summary="Health of the database and the active feeds", response=HealthOut,
          query=HealthQuery, tags=["system"],
          description="Cheap enough to poll every second (no database round trip once the "
                      "schema check passed); `?deep=1` asks the database now.")
def health(query: HealthQuery) -> HealthOut:
    """200 when the database is reachable and migrated; 503 problem otherwise."""
    app = state()
    report = services.health(app.engine, app.sessions, clock(), app.domains[services.HEALTH],
                             deep=query.deep)
    return HealthOut.model_validate(report, from_attributes=True)


class HealthBody:
    """The JSON body of a quick health report, byte for byte as :func:`health` writes it, for
    ``maas.app.QuickHealth``: pydantic validates and writes a report once per change of the
    cached feeds (every few seconds); each request then only puts its time in."""

    def __init__(self) -> None:
        self._json: TypeAdapter[HealthOut] = TypeAdapter(HealthOut)
        # (feeds, realtime, database, the bytes before the time, the bytes after it, the last
        # report written, its bytes): the checks of one second are one report
        # (:func:`maas.services.cached_health`), written once
        self._known: tuple[object, object, dict[str, Any], bytes, bytes, object, bytes] | None
        self._known = None

    def __call__(self, report: services.Health) -> bytes:
        """``report`` as JSON."""
        known = self._known
        if known is not None and known[5] is report:
            return known[6]
        time_text = orjson.dumps(report.time)
        if (known is None or known[0] is not report.feeds or known[1] is not report.realtime
                or known[2] != report.database):
            full = self._json.dump_json(HealthOut.model_validate(report, from_attributes=True),
                                        by_alias=True)
            head, found, tail = full.partition(b'"time":' + time_text)
            if not found:  # pragma: no cover - the model's field order keeps time second
                return full
            known = (report.feeds, report.realtime, report.database, head + b'"time":', tail,
                     None, b"")
        body = known[3] + time_text + known[4]
        # one assignment: threads see the old or the new, never half
        self._known = (*known[:5], report, body)
        return body


@bp.get("/openapi.json")
@endpoint(summary="This API as an OpenAPI 3.1 document", response=dict[str, Any],
          tags=["system"])
def openapi() -> dict[str, Any]:
    """The OpenAPI document, generated from the same models that validate requests."""
    return build_openapi(current_app)
