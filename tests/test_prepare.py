"""What gunicorn's master builds before forking and each worker reads at boot
(maas.app.prepare_workers / prepare_worker, called from maas.gunicorn_conf)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gtfs.network import networks_of
from gtfs.planner import service_time
from maas.app import prepare_worker, prepare_workers
from maas.services import HEALTH
from maas.stats.models import PlanRequest
from tests.conftest import fixed_clock


@pytest.mark.usefixtures("loaded_demo")
def test_the_master_builds_the_network_day_views_and_health_state(
        app: Flask, db_session: Session) -> None:
    state = app.extensions["maas"]
    store = networks_of(state)
    timetable = store.current(db_session)
    assert timetable is not None
    timetable.meta.pop("_day_views", None)
    timetable.meta.pop("_places", None)
    state.domains[HEALTH].revision = None
    stored = db_session.scalar(select(func.count()).select_from(PlanRequest))
    prepare_workers(app)
    day, _ = service_time(timetable, fixed_clock())
    assert set(timetable.meta["_day_views"]) >= {day - dt.timedelta(days=1), day,
                                                  day + dt.timedelta(days=1)}
    assert timetable.meta["_places"]  # the document's indexes were built by a real query
    assert state.domains[HEALTH].revision is not None
    # nothing was counted as a rider's request (the warm-up query publishes nothing)
    assert db_session.scalar(select(func.count()).select_from(PlanRequest)) == stored
    prepare_worker(app)  # a worker re-reads what requests re-read every few seconds
    assert store.current(db_session) is timetable


def test_preparing_without_a_migrated_database_is_logged_not_fatal(
        tmp_path: object, caplog: pytest.LogCaptureFixture) -> None:
    from maas.app import create_app

    app = create_app({"env": "test", "home": tmp_path})  # never migrated
    prepare_workers(app)
    prepare_worker(app)
    assert "not prepared" in caplog.text
    app.extensions["maas"].engine.dispose()
