"""System services: health of the database and the loaded feeds."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
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


# the key of the process's HealthCache in ``AppState.domains``
HEALTH = "maas.health"


class HealthCache:
    """What the quick health check knows without asking the database (one per process).

    The schema check passes once (then the revision is kept: code and schema do not change
    under a running process), and the active feeds are re-read at most every
    :data:`FEEDS_TTL` seconds. A check that fails is not kept: the next one asks again.
    """

    FEEDS_TTL = 5.0

    def __init__(self) -> None:
        self.revision: str | None = None
        # (when read, active feeds, the last poll of each GTFS-Realtime feed)
        self.feeds: tuple[float, list[dict[str, Any]], list[dict[str, Any]]] | None = None
        self.lock = threading.Lock()
        # the last report and what it was made of: (its moment to the second, the feeds, the
        # revision, the backend, the report); a report shows its time to the second, so
        # the checks of one second get the same report (see :func:`_report`)
        self.last: tuple[dt.datetime, object, str, str, Health] | None = None


def health(engine: Engine, sessions: Callable[[], Session], clock: Clock,
           cache: HealthCache, *, deep: bool = False) -> Health:
    """The database's schema state and the active feeds, from ``cache`` when it knows them.

    ``deep`` (or a cache that has not seen the schema pass yet) pings the database and reads
    the schema revision and the feeds now. Raises :class:`ServiceUnavailable` when the
    database is down or not migrated, so that load balancers take the instance out of
    rotation.
    """
    if not deep:
        known = cached_health(engine, clock, cache)
        if known is not None:
            return known
    if deep or cache.revision is None:
        cache.revision = _checked_revision(engine)
    now = time.monotonic()
    feeds = cache.feeds
    if deep or feeds is None or now - feeds[0] > cache.FEEDS_TTL:
        with cache.lock, sessions() as session:
            # the realtime rows are what the worker stored of its polls (no fetching here)
            feeds = cache.feeds = (now, _feed_rows(session), realtime_health(session))
    return _report(engine, clock, cache, cache.revision, feeds)


def cached_health(engine: Engine, clock: Clock, cache: HealthCache) -> Health | None:
    """The quick check's report when ``cache`` can give it without the database (the schema
    check passed and the feeds are fresh), else ``None``: then :func:`health` asks."""
    revision, feeds = cache.revision, cache.feeds
    if revision is None or feeds is None or time.monotonic() - feeds[0] > cache.FEEDS_TTL:
        return None
    return _report(engine, clock, cache, revision, feeds)


def _report(engine: Engine, clock: Clock, cache: HealthCache, revision: str,
            feeds: tuple[float, list[dict[str, Any]], list[dict[str, Any]]]) -> Health:
    """The report of ``revision`` and ``feeds`` now: the cache's last one when it was made of
    them in the same second (the same time, to the second, and the same content)."""
    moment = clock().replace(microsecond=0)
    backend = engine.dialect.name
    last = cache.last
    if (last is not None and last[1] is feeds and last[0] == moment and last[2] == revision
            and last[3] == backend):
        return last[4]
    report = Health(
        status="ok",
        time=isoformat_tokyo(moment),
        database={"status": "ok", "backend": backend, "revision": revision},
        feeds=feeds[1],
        realtime=feeds[2],
    )
    cache.last = (moment, feeds, revision, backend, report)  # one assignment
    return report


def _checked_revision(engine: Engine) -> str:
    """The schema revision, which must be this code's head."""
    ping(engine)
    try:
        revision = current_revision(engine)
    except DBAPIError as exc:
        raise ServiceUnavailable("the database is unreachable") from exc
    head = head_revision()
    if revision is None or revision != head:
        raise ServiceUnavailable(
            f"the database schema is at {revision or 'nothing'}, this code needs {head}; "
            "run `maas db upgrade`"
        )
    return revision


def _feed_rows(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "kind": feed.kind,
            "name": feed.name,
            "version": feed.version[:12],
            "loaded_at": isoformat_tokyo(feed.loaded_at),
            **{k: v for k, v in feed.summary.items() if k.startswith("service_")},
        }
        for feed in active_feeds(session)
    ]
