"""A ``GET /api/v1/plan`` request as the benchmarks time it, without a socket.

:func:`scratch_app` imports one GTFS feed into a scratch ``MAAS_HOME`` (SQLite) and builds the
real application on it. :class:`PlanCalls` then answers the same query string two ways:

- :meth:`PlanCalls.request_path`: what the view does — parse the query (``PlanQuery``), map it
  to the service's request, :func:`gtfs.services.plan_trip` (resolution of ``stop:`` ids, the
  default all-modes path, the plan document, the statistics event) and the JSON bytes, with
  the application's session as the view has it (:class:`maas.core.db.SessionOnDemand`:
  opened only when a cache must be refreshed);
- :meth:`PlanCalls.wsgi`: the application called as gunicorn calls it (Flask's dispatch, every
  before/after-request hook, the ``@endpoint`` wrapper), with an environ built beforehand.

Only the GTFS feed is loaded: no bike share or taxi snapshot, so the default modes run the
multimodal path with walking ends only, as a server with timetables alone does.

:func:`nigiri_document` is the peer's side: pynigiri's journeys turned into a document of the
same shape (times in ISO 8601, each leg's ends with name, coordinates and stop id) and
written by the same encoder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson

from gtfs.itinerary import dump
from gtfs.network import PASS_COVERAGE, NetworkStore, networks_of
from gtfs.services import import_gtfs, plan_trip
from gtfs.views import PlanQuery, availability_of, plan_request
from maas.core.clock import system_clock
from maas.core.db import SessionOnDemand, create_db_engine, session_factory, upgrade
from maas.core.errors import InvalidInput
from maas.core.state import EXTENSION, AppState

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

# a request limit no benchmark reaches: every request of a benchmark comes from one address,
# and the limiter still counts each one, as in production
UNLIMITED = "1000000 per minute"

PLAN_PATH = "/api/v1/plan"


@contextlib.contextmanager
def scratch_home(feed: Path, name: str = "bench") -> Iterator[tuple[Path, str]]:
    """A temporary ``MAAS_HOME`` and SQLite URL with ``feed`` imported and active."""
    if not feed.exists():
        raise InvalidInput(f"{feed}: no such file or folder")
    with tempfile.TemporaryDirectory(prefix="maas-bench-") as folder:
        home = Path(folder)
        url = f"sqlite:///{home / 'bench.sqlite3'}"
        engine = create_db_engine(url)
        try:
            upgrade(engine)
            with session_factory(engine)() as session:
                import_gtfs(session, NetworkStore(home), str(feed), name, system_clock)
        finally:
            engine.dispose()
        yield home, url


@contextlib.contextmanager
def scratch_app(feed: Path) -> Iterator[Flask]:
    """The application on a scratch home with ``feed`` imported (see :func:`scratch_home`)."""
    from maas.app import create_app

    with scratch_home(feed) as (home, url):
        # testing: the process's logging is left as it is (no access lines at WARNING anyway)
        app = create_app({"home": home, "database_url": url, "env": "demo",
                          "log_level": "WARNING", "testing": True,
                          "rate_limit_plan": UNLIMITED})
        try:
            yield app
        finally:
            app.extensions[EXTENSION].engine.dispose()


class PlanCalls:
    """The two ways into ``/plan`` of one application (see the module notes)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.state: AppState = app.extensions[EXTENSION]
        self.store = networks_of(self.state)
        self.coverage = self.state.domains.get(PASS_COVERAGE)
        self.availability = availability_of(self.state.settings)

    def request_path(self, args: Mapping[str, str]) -> bytes:
        """What the view does for ``args`` (a query string's parameters), minus Flask."""
        query = PlanQuery.model_validate(args)
        now = self.state.clock()
        session = SessionOnDemand(self.state.sessions)  # as the view's (db_session_on_demand)
        try:
            document = plan_trip(cast("Session", session), self.store,
                                 plan_request(query, now), now=now,
                                 availability=self.availability, coverage=self.coverage)
        finally:
            session.close()
        return dump(document)

    def wsgi(self, args: Mapping[str, str]) -> Callable[[], bytes]:
        """A call of the application for ``args``, its environ built now (not when timed)."""
        from werkzeug.test import EnvironBuilder

        builder = EnvironBuilder(path=PLAN_PATH, query_string=dict(args))
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        status: list[str] = []

        def start_response(line: str, _headers: list[tuple[str, str]], _exc: Any = None
                           ) -> Callable[[bytes], object]:
            status.append(line)
            return len  # the write() callable of WSGI; the application never calls it

        def call() -> bytes:
            body = b"".join(self.app(dict(environ), start_response))
            if not status or not status[-1].startswith("200"):
                raise InvalidInput(f"{PLAN_PATH} answered {status[-1:]}: {body[:200]!r}")
            return body

        return call


def nigiri_document(nigiri_tt: Any, journeys: list[Any], zone: dt.tzinfo,
                    stop_ids: Mapping[int, str]) -> bytes:
    """pynigiri's journeys as a document like ours (``stop_ids``: location index → id)."""

    def moment(minutes: Any) -> str:
        return dt.datetime.fromtimestamp(int(minutes) * 60, zone).isoformat(timespec="seconds")

    def place(location: Any) -> dict[str, Any]:
        coords = nigiri_tt.get_location_coords(location)
        return {"name": nigiri_tt.get_location_name(location), "lat": coords.lat,
                "lon": coords.lng, "stop_id": stop_ids.get(int(location))}

    itineraries = []
    for journey in journeys:
        legs = [{"departure": moment(leg.dep_time), "arrival": moment(leg.arr_time),
                 "duration_s": (int(leg.arr_time) - int(leg.dep_time)) * 60,
                 "from": place(getattr(leg, "from")), "to": place(leg.to)}
                for leg in journey.legs]
        departure, arrival = int(journey.departure_time()), int(journey.arrival_time())
        itineraries.append({"departure": moment(departure), "arrival": moment(arrival),
                            "duration_s": (arrival - departure) * 60,
                            "transfers": int(journey.transfers), "legs": legs})
    return orjson.dumps({"itineraries": itineraries})
