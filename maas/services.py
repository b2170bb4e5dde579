"""System services: health of the database and the loaded feeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gtfs.realtime.services import health as realtime_health
from gtfs.services import active_feeds
from maas.core.clock import Clock, isoformat_tokyo
from maas.core.db import current_revision, head_revision, ping
from maas.core.errors import ServiceUnavailable


@dataclass(frozen=True)
class Health:
    """What ``GET /api/v1/health`` reports."""

    status: str
    time: str
    database: dict[str, Any]
    feeds: list[dict[str, Any]] = field(default_factory=list)
    realtime: list[dict[str, Any]] = field(default_factory=list)


def health(engine: Engine, session: Session, clock: Clock) -> Health:
    """Check the database (reachable, schema current) and list active feeds.

    Raises :class:`ServiceUnavailable` when the database is down or not migrated, so that load
    balancers take the instance out of rotation.
    """
    ping(engine)
    try:
        revision = current_revision(engine)
    except DBAPIError as exc:
        raise ServiceUnavailable("the database is unreachable") from exc
    head = head_revision()
    if revision != head:
        raise ServiceUnavailable(
            f"the database schema is at {revision or 'nothing'}, this code needs {head}; "
            "run `maas db upgrade`"
        )
    feeds = [
        {
            "kind": feed.kind,
            "name": feed.name,
            "version": feed.version[:12],
            "loaded_at": isoformat_tokyo(feed.loaded_at),
            **{k: v for k, v in feed.summary.items() if k.startswith("service_")},
        }
        for feed in active_feeds(session)
    ]
    return Health(
        status="ok",
        time=isoformat_tokyo(clock()),
        database={"status": "ok", "backend": engine.dialect.name, "revision": revision},
        feeds=feeds,
        # the last poll of each GTFS-Realtime feed, as the worker stored it (no fetching here)
        realtime=realtime_health(session),
    )
