"""GTFS-Realtime feeds: registering, polling (``maas worker``), and reading the snapshots.

The worker polls each feed (:func:`poll`): the bytes are fetched through :mod:`gtfs.fetch`
(public http(s) only unless ``MAAS_ALLOW_PRIVATE_URLS``; a path or ``file:`` URL is read as is,
operators register feeds), decoded and matched by :mod:`gtfs.realtime.core`, and the result is
stored on the feed's row with a new ``version``. A poll that fails is counted and logged; the
previous snapshot keeps serving. Web workers never poll: :class:`RealtimeCache` re-reads the
snapshots when a version changes (checked every few seconds) and attaches the merged trip
overlay to the timetable, where :func:`gtfs.raptor.day_view` applies it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from gtfs import fetch
from gtfs.limits import DEFAULT_LIMITS, FeedLimits, over
from gtfs.models import Feed
from gtfs.realtime import core
from gtfs.realtime.models import RealtimeFeed
from gtfs.timetable import Timetable
from maas.core.clock import Clock, isoformat_tokyo
from maas.core.errors import FieldError, InvalidInput, NotFound

if TYPE_CHECKING:  # the network store holds a RealtimeCache: imported for types only
    from gtfs.network import NetworkStore

log = logging.getLogger(__name__)

MIN_INTERVAL, MAX_INTERVAL = 5, 3600
MAX_HEADERS = 10


def _field(name: str, message: str) -> InvalidInput:
    return InvalidInput(f"{name}: {message}", errors=[FieldError(name, message)])


def parse_header(text: str) -> tuple[str, str]:
    """``'K: V'`` as a header (name, value)."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or not name.replace("-", "").isalnum() or "\n" in value:
        raise _field("header", f"{text!r} is not 'Name: value'")
    return name, value


def add_feed(session: Session, source: str, feed: str, kind: str, interval: int,
             headers: Sequence[str] = (), name: str | None = None) -> RealtimeFeed:
    """Register (or replace) a realtime feed of GTFS feed ``feed``; its name defaults to
    ``FEED-KIND``."""
    if kind not in core.KINDS:
        raise _field("kind", f"{kind!r}; use one of {', '.join(core.KINDS)}")
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise _field("interval", f"{interval} s; use {MIN_INTERVAL}-{MAX_INTERVAL}")
    scheme = urlsplit(source).scheme
    if scheme in ("http", "https"):
        fetch.check_url(source)
    elif scheme not in ("", "file") or not source.strip() or len(source) > 1000:
        raise _field("source", f"{source!r} is neither an http(s) URL nor a path")
    if len(headers) > MAX_HEADERS:
        raise _field("header", f"at most {MAX_HEADERS} headers")
    parsed = dict(parse_header(text) for text in headers)
    known = session.scalar(select(Feed.name).where(Feed.kind == "gtfs", Feed.name == feed)
                           .limit(1))
    if known is None:
        raise _field("feed", f"no GTFS feed named {feed!r} is loaded")
    name = name or f"{feed}-{kind}"
    if not name or len(name) > 100:
        raise _field("name", "1-100 characters")
    row = session.get(RealtimeFeed, name)
    if row is None:
        row = RealtimeFeed(name=name, polled_at=None, outcome={}, version="", document={})
        session.add(row)
    row.url, row.feed, row.kind, row.interval, row.headers = source, feed, kind, interval, parsed
    session.commit()
    return row


def list_feeds(session: Session) -> list[RealtimeFeed]:
    """The registered realtime feeds by name."""
    return list(session.scalars(select(RealtimeFeed).order_by(RealtimeFeed.name)))


def remove_feed(session: Session, name: str) -> None:
    """Stop polling a feed and drop its snapshot."""
    row = session.get(RealtimeFeed, name)
    if row is None:
        raise NotFound(f"no realtime feed named {name!r}")
    session.delete(row)
    session.commit()


def describe(row: RealtimeFeed) -> dict[str, Any]:
    """A feed as ``maas realtime list`` and the health report show it."""
    return {"name": row.name, "url": row.url, "feed": row.feed, "kind": row.kind,
            "interval": row.interval,
            "polled_at": isoformat_tokyo(row.polled_at) if row.polled_at else None,
            **{key: row.outcome.get(key) for key in ("entities", "matched", "unmatched",
                                                     "stale", "error_count")},
            "errors": list(row.outcome.get("errors", []))[:5]}


def read_source(source: str, headers: dict[str, str], limits: FeedLimits) -> bytes:
    """The bytes of a feed: fetched (http(s)) or read from a path, within the size limit."""
    limit = limits.max_json_bytes
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        return fetch.fetch(source, limits, limit, "max_json_bytes", headers=headers)
    path = Path(parts.path if parts.scheme == "file" else source)
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise InvalidInput(f"{source}: cannot read ({exc.strerror})") from None
    if len(data) > limit:
        raise over(source, f"more than {limit:,} bytes", limit, "max_json_bytes")
    return data


def snapshot(row: RealtimeFeed, data: bytes, timetable: Timetable | None, now: int,
             max_age: int) -> tuple[dict[str, Any], core.Outcome]:
    """The document a poll stores for ``data`` (raises InvalidInput for a bad message)."""
    message = core.decode(data, row.url, now)
    if row.kind == "trip-updates":
        if timetable is None:
            raise InvalidInput("no GTFS network is loaded to match trip updates against")
        overlay, outcome = core.trip_updates(timetable, row.feed, message, now, max_age,
                                             data)
        return overlay.to_document(), outcome
    if row.kind == "alerts":
        found, outcome = core.alerts(message)
        return {"alerts": found}, outcome
    positions, outcome = core.vehicles(message, now, max_age)
    return {"vehicles": positions}, outcome


def poll(session: Session, name: str, timetable: Timetable | None, clock: Clock,
         limits: FeedLimits = DEFAULT_LIMITS, max_age: int = 600) -> core.Outcome:
    """Fetch, check and store one feed's snapshot; its outcome is recorded either way."""
    row = session.get(RealtimeFeed, name)
    if row is None:
        raise NotFound(f"no realtime feed named {name!r}")
    moment = clock()
    now = int(moment.timestamp())
    started = time.perf_counter()
    try:
        data = read_source(row.url, dict(row.headers), limits)
        document, outcome = snapshot(row, data, timetable, now, max_age)
    except InvalidInput as exc:
        outcome = core.Outcome()
        outcome.error(exc.detail)
        log.warning("realtime poll of %s failed, previous snapshot kept: %s", name, exc.detail)
    else:
        version = core.document_version(document)
        if version != row.version:
            row.document = document
            row.version = version
        if outcome.error_count or outcome.unmatched or outcome.stale:
            log.info("realtime %s: %d entities, %d matched, %d unmatched, %d stale, %d errors",
                     name, outcome.entities, outcome.matched, outcome.unmatched, outcome.stale,
                     outcome.error_count)
    row.polled_at = moment
    row.outcome = {**outcome.as_dict(), "seconds": round(time.perf_counter() - started, 4)}
    session.commit()
    return outcome


def health(session: Session) -> list[dict[str, Any]]:
    """The last outcome of every feed (small columns only: the snapshots stay unread)."""
    rows = session.execute(select(RealtimeFeed.name, RealtimeFeed.kind, RealtimeFeed.feed,
                                  RealtimeFeed.polled_at, RealtimeFeed.outcome)
                           .order_by(RealtimeFeed.name)).all()
    return [{"name": name, "kind": kind, "feed": feed,
             "polled_at": isoformat_tokyo(polled) if polled else None,
             **{key: outcome.get(key, 0) for key in ("entities", "matched", "unmatched",
                                                     "stale", "error_count")},
             "errors": list(outcome.get("errors", []))[:3]}
            for name, kind, feed, polled, outcome in rows]


@dataclasses.dataclass(frozen=True)
class Snapshots:
    """What the web workers serve: the merged trip overlay, alerts and vehicle positions."""

    overlay: core.TripOverlay
    alerts: tuple[dict[str, Any], ...] = ()
    vehicles: tuple[dict[str, Any], ...] = ()


class RealtimeCache:
    """Per-process copy of the stored snapshots, re-read when a version changes."""

    REFRESH_SECONDS = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked = -1e9
        self._key: tuple[Any, ...] = ()
        self._current = Snapshots(core.empty_overlay())

    def current(self, session: Session, timetable: Timetable) -> Snapshots:
        """The snapshots, with the trip overlay attached to ``timetable`` (for its day views)."""
        now = time.monotonic()
        if now - self._checked >= self.REFRESH_SECONDS:
            with self._lock:
                rows = session.execute(select(RealtimeFeed.name, RealtimeFeed.version)
                                       .order_by(RealtimeFeed.name)).all()
                key = (id(timetable), *((name, version) for name, version in rows))
                if key != self._key:
                    self._current = self._load(session, timetable)
                    self._key = key
                self._checked = time.monotonic()
        overlay = self._current.overlay
        if len(overlay):
            timetable.meta["_realtime"] = overlay
        else:
            timetable.meta.pop("_realtime", None)
        return self._current

    def forget(self) -> None:
        """Re-read on the next request."""
        self._checked = -1e9

    @staticmethod
    def _load(session: Session, timetable: Timetable) -> Snapshots:
        overlays: list[core.TripOverlay] = []
        alerts: list[dict[str, Any]] = []
        vehicles: list[dict[str, Any]] = []
        for row in session.scalars(select(RealtimeFeed).order_by(RealtimeFeed.name)):
            document: dict[str, Any] = row.document or {}
            if row.kind == "trip-updates" and document:
                overlays.append(core.TripOverlay.from_document(document, timetable, row.feed))
            elif row.kind == "alerts":
                alerts.extend({**alert, "feed": row.feed} for alert in document.get("alerts", []))
            elif row.kind == "vehicle-positions":
                vehicles.extend({**v, "feed": row.feed} for v in document.get("vehicles", []))
        return Snapshots(core.merge(overlays), tuple(alerts), tuple(vehicles))


def alert_lookup(snapshots: Snapshots, lang: str = "ja"
                 ) -> Callable[[str, str, str, Sequence[str], int, int],
                               list[dict[str, str]]] | None:
    """The plan document's alert lookup over the current alerts (None when there are none:
    the document then looks nothing up)."""
    if not snapshots.alerts:
        return None
    def lookup(agency: str, route: str, trip: str, stops: Sequence[str], start: int,
               end: int) -> list[dict[str, str]]:
        return [core.reference(alert, lang) for alert in snapshots.alerts
                if core.active(alert, start, end) and core.touches(alert, agency, route, trip,
                                                                   stops)]
    return lookup


def alerts_in_force(snapshots: Snapshots, now: dt.datetime, lang: str) -> list[dict[str, Any]]:
    """Alerts active now (or later: a planned works notice), in ``lang`` where given."""
    unix = int(now.timestamp())
    return [{"id": alert["id"], "feed": alert["feed"], "cause": alert["cause"],
             "effect": alert["effect"], "header": core.pick(alert["header"], lang),
             "description": core.pick(alert["description"], lang),
             "header_translations": alert["header"],
             "description_translations": alert["description"],
             "url": core.pick(alert["url"], lang) or None,
             "active_periods": [{"start": _iso(a), "end": _iso(b)}
                                for a, b in alert["active_periods"]],
             "informed": alert["informed"]}
            for alert in snapshots.alerts if core.active(alert, unix, 2**62)]


def _iso(unix: int) -> str | None:
    return None if not unix else isoformat_tokyo(dt.datetime.fromtimestamp(unix, dt.UTC))


def vehicles_on(snapshots: Snapshots, timetable: Timetable, route: str | None
                ) -> list[dict[str, Any]]:
    """Vehicle positions, on ``route`` when given (a vehicle naming only its trip is placed on
    the trip's route)."""
    result = []
    for vehicle in snapshots.vehicles:
        route_id = vehicle["route_id"] or _route_of(timetable, vehicle["feed"], vehicle["trip_id"])
        if route is not None and route_id != route:
            continue
        stamp = vehicle["timestamp"]
        result.append({**{k: v for k, v in vehicle.items() if k != "timestamp"},
                       "route_id": route_id or None, "as_of": _iso(stamp) if stamp else None})
    return result


def _route_of(timetable: Timetable, feed: str, trip_id: str) -> str:
    trip = core.trip_lookup(timetable, feed).get(trip_id, -1)
    if trip < 0:
        return ""
    return str(timetable.meta["route_ids"][int(timetable.pattern_route[
        timetable.trip_pattern[trip]])])


def _snapshots(session: Session, store: NetworkStore) -> tuple[Timetable, Snapshots]:
    timetable = store.current(session)
    if timetable is None:
        raise NotFound("no GTFS feed is loaded: import one with `maas gtfs import`")
    return timetable, store.realtime.current(session, timetable)


def current_alerts(session: Session, store: NetworkStore, now: dt.datetime, lang: str
                   ) -> list[dict[str, Any]]:
    """``GET /alerts``: the alerts in force now or announced for later."""
    _, snapshots = _snapshots(session, store)
    return alerts_in_force(snapshots, now, lang)


def current_vehicles(session: Session, store: NetworkStore, route: str | None
                     ) -> list[dict[str, Any]]:
    """``GET /vehicles``: the latest vehicle positions, on ``route`` when given."""
    timetable, snapshots = _snapshots(session, store)
    return vehicles_on(snapshots, timetable, route)


def poll_due(sessions: Callable[[], Session], store: NetworkStore, clock: Clock,
             last: dict[str, float], now: float, limits: FeedLimits = DEFAULT_LIMITS,
             max_age: int = 600) -> dict[str, dict[str, Any]]:
    """Poll, one after the other, each registered feed whose interval has passed since
    ``last[name]`` (monotonic seconds, updated here) — for a worker loop without threads;
    the outcomes of the feeds polled, by name. A feed removed meanwhile is forgotten."""
    with sessions() as session:
        feeds = {row.name: row.interval for row in list_feeds(session)}
    for gone in set(last) - set(feeds):
        del last[gone]
    done: dict[str, dict[str, Any]] = {}
    for name, interval in sorted(feeds.items()):
        if name in last and now - last[name] < interval:
            continue
        last[name] = now
        with sessions() as session:
            try:
                outcome = poll(session, name, store.current(session), clock, limits, max_age)
            except NotFound:
                continue  # removed between the listing and the poll
        done[name] = outcome.as_dict()
    return done
