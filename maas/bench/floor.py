"""The floor of ``maas bench http``: a bare Flask app answering ``GET /plan`` with pynigiri.

gunicorn serves it with our own settings (``maas.gunicorn_conf``, preloaded, the same worker
class, workers and threads) as ``maas.bench.floor:create_floor_app()``. It reads the scratch
``MAAS_HOME`` and database of the run (``MAAS_HOME``, ``MAAS_DATABASE_URL``) and the service
date (``MAAS_BENCH_DATE``), loads the active GTFS feed into pynigiri as ``maas bench plan``
does (our footpaths as transfers.txt), and answers ``?from=stop:ID&to=stop:ID&depart=ISO``
with :func:`maas.bench.request.nigiri_document`: no validation beyond what a lookup needs, no
hooks, no logging, no statistics. pynigiri is a benchmark peer and never serves riders.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from flask import Flask, Response, request
from sqlalchemy import select

from gtfs.models import Feed
from gtfs.network import NetworkStore
from gtfs.planner import timezone
from maas.bench.plan import (
    MAX_TRANSFERS,
    MIN_TRANSFER_SECONDS,
    import_pynigiri,
    load_pynigiri,
    nigiri_route,
    transfer_settings,
)
from maas.bench.request import nigiri_document
from maas.core.db import create_db_engine, session_factory
from maas.core.errors import MaasError

PATH = "/plan"


def create_floor_app() -> Flask:
    """The floor app on the run's scratch home (see the module notes)."""
    home = Path(os.environ["MAAS_HOME"])
    day = dt.date.fromisoformat(os.environ["MAAS_BENCH_DATE"])
    engine = create_db_engine(os.environ["MAAS_DATABASE_URL"])
    store = NetworkStore(home)
    try:
        with session_factory(engine)() as session:
            timetable = store.current(session)
            version = session.scalar(select(Feed.version).where(
                Feed.kind == "gtfs", Feed.active.is_(True)))
            # the feed's file on this host (an import keeps it in the database)
            source = None if version is None else store.local_source(session, version)
    finally:
        engine.dispose()
    if timetable is None or source is None:
        raise MaasError(f"{home}: no GTFS feed is active")
    nigiri, _ = import_pynigiri()
    nigiri_tt, _, _ = load_pynigiri(nigiri, source, timetable, day,
                                    MIN_TRANSFER_SECONDS)
    settings = transfer_settings(nigiri, MIN_TRANSFER_SECONDS)
    zone = timezone(timetable)
    stop_of = {}
    for stop_id in timetable.meta["stop_ids"]:
        location = nigiri_tt.find_location(stop_id)
        if location is not None:
            stop_of[int(location)] = stop_id

    app = Flask("floor")

    @app.get(PATH)
    def plan() -> Response:
        start = nigiri_tt.find_location(request.args["from"].removeprefix("stop:"))
        end = nigiri_tt.find_location(request.args["to"].removeprefix("stop:"))
        departure = dt.datetime.fromisoformat(request.args["depart"])
        journeys = nigiri_route(nigiri, nigiri_tt, start, end, departure, MAX_TRANSFERS,
                                settings)
        return Response(nigiri_document(nigiri_tt, journeys, zone, stop_of),
                        mimetype="application/json")

    return app
